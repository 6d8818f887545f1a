"""The webhook outbox: one delivery row per (event, matching active subscription), fed from the event log.

Rows are written in the same read-model transaction as the projection's tracked position, so a restart loses
no delivery and enqueues none twice. A row's id is derived from the subscription and the event (originator id
and version), so re-applying an event (a rebuild) finds the row already there. The delivery table is the record
of what was sent: a rebuild (``reset``) drops the subscriptions and the station map, which are rebuilt from the
log, but keeps the deliveries, so ``cloudbay replay`` re-sends nothing. The delivery worker
(``adapters.webhooks.delivery``) claims due rows, posts them and records the outcome here (``WebhookOutbox``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import singledispatchmethod
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from cloudbay_domain import webhook as hooks
from cloudbay_domain.charger import Charger
from cloudbay_domain.transaction import Transaction
from cloudbay_domain.webhook import WebhookSubscription
from projections.batch import Pending
from projections.db import ReadModelDB, Tx

TRANSACTION_TYPES = {
    "Started": hooks.TRANSACTION_STARTED,
    "Updated": hooks.TRANSACTION_UPDATED,
    "Ended": hooks.TRANSACTION_ENDED,
}
DELIVERY_COLUMNS = (
    "d.delivery_id, d.subscription_id, d.event_type, d.position, d.status, d.attempts, d.next_attempt_at,"
    " d.last_attempt_at, d.last_error, d.created_at, d.delivered_at"
)


def stamp(moment: datetime) -> str:
    """A UTC time in one fixed-width format, so the text columns sort as the times do."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def delivery_id(subscription_id: str, event: Aggregate.Event) -> str:
    return str(uuid5(UUID(subscription_id), f"{event.originator_id}:{event.originator_version}"))


