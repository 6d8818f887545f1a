"""The one place that wires CloudBay: settings → event store, read models, followers, auth, sessions."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from adapters.auth import AuthSettings, SigningKey, TokenIssuer, TokenVerifier
from adapters.http.live import LiveHub
from adapters.ocpp.endpoint import SessionRegistry
from adapters.ocpp.station import DataTransferHandler
from projections.db import ReadModelDB
from projections.energy import EnergyQueries
from projections.fleet import FleetQueries
from projections.catalog import all_projections
from projections.follower import Follower
from projections.id_tokens import IdTokenQueries
from projections.transactions import TransactionQueries, TransactionsProjection
from services.platform import CloudBay
from adapters.settings import Settings
from adapters.storage import ensure_database

log = logging.getLogger("cloudbay")

T = TypeVar("T")
STORE_WORKERS = 8




def build_app(settings: Settings) -> CloudBay:
    """The event-sourced application on the configured store (creating the database if needed)."""
    ensure_database(settings.store)
    return CloudBay(env=settings.store.event_store_env())


class Runtime:
    """Everything a running node holds. Built in the ASGI lifespan (or by a CLI command)."""

    def __init__(self, settings: Settings, *, start_followers: bool = True, projections_here: bool = True) -> None:
        """``projections_here=False``: the read models are kept by a ``cloudbay project`` process."""
        self.settings = settings
        self.app = build_app(settings)
        self.db = ReadModelDB(settings.store)
        self.followers = {p.name: Follower(self.app, self.db, p, applies=projections_here) for p in all_projections(self.app)}
        self.fleet = FleetQueries(self.db)
        self.transactions = TransactionQueries(self.db)
        self.energy = EnergyQueries(self.db)
        self.live = LiveHub(self.transactions)
        self.followers[TransactionsProjection.name].subscribe(self.live.publish)
        self.id_tokens = IdTokenQueries(self.db)
        self.signing_key = SigningKey.load_or_create(settings.signing_key_path)
        self.auth_settings = AuthSettings(
            issuer=settings.oauth_issuer, audience=settings.oauth_audience, jwks_url=settings.oauth_jwks_url
        )
        self.issuer = TokenIssuer(self.signing_key, self.auth_settings)
        self.verifier = TokenVerifier(self.auth_settings, self.signing_key)
        self.sessions = SessionRegistry()
        self.data_transfer_handlers: dict[str, DataTransferHandler] = {}
        self._executor = ThreadPoolExecutor(max_workers=STORE_WORKERS, thread_name_prefix="store")
        if start_followers:
            for follower in self.followers.values():
                follower.start()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call off the event loop, in the store's worker threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def head_position(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def wait_for_read_models(self, position: int | None = None, timeout: float = 5.0) -> bool:
        position = self.head_position() if position is None else position
        return all(f.wait_for(position, timeout) for f in self.followers.values())

    def close(self) -> None:
        for follower in self.followers.values():
            follower.stop()
        self._executor.shutdown(wait=True, cancel_futures=False)
        self.db.close()
        self.app.close()
