"""The application layer assembled: one event log, the small services that use it, the port to chargers."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import secrets
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

from eventsourcing.persistence import IntegrityError

from cloudbay_domain.ownership import Ownership
from services.certificates import Certificates, CertificateSigner
from services.charger_sync import ChargerSync
from services.chargers import Chargers
from services.download_links import DownloadLinks
from services.errors import ConcurrentUpdate, ServiceError
from services.firmware import Firmware
from services.firmware_channels import ChargerFinder, FirmwareChannels, NoChargers
from services.firmware_images import FirmwareImages
from services.firmware_publish import Publications
from services.group_commit import Committed
from services.guests import Guests
from services.id_tokens import IdTokens
from services.load_management import LoadManager
from services.local_lists import LocalLists, Members
from services.ports import ChargerLink, NoLink
from services.remote import RemoteControl
from services.rollout_dispatch import RolloutDispatcher
from services.rollout_revert import NoRevertSource, Reinstall, RevertSource
from services.rollouts import NoProgress, NoTargets, RolloutProgress, Rollouts, TargetSource
from services.schedules import Schedules
from services.scheduling import Scheduling
from services.security import Security
from services.sites import Sites
from services.store import MAX_CONFLICT_RETRIES, Deferred, EventLog, NeedsStore, RetryWhole
from services.transactions import Transactions
from services.users import Users
from services.webhooks import Webhooks

T = TypeVar("T")


class StoreUnavailable(ServiceError):
    """The store did not answer within the bounded wait. The call may still complete in its thread (a store
    call keeps its own consistency: it commits whole or not at all); the caller only stopped waiting."""


def _run_for(
    loop: asyncio.AbstractEventLoop,
    answer: asyncio.Future[T],
    context: contextvars.Context,
    fn: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """In a store thread: run ``fn`` and hand its outcome to ``answer`` on the loop (unless nobody waits). Not run
    if its caller stopped waiting before a thread took it (timed out, cancelled): in a flood of calls (a boot
    storm) the threads would spend themselves on calls nobody waits for, and the others time out in turn."""
    if answer.done():
        return
    try:
        result = context.run(fn, *args, **kwargs)
    except BaseException as e:  # the caller gets it; a failure nobody awaits anymore is dropped with it
        outcome: Callable[[], Any] = functools.partial(_settle, answer, None, e)
    else:
        outcome = functools.partial(_settle, answer, result, None)
    try:
        loop.call_soon_threadsafe(outcome)
    except RuntimeError:  # the loop is closed: nobody waits
        pass


def _settle(answer: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    if answer.done():  # timed out or cancelled meanwhile
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(result)  # type: ignore[arg-type]


def _give_up(answer: asyncio.Future[Any], fn: Callable[..., Any], timeout: float) -> None:
    if not answer.done():
        name = getattr(fn, "__qualname__", "a store call")
        answer.set_exception(StoreUnavailable(f"the store did not answer {name} within {timeout:g} s"))


class _DeferredCall:
    """One call run with its first save deferred (``EventLog.deferring``): its thread is free as soon as the
    call has decided; the commit's outcome, seen in the writer thread, settles the answer on the loop, or runs
    the call again after a lost race."""

    def __init__(
        self,
        log: EventLog,
        executor: Executor,
        loop: asyncio.AbstractEventLoop,
        answer: asyncio.Future[Any],
        context: contextvars.Context,
        call: Callable[[], Any],
    ) -> None:
        self.log, self.executor, self.loop, self.answer, self.context, self.call = (
            log,
            executor,
            loop,
            answer,
            context,
            call,
        )
        self.tries = 0

    def start(self) -> None:
        self.executor.submit(self._run)

    def start_inline(self) -> None:
        """Run the call here, on the event loop, when it reads nothing from the store (what it changes was kept
        by this process): no store thread is involved until its commit. Otherwise in a store thread."""
        try:
            result, deferred = self.context.run(self.log.inline, self.call)
        except NeedsStore:
            self.start()
            return
        except RetryWhole:
            self._again()
            return
        except BaseException as e:
            self.answer.set_exception(e)
            return
        self._decided(result, deferred)

    def _settle(self, result: Any, error: BaseException | None) -> None:
        try:
            self.loop.call_soon_threadsafe(_settle, self.answer, result, error)
        except RuntimeError:  # the loop is closed: nobody waits
            pass

    def _again(self) -> None:
        self.tries += 1
        if self.tries >= MAX_CONFLICT_RETRIES:
            self._settle(None, ConcurrentUpdate("what this call changes kept changing; try again"))
        elif not self.answer.done():  # nobody waits anymore: the call is not run again
            self.start()

    def _run(self) -> None:
        try:
            # after a lost race every read is from the store: a kept copy or a guess may be why it was lost
            result, deferred = self.context.run(self.log.deferring, self.call, self.tries > 0)
        except RetryWhole:
            self._again()
            return
        except BaseException as e:
            self._settle(None, e)
            return
        self._decided(result, deferred)

    def _decided(self, result: Any, deferred: Deferred) -> None:
        if deferred.pending is None or deferred.waited:
            self._settle(result, None)
            return
        deferred.pending[0].add_done_callback(functools.partial(self._committed, result, deferred))

    def _committed(self, result: Any, deferred: Deferred, done: Committed) -> None:
        error = done.exception()
        if error is None:
            self.log.settled(deferred)  # before the answer: the charger's next message finds what was saved
            self._settle(result, None)
        elif isinstance(error, IntegrityError):
            self._again()
        else:
            self._settle(None, error)


async def _within(
    loop: asyncio.AbstractEventLoop, answer: asyncio.Future[T], fn: Callable[..., Any], timeout: float | None
) -> T:
    """``answer``, waited for at most ``timeout`` seconds (then ``StoreUnavailable``); None: as long as it takes."""
    if timeout is None:
        return await answer
    timer = loop.call_later(timeout, _give_up, answer, fn, timeout)
    try:
        return await answer
    finally:
        timer.cancel()


_DEFAULT: list[Executor] = []


def _default_executor() -> Executor:
    """For a platform built without its own executor (tests, CLI): one shared pool, made on first use."""
    if not _DEFAULT:
        _DEFAULT.append(ThreadPoolExecutor(max_workers=8, thread_name_prefix="store-default"))
    return _DEFAULT[0]


class Platform:
    """What adapters call. Blocking store calls run in ``executor`` when called through ``run``."""

    def __init__(
        self,
        log: EventLog,
        link: ChargerLink | None = None,
        executor: Executor | None = None,
        timeout: float | None = None,
        signer: CertificateSigner | None = None,
        targets: TargetSource | None = None,
        progress: RolloutProgress | None = None,
        finder: ChargerFinder | None = None,
        images: FirmwareImages | None = None,
        links: DownloadLinks | None = None,
        revert: RevertSource | None = None,
        quote_key: bytes | None = None,
    ) -> None:
        self.log = log
        self.executor = executor
        self.timeout = timeout  # the bounded wait of ``run`` (None: wait as long as the store takes)
        self.link: ChargerLink = link or NoLink()
        self.chargers = Chargers(log)
        self.users = Users(log)
        self.id_tokens = IdTokens(log)
        self.transactions = Transactions(log, self.chargers, self.id_tokens)
        self.remote = RemoteControl(self.chargers, self.id_tokens, self.transactions, self.link, self.run)
        self.webhooks = Webhooks(log)
        self.security = Security(log, self.chargers)
        self.members: Members = self.charger_members  # a charger's members and their roles
        self.local_lists = LocalLists(log, self.id_tokens, lambda station_id: self.members(station_id))
        self.sync = ChargerSync(self.chargers, self.local_lists, self.link, self.run)
        self.certificates = Certificates(log, signer, self.link, self.run)  # the PKI (``signer``: its keys)
        self.guests = Guests(log, self.id_tokens, self.certificates, self.local_lists.members)
        self.firmware = Firmware(log, self.link, self.run)  # each family's stable firmware; the step to ready
        self.scheduling = Scheduling(log, self.chargers)  # tariffs, price series, schedule quotes
        # accepted quotes as charging profiles; ``quote_key`` signs quote ids (default: this process's own)
        key = quote_key or secrets.token_bytes(32)
        self.schedules = Schedules(log, self.chargers, self.scheduling, self.link, self.run, key)
        self.sites = Sites(log, self.chargers)  # sites and circuits; their load management:
        self.load = LoadManager(self.sites, self.chargers, self.link, self.run)
        self.scheduling.site_cap = self.sites.guaranteed_power_w  # plans respect the circuits' limits
        # firmware rollout campaigns: their targets from the fleet, their counts from the progress read model
        self.firmware_channels = FirmwareChannels(log, finder or NoChargers())  # who follows which channel
        self.firmware_images = images or FirmwareImages(log)  # uploaded, signed images; ``links``: their URLs
        self.rollouts = Rollouts(log, targets or NoTargets(), self.firmware_images, links)
        self.rollout_dispatcher = RolloutDispatcher(self.rollouts, self.link, self.run, progress or NoProgress())
        self.publications = Publications(log, self.link, self.run, self.firmware_images, links)  # L03/L04
        self.reinstall = Reinstall(self.rollouts, revert or NoRevertSource())  # the old image after a roll-back

    def charger_members(self, station_id: str) -> dict[str, str]:
        """The charger's members now: subject -> role (``owner``, ``co-owner``, ``guest``)."""
        ownership: Ownership | None = self.log.load_or_none(Ownership.create_id(station_id))
        return {who: member.role.value for who, member in ownership.members.items()} if ownership else {}

    def members_changed(self, station_id: str) -> None:
        """After a committed change of a charger's members (a listener of the ownership service; any thread):
        guests who left lose their pass, and the charger's local list follows (now, or at its next boot)."""
        self.guests.revoke_departed(station_id)
        self.sync.push_local_list([station_id])

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Platform:
        """The services on a store chosen by the event-sourcing library's settings (tests: memory)."""
        return cls(EventLog(env=env))

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call off the event loop, in the store's worker threads, waiting at most
        ``timeout`` seconds for it (then ``StoreUnavailable``; the call itself is not interrupted)."""
        return await self.run_within(self.timeout, fn, *args, **kwargs)

    async def run_within(self, timeout: float | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # One loop future resolved from the store thread, one timer: the cheapest bridge between the event loop
        # and a worker thread (run_in_executor + shield + wait_for cost a third of a charger message's CPU).
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[T] = loop.create_future()
        # in the caller's context: a store thread's log lines carry the caller's correlation fields
        context = contextvars.copy_context()
        (self.executor or _default_executor()).submit(_run_for, loop, answer, context, fn, args, kwargs)
        return await _within(loop, answer, fn, timeout)

    async def run_deferred(self, fn: Callable[..., T], *args: Any) -> T:
        """``run`` for a call whose only effects are its saves (a charger's report, say): its thread does not
        wait for the group commit, so the store threads do not bound how many saves share one. The answer still
        comes only once the save is committed; a lost race runs the whole call again."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[T] = loop.create_future()
        call = functools.partial(fn, *args)
        executor = self.executor or _default_executor()
        _DeferredCall(self.log, executor, loop, answer, contextvars.copy_context(), call).start_inline()
        return await _within(loop, answer, fn, self.timeout)

    def close(self) -> None:
        self.log.close()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