class WebhookOutboxProjection:
    """Keeps the active subscriptions and a station map (charger and transaction ids → station, transaction
    id), and enqueues one delivery per matching subscription for each event webhooks are offered for."""

    name = "webhook_outbox"

    def __init__(self) -> None:
        self._active_tx: Tx | None = None
        self._active_rows: list[tuple[str, list[str]]] = []
        # the station map's new rows of a batch (aggregate id -> station, transaction id), written at its flush
        self._sources: Pending[dict[str, tuple[str, str | None]]] = Pending(dict)

    def create_tables(self, tx: Tx) -> None:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_webhook_subscriptions (subscription_id TEXT PRIMARY KEY,"
            " url TEXT NOT NULL, events TEXT NOT NULL, created_by TEXT NOT NULL, created_at TEXT NOT NULL)"
        )
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_webhook_sources (aggregate_id TEXT PRIMARY KEY,"
            " station_id TEXT NOT NULL, transaction_id TEXT)"
        )
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_webhook_deliveries (delivery_id TEXT PRIMARY KEY,"
            " subscription_id TEXT NOT NULL, event_type TEXT NOT NULL, payload TEXT NOT NULL,"
            " position BIGINT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
            " next_attempt_at TEXT NOT NULL, last_attempt_at TEXT, last_error TEXT, created_at TEXT NOT NULL,"
            " delivered_at TEXT, replayed_position BIGINT NOT NULL DEFAULT 0)"
        )
        tx.execute(
            "CREATE INDEX IF NOT EXISTS rm_webhook_deliveries_due ON rm_webhook_deliveries (status, next_attempt_at)"
        )
        tx.execute(
            "CREATE INDEX IF NOT EXISTS rm_webhook_deliveries_subscription"
            " ON rm_webhook_deliveries (subscription_id, status, position)"
        )

    def drop_tables(self, tx: Tx) -> None:
        tx.execute("DROP TABLE IF EXISTS rm_webhook_subscriptions")
        tx.execute("DROP TABLE IF EXISTS rm_webhook_sources")  # the deliveries stay: see the module docstring

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx, position: int) -> None:
        """Other events are offered to no subscriber."""

    @apply.register
    def _(self, event: WebhookSubscription.Created, tx: Tx, position: int) -> None:
        tx.execute(
            "INSERT INTO rm_webhook_subscriptions (subscription_id, url, events, created_by, created_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (subscription_id) DO NOTHING",
            (str(event.originator_id), event.url, json.dumps(event.events), event.created_by, stamp(event.timestamp)),
        )
        self._active_tx = None

    @apply.register
    def _(self, event: WebhookSubscription.Removed, tx: Tx, position: int) -> None:
        tx.execute("DELETE FROM rm_webhook_subscriptions WHERE subscription_id = %s", (str(event.originator_id),))
        self._active_tx = None

    @apply.register
    def _(self, event: WebhookSubscription.DeliveryReplayRequested, tx: Tx, position: int) -> None:
        tx.execute(
            "UPDATE rm_webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = %s,"
            " last_error = NULL, replayed_position = %s"
            " WHERE delivery_id = %s AND subscription_id = %s AND status = 'dead' AND replayed_position < %s",
            (stamp(event.timestamp), position, event.delivery_id, str(event.originator_id), position),
        )

    @apply.register
    def _(self, event: Charger.Whitelisted, tx: Tx, position: int) -> None:
        self._source(tx, event, event.station_id, None)

    @apply.register
    def _(self, event: Transaction.Opened, tx: Tx, position: int) -> None:
        self._source(tx, event, event.station_id, event.transaction_id)

    @apply.register
    def _(self, event: Transaction.Reported, tx: Tx, position: int) -> None:
        event_type = TRANSACTION_TYPES[event.event_type]
        if not self._subscribers(tx, event_type):
            return
        facts = {
            "seq_no": event.seq_no,
            "event_type": event.event_type,
            "occurred_at": event.occurred_at.isoformat(),
            "trigger_reason": event.trigger_reason,
            "offline": event.offline,
            "charging_state": event.charging_state,
            "stopped_reason": event.stopped_reason,
            "remote_start_id": event.remote_start_id,
            "id_token": event.id_token,
        }
        self._enqueue(tx, event, position, event_type, facts)

    @apply.register
    def _(self, event: Charger.Connected, tx: Tx, position: int) -> None:
        self._enqueue(tx, event, position, hooks.CHARGER_ONLINE, {"node": event.node, "session_id": event.session_id})

    @apply.register
    def _(self, event: Charger.Disconnected, tx: Tx, position: int) -> None:
        facts = {"reason": event.reason, "session_id": event.session_id}
        self._enqueue(tx, event, position, hooks.CHARGER_OFFLINE, facts)

    @apply.register
    def _(self, event: Charger.Booted, tx: Tx, position: int) -> None:
        facts = {
            "reason": event.reason,
            "vendor": event.vendor,
            "model": event.model,
            "serial_number": event.serial_number,
            "firmware_version": event.firmware_version,
            "reported_at": event.reported_at.isoformat(),
        }
        self._enqueue(tx, event, position, hooks.CHARGER_BOOTED, facts)

    @apply.register
    def _(self, event: Charger.ConnectorStatusChanged, tx: Tx, position: int) -> None:
        facts = {
            "evse_id": event.evse_id,
            "connector_id": event.connector_id,
            "status": event.status,
            "reported_at": event.reported_at.isoformat(),
            "before_boot": event.before_boot,
        }
        self._enqueue(tx, event, position, hooks.CHARGER_STATUS_CHANGED, facts)

    def _source(self, tx: Tx, event: Aggregate.Event, station_id: str, transaction_id: str | None) -> None:
        """A row of the station map, written at the batch's flush (a row already there stays as it is)."""
        self._sources.of(tx).setdefault(str(event.originator_id), (station_id, transaction_id))

    def flush(self, tx: Tx) -> None:
        """The batch's new rows of the station map, in one statement."""
        rows = [(aggregate_id, *source) for aggregate_id, source in self._sources.take(tx).items()]
        if rows:
            columns = ("aggregate_id", "station_id", "transaction_id")
            tx.insert_rows("rm_webhook_sources", columns, rows, "ON CONFLICT (aggregate_id) DO NOTHING")

    def _source_of(self, tx: Tx, aggregate_id: str) -> dict[str, Any]:
        pending = self._sources.of(tx).get(aggregate_id)
        if pending is not None:
            return {"station_id": pending[0], "transaction_id": pending[1]}
        rows = tx.fetchall(
            "SELECT station_id, transaction_id FROM rm_webhook_sources WHERE aggregate_id = %s", (aggregate_id,)
        )
        return rows[0] if rows else {"station_id": None, "transaction_id": None}

    def _subscribers(self, tx: Tx, event_type: str) -> list[str]:
        return [subscription for subscription, events in self._active(tx) if event_type in events]

    def _active(self, tx: Tx) -> list[tuple[str, list[str]]]:
        """The active subscriptions, read once per read-model transaction (a batch), not once per event: the
        subscription handlers drop what was read, so a change inside the batch is seen at once."""
        if self._active_tx is not tx:
            rows = tx.fetchall("SELECT subscription_id, events FROM rm_webhook_subscriptions")
            self._active_rows = [(row["subscription_id"], json.loads(row["events"])) for row in rows]
            self._active_tx = tx
        return self._active_rows

    def _enqueue(self, tx: Tx, event: Aggregate.Event, position: int, event_type: str, facts: dict[str, Any]) -> None:
        subscriptions = self._subscribers(tx, event_type)
        if not subscriptions:
            return
        source = self._source_of(tx, str(event.originator_id))
        data: dict[str, Any] = {"station_id": source["station_id"]}
        if event_type.startswith("transaction."):
            data["transaction_id"] = source["transaction_id"]
        data.update(facts)
        for subscription_id in subscriptions:
            delivery = delivery_id(subscription_id, event)
            payload = {"id": delivery, "type": event_type, "created_at": stamp(event.timestamp), "data": data}
            tx.execute(
                "INSERT INTO rm_webhook_deliveries (delivery_id, subscription_id, event_type, payload, position,"
                " status, next_attempt_at, created_at) VALUES (%s, %s, %s, %s, %s, 'pending', %s, %s)"
                " ON CONFLICT (delivery_id) DO NOTHING",
                (delivery, subscription_id, event_type, json.dumps(payload), position, *[stamp(event.timestamp)] * 2),
            )


