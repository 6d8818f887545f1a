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
from services.id_tokens import IdTokens
from services.ports import ChargerLink, NoLink
from services.remote import RemoteControl
from services.store import EventLog
from services.transactions import Transactions
from services.users import Users
from services.webhooks import Webhooks

T = TypeVar("T")


class Platform:
    """What adapters call. Blocking store calls run in ``executor`` when called through ``run``."""

    def __init__(self, log: EventLog, link: ChargerLink | None = None, executor: Executor | None = None) -> None:
        self.log = log
        self.executor = executor
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
        """Run a blocking store call off the event loop, in the store's worker threads."""
        loop = asyncio.get_running_loop()
        # in the caller's context: a store thread's log lines carry the caller's correlation fields
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await loop.run_in_executor(self.executor, call)

    def close(self) -> None:
        self.log.close()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
