"""The webhook delivery worker: posts the due outbox rows, signed, and records each outcome.

It runs where the read models are kept (``cloudbay project``, or the serving process with inline projections).
Each attempt is one POST of the stored payload with bounded timeouts (connect, write and each read at most
``timeout_seconds``; the answer's body is never read), no redirects followed, and only to addresses the
destination rule allows, checked right before connecting (``destinations``). A 2xx marks the row delivered;
anything else (another status, a timeout, a refused connection) is retried after ``backoff_seconds`` doubled
per attempt (capped at ``max_backoff_seconds``), and after ``max_attempts`` the row is dead: a dead letter an
operator can read and replay. A row is leased while it is being sent, so a worker that dies mid-way leaves it
to be retried, never lost (receivers deduplicate by ``X-CloudBay-Delivery``).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from adapters.settings import Settings
from adapters.webhooks.destinations import Destinations
from adapters.webhooks.keys import WebhookKey, key_path
from cloudbay_domain.webhook import sign
from projections.db import ReadModelDB
from projections.webhook_outbox import WebhookOutbox

log = logging.getLogger("cloudbay.webhooks")

USER_AGENT = "CloudBay-Webhooks/1"


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 8
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 300.0
    timeout_seconds: float = 5.0
    poll_seconds: float = 0.5
    concurrency: int = 4

    def retry_delay(self, attempts: int) -> float:
        """How long to wait after the ``attempts``-th failed attempt: 1 s, 2 s, 4 s, ... capped."""
        return float(min(self.backoff_seconds * 2 ** (attempts - 1), self.max_backoff_seconds))

    @property
    def lease_seconds(self) -> float:
        """Longer than any one attempt can take (connect, write, read each bounded)."""
        return 3 * self.timeout_seconds + 5


def signed_headers(secret: str, row: dict[str, Any], body: bytes, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-CloudBay-Event": row["event_type"],
        "X-CloudBay-Delivery": row["delivery_id"],
        "X-CloudBay-Timestamp": str(timestamp),
        "X-CloudBay-Signature": sign(secret, timestamp, body),
    }


class DeliveryWorker:
    """A thread that delivers the outbox until stopped."""

    def __init__(
        self, db: ReadModelDB, key: WebhookKey, policy: DeliveryPolicy | None = None, guard: Destinations | None = None
    ) -> None:
        self.outbox = WebhookOutbox(db)
        self.key = key
        self.policy = policy or DeliveryPolicy()
        transport = (guard or Destinations(allow_private=False)).transport()
        timeout = httpx.Timeout(self.policy.timeout_seconds)
        self._client = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)
        self._pool = ThreadPoolExecutor(max_workers=self.policy.concurrency, thread_name_prefix="webhook-post")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-delivery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop claiming rows and wait a little for the attempts in flight. One still unanswered then is
        abandoned: its row stays leased and is attempted again once the lease ends (never lost)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.policy.timeout_seconds + 1)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if not self._thread.is_alive():
            self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            claimed = 0
            try:
                claimed = self.deliver_due()
            except Exception:  # the read-model database is away: try again at the next poll
                log.exception("webhook delivery failed; retrying")
            if not claimed:
                self._stop.wait(self.policy.poll_seconds)

    def deliver_due(self) -> int:
        """Claim the due rows and attempt each once (concurrently); how many were claimed."""
        rows = self.outbox.claim_due(datetime.now(UTC), self.policy.lease_seconds, limit=4 * self.policy.concurrency)
        for _ in self._pool.map(self.attempt, rows):
            pass
        return len(rows)

    def attempt(self, row: dict[str, Any]) -> None:
        body = row["payload"].encode("utf-8")
        headers = signed_headers(self.key.secret_for(row["subscription_id"]), row, body, int(time.time()))
        attempts = row["attempts"] + 1
        try:
            with self._client.stream("POST", row["url"], content=body, headers=headers) as answer:
                status = answer.status_code  # the body is not read: a slow or huge answer costs nothing
        except httpx.HTTPError as e:
            self._failed(row, attempts, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
            return
        if 200 <= status < 300:
            self.outbox.record_delivered(row["delivery_id"], attempts, datetime.now(UTC))
        else:
            self._failed(row, attempts, f"HTTP {status}")

    def _failed(self, row: dict[str, Any], attempts: int, error: str) -> None:
        now = datetime.now(UTC)
        dead = attempts >= self.policy.max_attempts
        retry_at = None if dead else now + timedelta(seconds=self.policy.retry_delay(attempts))
        self.outbox.record_failed(row["delivery_id"], attempts, now, error, retry_at)
        level = logging.WARNING if dead else logging.INFO
        log.log(
            level,
            "webhook %s to %s: attempt %d failed (%s)%s",
            row["delivery_id"],
            row["url"],
            attempts,
            error,
            "; dead" if dead else "",
        )


def delivery_worker(
    settings: Settings, db: ReadModelDB, key: WebhookKey | None = None, destinations: Destinations | None = None
) -> DeliveryWorker:
    """The worker as the settings configure it (the master key in the data directory)."""
    policy = DeliveryPolicy(
        max_attempts=settings.webhook_max_attempts,
        backoff_seconds=settings.webhook_backoff_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
        poll_seconds=min(0.5, settings.webhook_backoff_seconds),
    )
    key = key or WebhookKey.load_or_create(key_path(settings.data_dir))
    return DeliveryWorker(db, key, policy, destinations or Destinations(settings.webhook_allow_private))
