"""The application layer assembled: one event log, the small services that use it, the port to chargers."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

from services.certificates import Certificates, CertificateSigner
from services.charger_sync import ChargerSync
from services.chargers import Chargers
from services.errors import ServiceError
from services.firmware import Firmware
from services.id_tokens import IdTokens
from services.ports import ChargerLink, NoLink
from services.remote import RemoteControl
from services.rollout_dispatch import RolloutDispatcher
from services.rollouts import NoProgress, NoTargets, RolloutProgress, Rollouts, TargetSource
from services.security import Security
from services.store import EventLog
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
    """In a store thread: run ``fn`` and hand its outcome to ``answer`` on the loop (unless nobody waits)."""
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
        self.sync = ChargerSync(self.chargers, self.id_tokens, self.link, self.run)
        self.certificates = Certificates(log, signer, self.link, self.run)  # the PKI (``signer``: its keys)
        self.firmware = Firmware(log, self.link, self.run)  # each family's stable firmware; the step to ready
        # firmware rollout campaigns: their targets from the fleet, their counts from the progress read model
        self.rollouts = Rollouts(log, targets or NoTargets())
        self.rollout_dispatcher = RolloutDispatcher(self.rollouts, self.link, self.run, progress or NoProgress())

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
        if timeout is None:
            return await answer
        timer = loop.call_later(timeout, _give_up, answer, fn, timeout)
        try:
            return await answer
        finally:
            timer.cancel()

    def close(self) -> None:
        self.log.close()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