class WebhookOutbox:
    """The outbox as the delivery worker and the REST API use it."""

    def __init__(self, db: ReadModelDB) -> None:
        self.db = db

    def claim_due(self, now: datetime, lease_seconds: float, limit: int = 20) -> list[dict[str, Any]]:
        """The pending rows due by ``now`` of active subscriptions, in log order; each is leased (its next
        attempt moved ``lease_seconds`` on) so another worker, or this one after a crash, takes it only then."""
        lock = " FOR UPDATE OF d SKIP LOCKED" if self.db.kind == "postgres" else ""
        with self.db.transaction() as tx:
            rows = tx.fetchall(
                f"SELECT {DELIVERY_COLUMNS}, d.payload, s.url FROM rm_webhook_deliveries d"
                " JOIN rm_webhook_subscriptions s ON s.subscription_id = d.subscription_id"
                f" WHERE d.status = 'pending' AND d.next_attempt_at <= %s ORDER BY d.position LIMIT %s{lock}",
                (stamp(now), limit),
            )
            lease = stamp(now + timedelta(seconds=lease_seconds))
            for row in rows:
                tx.execute(
                    "UPDATE rm_webhook_deliveries SET next_attempt_at = %s WHERE delivery_id = %s",
                    (lease, row["delivery_id"]),
                )
        return rows

    def record_delivered(self, delivery: str, attempts: int, at: datetime) -> None:
        self._record(delivery, "delivered", attempts, at, None, stamp(at), delivered_at=stamp(at))

    def record_failed(self, delivery: str, attempts: int, at: datetime, error: str, retry_at: datetime | None) -> None:
        """A failed attempt: retried at ``retry_at``, or dead (a dead letter) when it is None."""
        status = "pending" if retry_at else "dead"
        self._record(delivery, status, attempts, at, error[:500], stamp(retry_at or at))

    def _record(
        self, delivery: str, status: str, attempts: int, at: datetime, error: str | None, next_at: str, **more: str
    ) -> None:
        extra = "".join(f", {column} = %s" for column in more)
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE rm_webhook_deliveries SET status = %s, attempts = %s, last_attempt_at = %s, last_error = %s,"
                f" next_attempt_at = %s{extra} WHERE delivery_id = %s AND status = 'pending'",
                (status, attempts, stamp(at), error, next_at, *more.values(), delivery),
            )

    def subscriptions(self, after: str | None, limit: int) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT subscription_id, url, events, created_by, created_at FROM rm_webhook_subscriptions"
            " WHERE subscription_id > %s ORDER BY subscription_id LIMIT %s",
            (after or "", limit),
        )
        return [{**row, "events": json.loads(row["events"])} for row in rows]

    def deliveries(
        self, subscription_id: str, status: str | None = None, after: int = 0, limit: int = 50
    ) -> list[dict[str, Any]]:
        where = " AND d.status = %s" if status else ""
        return self.db.query(
            f"SELECT {DELIVERY_COLUMNS}, d.payload FROM rm_webhook_deliveries d WHERE d.subscription_id = %s"
            f" AND d.position > %s{where} ORDER BY d.position, d.delivery_id LIMIT %s",
            (subscription_id, after, *([status] if status else []), limit),
        )

    def delivery(self, subscription_id: str, delivery: str) -> dict[str, Any] | None:
        rows = self.db.query(
            f"SELECT {DELIVERY_COLUMNS}, d.payload FROM rm_webhook_deliveries d"
            " WHERE d.subscription_id = %s AND d.delivery_id = %s",
            (subscription_id, delivery),
        )
        return rows[0] if rows else None
