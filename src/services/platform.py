"""The application layer assembled: one event log, the small services that use it, the port to chargers."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from services.charger_sync import ChargerSync
from services.chargers import Chargers
from services.errors import ServiceError
from services.id_tokens import IdTokens
from services.ports import ChargerLink, NoLink
from services.remote import RemoteControl
from services.store import EventLog
from services.transactions import Transactions
from services.users import Users
from services.webhooks import Webhooks

T = TypeVar("T")


class StoreUnavailable(ServiceError):
    """The store did not answer within the bounded wait. The call may still complete in its thread (a store
    call keeps its own consistency: it commits whole or not at all); the caller only stopped waiting."""


class Platform:
    """What adapters call. Blocking store calls run in ``executor`` when called through ``run``."""

    def __init__(
        self,
        log: EventLog,
        link: ChargerLink | None = None,
        executor: Executor | None = None,
        timeout: float | None = None,
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
        self.sync = ChargerSync(self.chargers, self.id_tokens, self.link, self.run)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Platform:
        """The services on a store chosen by the event-sourcing library's settings (tests: memory)."""
        return cls(EventLog(env=env))

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call off the event loop, in the store's worker threads, waiting at most
        ``timeout`` seconds for it (then ``StoreUnavailable``; the call itself is not interrupted)."""
        return await self.run_within(self.timeout, fn, *args, **kwargs)

    async def run_within(self, timeout: float | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        # in the caller's context: a store thread's log lines carry the caller's correlation fields
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        future = loop.run_in_executor(self.executor, call)
        if timeout is None:
            return await future
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            name = getattr(fn, "__qualname__", "a store call")
            raise StoreUnavailable(f"the store did not answer {name} within {timeout:g} s") from None

    def close(self) -> None:
        self.log.close()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
