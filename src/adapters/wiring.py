"""The one place that wires CloudBay: settings → event log, services, charger link, read models, auth."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from adapters.auth import AuthSettings, SigningKey, TokenIssuer, TokenVerifier
from adapters.current_users import CurrentUsers
from adapters.firmware_wiring import download_links, firmware_images
from adapters.http.health import BoundedStatus
from adapters.http.live_hub import LiveHub
from adapters.http.rollout_hub import RolloutHub
from adapters.mail import mail_sender
from adapters.manufacturing import CodeHashes, ManufacturingKeys
from adapters.metrics import Metrics, store_reader
from adapters.ocpp.forwarded import Forwarding
from adapters.ocpp.link import SessionLink
from adapters.ocpp.login_limits import LoginLimits
from adapters.ocpp.rpc_limits import Limits
from adapters.ocpp.station import DataTransferHandler
from adapters.pki.authority import FileAuthority
from adapters.presence import NodePresence
from adapters.rollout_targets import FleetTargets
from adapters.settings import Settings
from adapters.station_passwords import PasswordChecker
from adapters.storage import ensure_database
from adapters.webhooks.delivery import DeliveryWorker, delivery_worker
from adapters.webhooks.destinations import Destinations
from adapters.webhooks.keys import WebhookKey, key_path
from cloudbay_domain.mac import MacBlock
from projections.catalog import all_projections
from projections.db import ReadModelDB
from projections.energy import EnergyQueries
from projections.firmware_images import FirmwareImageQueries
from projections.fleet import FleetQueries
from projections.follower import Follower
from projections.id_tokens import IdTokenQueries
from projections.members import MemberQueries
from projections.production import ProductionQueries
from projections.rollout_queries import RolloutQueries
from projections.rollouts import RolloutsProjection
from projections.security_events import SecurityEventQueries
from projections.transactions import TransactionQueries, TransactionsProjection
from projections.users import UserQueries
from projections.webhook_outbox import WebhookOutbox
from services.batches import Batches
from services.ownership import Ownerships
from services.pairing import PairingLimits
from services.pipeline import Pipeline
from services.platform import Platform
from services.store import EventLog

log = logging.getLogger("cloudbay")

ADMISSIONS = 1000  # a boot storm waits in the event loop, not behind the store (its calls answer within the timeout)
STORE_WORKERS = 16  # threads blocked on a group commit hold no connection: more saves share a batch
CLOSE_TIMEOUT = 2.0
T = TypeVar("T")


def build_log(settings: Settings) -> EventLog:
    """The event log on the configured store (creating the database if needed)."""
    ensure_database(settings.store)
    return EventLog(env=settings.store.event_store_env())


def build_platform(settings: Settings) -> Platform:
    """The services on the configured store, for processes that hold no charger connections (CLI, tests)."""
    return Platform(build_log(settings), signer=FileAuthority(settings.pki))


def build_manufacturing(settings: Settings, log: EventLog) -> tuple[Batches, Pipeline]:
    """The production services: batches (with the configured MAC block) and the pipeline, over ``log``."""
    keys, hashes = ManufacturingKeys.load_or_create(settings.manufacturing_key_path), CodeHashes()
    block = MacBlock.parse(settings.mac_block) if settings.mac_block else None
    return Batches(log, keys, hashes, block), Pipeline(log, keys, hashes)


class Runtime:
    """Everything a running node holds. Built in the ASGI lifespan (or by a CLI command)."""

    def __init__(self, settings: Settings, *, start_followers: bool = True, projections_here: bool = True) -> None:
        """``projections_here=False``: the read models are kept by a ``cloudbay project`` process."""
        self.settings = settings
        self.log = build_log(settings)
        self.link = SessionLink(settings.ocpp_call_timeout)
        self.admissions = asyncio.Semaphore(ADMISSIONS)  # connections admitted at once (adapters/ocpp/endpoint.py)
        self.ocpp_limits = Limits(
            max_frame=settings.ocpp_max_frame,
            max_samples=settings.ocpp_max_samples,
            max_stored_payload=settings.ocpp_max_stored_payload,
        )
        self._executor = ThreadPoolExecutor(max_workers=STORE_WORKERS, thread_name_prefix="store")
        self.authority = FileAuthority(settings.pki)
        self.db = ReadModelDB(settings.store)
        self.rollout_queries = RolloutQueries(self.db)  # firmware rollout campaigns' progress (docs/firmware.md)
        self.firmware_image_queries = FirmwareImageQueries(self.db)  # the uploaded images, for their list
        self.signing_key = SigningKey.load_or_create(settings.signing_key_path)  # also signs quote ids
        self.platform = Platform(
            self.log, self.link, self._executor, timeout=settings.store_timeout, signer=self.authority,
            targets=FleetTargets(self.db), progress=self.rollout_queries, finder=FleetTargets(self.db),
            images=firmware_images(settings, self.log, self.authority), links=download_links(settings),
            revert=self.rollout_queries, quote_key=self.signing_key.secret(),
        )  # fmt: skip
        projections = all_projections(self.log)
        self.followers = {p.name: Follower(self.log, self.db, p, applies=projections_here) for p in projections}
        self.fleet = FleetQueries(self.db)
        self.transactions = TransactionQueries(self.db)
        self.energy = EnergyQueries(self.db)
        self.id_tokens = IdTokenQueries(self.db)
        self.batches, self.pipeline = build_manufacturing(settings, self.log)
        self.production = ProductionQueries(self.db)
        self.security_events = SecurityEventQueries(self.db)
        limits = PairingLimits(settings.pairing_max_failures, settings.pairing_lock_seconds)
        self.ownerships = Ownerships(self.log, CodeHashes(), limits)  # add_listener: changes of members
        self.ownerships.add_listener(self.platform.members_changed)  # local lists and guest passes follow
        self.members = MemberQueries(self.db)
        self.mail = mail_sender(settings.smtp_url, settings.mail_from, settings.data_dir / "outbox", settings.smtp_ca)
        self.logins, self.passwords = LoginLimits(), PasswordChecker()  # adapters/ocpp/admission.py
        self.forwarding = Forwarding(settings.trusted_proxies, settings.tls_client_ca)
        self.live = LiveHub(self.transactions)
        live = self.live
        self.followers[TransactionsProjection.name].subscribe(live.publish, wanted=lambda: live.watched() > 0)
        self.live_rollouts = rollouts_live = RolloutHub()  # the live feed of campaigns' progress
        self.followers[RolloutsProjection.name].subscribe(
            rollouts_live.publish, wanted=lambda: rollouts_live.watched() > 0
        )
        self.auth_settings = AuthSettings(
            issuer=settings.oauth_issuer, audience=settings.oauth_audience, jwks_url=settings.oauth_jwks_url
        )
        self.issuer = TokenIssuer(self.signing_key, self.auth_settings)
        self.verifier = TokenVerifier(self.auth_settings, self.signing_key)
        self.current_users = CurrentUsers(self.platform.users, settings.user_cache_seconds)
        self.users = UserQueries(self.db)
        self.data_transfer_handlers: dict[str, DataTransferHandler] = {}
        store = store_reader(self.head_position, self.db, self.followers)
        self.readiness = BoundedStatus(self.status)
        # started by the serving lifespan only (adapters/http/app.py): a CLI command holds no sessions
        self.projector_alive: Callable[[], bool] | None = None  # set by `serve` when its child keeps the models
        self.presence = NodePresence(self.db, self.platform.chargers, settings.node, settings.node_lease_seconds)
        self.metrics = Metrics(lambda: len(self.link.sessions), store)
        self.log.committer.observer = self.metrics.observe_commit
        self.link.observer = self.metrics.observe_csms_call
        self.webhook_key = WebhookKey.load_or_create(key_path(settings.data_dir))
        self.destinations = Destinations(settings.webhook_allow_private)  # where webhooks may be sent
        self.webhook_outbox = WebhookOutbox(self.db)
        self.webhook_delivery: DeliveryWorker | None = None  # delivers where the outbox projection is kept
        if start_followers:
            for follower in self.followers.values():
                follower.start()
            if projections_here:
                self.webhook_delivery = delivery_worker(settings, self.db, self.webhook_key, self.destinations)
                self.webhook_delivery.start()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking call (a store command, a read-model query) off the event loop."""
        return await self.platform.run(fn, *args, **kwargs)

    async def readiness_read(self) -> dict[str, Any]:
        """The stores' status for /readyz, waited for at most 1.5 s (adapters/http/health.py)."""
        return await asyncio.to_thread(self.readiness.read)

    def projector_state(self) -> str:
        """inline (read models kept here), up or down (serve's `cloudbay project` child), elsewhere."""
        if self.settings.projections == "inline":
            return "inline"
        if self.projector_alive is None:
            return "elsewhere"
        return "up" if self.projector_alive() else "down"

    def status(self) -> dict[str, Any]:
        head = self.head_position()
        self.db.ping()
        models = {}
        for name, follower in self.followers.items():
            position = follower.position()
            models[name] = {"position": position, "lag": max(0, head - position), "failure": follower.failure}
        return {"event_store_position": head, "read_models": models}

    def head_position(self) -> int:
        return self.log.recorder.max_notification_id() or 0

    def wait_for_read_models(self, position: int | None = None, timeout: float = 5.0) -> bool:
        position = self.head_position() if position is None else position
        return all(f.wait_for(position, timeout) for f in self.followers.values())

    def close(self) -> None:
        self.metrics.close()
        self.presence.stop()
        self.readiness.close()
        if self.webhook_delivery is not None:
            self.webhook_delivery.stop()
        for follower in self.followers.values():
            follower.stop(timeout=0)  # all asked first, then each joined within what is left of the bound
        deadline = time.monotonic() + CLOSE_TIMEOUT
        for follower in self.followers.values():
            follower.stop(timeout=max(0.0, deadline - time.monotonic()))
        # store calls still waiting on an unreachable database are not awaited: they were answered (with an
        # error) already, and a store call commits whole or not at all; closing the pools is bounded too
        self._executor.shutdown(wait=False, cancel_futures=True)
        closing = threading.Thread(target=self._close_stores, name="close-stores", daemon=True)
        closing.start()
        closing.join(CLOSE_TIMEOUT)
        if closing.is_alive():
            log.error("the stores did not close within %.0f s (database unreachable?); exiting anyway", CLOSE_TIMEOUT)

    def _close_stores(self) -> None:
        for close in (self.db.close, self.log.close):
            try:
                close()
            except Exception as e:
                log.warning("closing a store failed: %s: %s", type(e).__name__, e)
