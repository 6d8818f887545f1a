"""The charging transaction aggregate: one per charger-assigned transactionId, the billing-grade truth.

Every TransactionEvent message (Started, Updated, Ended) is recorded once, keyed by its ``seqNo``; state is
derived from the recorded messages in seqNo order, so duplicates, offline batches and late deliveries give
the same result as a perfect stream. Outcomes for messages that arrive "wrong":

- a repeated seqNo is acknowledged and not recorded again (``report`` returns False);
- an Updated or Ended for a transaction never seen opens it (``started_seen`` stays False until a Started
  arrives, if ever); the transaction is ended as soon as any Ended is recorded;
- a second Ended (seqNo n+1, seen on charger shutdown) is recorded; the first by seqNo gives the stop reason;
- a gap in seqNo is recorded in ``missing_seq_nos``: never invented, filled if the message arrives later;
- meter values: see ``metering`` (register resets, unknown units, order independence).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.metering import Sample, charging_split, summarise
from cloudbay_domain.reports import EventType

MAX_TRANSACTION_ID_LENGTH = 36


class TransactionError(Exception):
    pass


class InvalidTransactionId(TransactionError):
    pass


class TransactionStatus(str, enum.Enum):
    ACTIVE = "active"
    ENDED = "ended"


class Attribution(str, enum.Enum):
    """Who a transaction is charged to, and how we know."""

    CARD = "card"  # an RFID card registered to a user
    GUEST = "guest"  # a guest id token registered to a guest user
    APP = "app"  # started from the app (RequestStartTransaction)
    DEFAULT_ACCOUNT = "default_account"  # RFID not required: the charger's default account
    UNKNOWN = "unknown"  # an id token the platform does not know


class Transaction(Aggregate):
    """A charging session on one EVSE of one charger."""

    @staticmethod
    def create_id(station_id: str, transaction_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:transaction:{station_id}:{transaction_id}")

    class Opened(Aggregate.Created):
        station_id: str
        transaction_id: str
        evse_id: int | None
        connector_id: int | None

    @event(Opened)
    def __init__(self, station_id: str, transaction_id: str, evse_id: int | None, connector_id: int | None) -> None:
        self.station_id = station_id
        self.transaction_id = transaction_id
        self.evse_id = evse_id
        self.connector_id = connector_id
        self.reports: dict[int, dict[str, Any]] = {}  # seqNo -> the message as recorded
        self.samples: list[Sample] = []
        self.user: str | None = None
        self.id_token: str | None = None
        self.attribution: Attribution | None = None
        self.authorization: str | None = None

    @classmethod
    def open(cls, station_id: str, transaction_id: str, evse_id: int | None, connector_id: int | None) -> Transaction:
        if not transaction_id or len(transaction_id) > MAX_TRANSACTION_ID_LENGTH:
            raise InvalidTransactionId(f"transactionId must be 1-{MAX_TRANSACTION_ID_LENGTH} characters")
        return cls(station_id=station_id, transaction_id=transaction_id, evse_id=evse_id, connector_id=connector_id)

    # --- what the charger reports -------------------------------------------------------

    class Reported(Aggregate.Event):
        """One TransactionEvent message, with the figures of the transaction after it."""

        seq_no: int
        event_type: str
        occurred_at: datetime  # the charger's clock; the event's own ``timestamp`` is when it was recorded
        trigger_reason: str
        offline: bool
        charging_state: str | None
        stopped_reason: str | None
        remote_start_id: int | None
        id_token: str | None
        samples: list[dict[str, Any]]
        figures: dict[str, Any]

    def has_seen(self, seq_no: int) -> bool:
        return seq_no in self.reports

    def report(
        self,
        *,
        seq_no: int,
        event_type: EventType,
        timestamp: datetime,
        trigger_reason: str,
        offline: bool = False,
        charging_state: str | None = None,
        stopped_reason: str | None = None,
        remote_start_id: int | None = None,
        id_token: str | None = None,
        samples: list[Sample] | None = None,
    ) -> bool:
        """Record one TransactionEvent. Returns False (recording nothing) for a seqNo already recorded."""
        if self.has_seen(seq_no):
            return False
        samples = samples or []
        message = {
            "seq_no": seq_no,
            "event_type": EventType(event_type).value,
            "timestamp": timestamp,
            "charging_state": charging_state,
            "stopped_reason": stopped_reason,
        }
        figures = self._figures({**self.reports, seq_no: message}, [*self.samples, *samples])
        self._reported(
            seq_no=seq_no,
            event_type=EventType(event_type).value,
            occurred_at=timestamp,
            trigger_reason=trigger_reason,
            offline=offline,
            charging_state=charging_state,
            stopped_reason=stopped_reason,
            remote_start_id=remote_start_id,
            id_token=id_token,
            samples=[s.to_dict() for s in samples],
            figures=figures,
        )
        return True

    @event(Reported)
    def _reported(
        self,
        seq_no: int,
        event_type: str,
        occurred_at: datetime,
        trigger_reason: str,
        offline: bool,
        charging_state: str | None,
        stopped_reason: str | None,
        remote_start_id: int | None,
        id_token: str | None,
        samples: list[dict[str, Any]],
        figures: dict[str, Any],
    ) -> None:
        self.reports[seq_no] = {
            "seq_no": seq_no,
            "event_type": event_type,
            "timestamp": occurred_at,
            "trigger_reason": trigger_reason,
            "charging_state": charging_state,
            "stopped_reason": stopped_reason,
            "remote_start_id": remote_start_id,
            "id_token": id_token,
        }
        self.samples.extend(Sample.from_dict(s) for s in samples)

    class MeterValuesRecorded(Aggregate.Event):
        """Meter values sent outside TransactionEvent (J03) for this transaction's EVSE."""

        samples: list[dict[str, Any]]
        figures: dict[str, Any]

    def record_meter_values(self, samples: list[Sample]) -> None:
        figures = self._figures(self.reports, [*self.samples, *samples]) if self.reports else {}
        self._meter_values_recorded(samples=[s.to_dict() for s in samples], figures=figures)

    @event(MeterValuesRecorded)
    def _meter_values_recorded(self, samples: list[dict[str, Any]], figures: dict[str, Any]) -> None:
        self.samples.extend(Sample.from_dict(s) for s in samples)

    # --- who it is charged to -------------------------------------------------------------

    class Attributed(Aggregate.Event):
        user: str | None
        id_token: str | None
        attribution: str
        authorization: str

    @event(Attributed)
    def attribute(self, user: str | None, id_token: str | None, attribution: str, authorization: str) -> None:
        """Charge the transaction to ``user`` (resolved by the platform from the id token or remote start)."""
        self.user = user
        self.id_token = id_token
        self.attribution = Attribution(attribution)
        self.authorization = authorization

    # --- derived state ----------------------------------------------------------------------

    def _ordered(self, reports: dict[int, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        return [r for _, r in sorted((reports if reports is not None else self.reports).items())]

    @property
    def status(self) -> TransactionStatus:
        ended = any(r["event_type"] == EventType.ENDED.value for r in self.reports.values())
        return TransactionStatus.ENDED if ended else TransactionStatus.ACTIVE

    @property
    def started_seen(self) -> bool:
        return any(r["event_type"] == EventType.STARTED.value for r in self.reports.values())

    @property
    def remote_start_id(self) -> int | None:
        return next((r["remote_start_id"] for r in self._ordered() if r["remote_start_id"] is not None), None)

    @property
    def reported_id_token(self) -> str | None:
        return next((r["id_token"] for r in self._ordered() if r["id_token"]), None)

    @property
    def missing_seq_nos(self) -> list[int]:
        return _missing(self.reports)

    def figures(self) -> dict[str, Any]:
        return self._figures(self.reports, self.samples)

    @staticmethod
    def _figures(reports: dict[int, dict[str, Any]], samples: list[Sample]) -> dict[str, Any]:
        """Everything a read model needs, computed once here and stored with the event."""
        ordered = [r for _, r in sorted(reports.items())]
        started = next((r for r in ordered if r["event_type"] == EventType.STARTED.value), None)
        ended = next((r for r in ordered if r["event_type"] == EventType.ENDED.value), None)
        start_at: datetime = started["timestamp"] if started else min(r["timestamp"] for r in ordered)
        last_at: datetime = max(r["timestamp"] for r in ordered)
        end_at: datetime | None = ended["timestamp"] if ended else None
        until = max(end_at or last_at, start_at)
        states = [(r["timestamp"], r["charging_state"]) for r in ordered if r["charging_state"]]
        charging_s, idle_s = charging_split(states, start_at, until)
        summary = summarise(samples)
        return {
            "status": TransactionStatus.ENDED.value if ended else TransactionStatus.ACTIVE.value,
            "started_at": start_at.isoformat(),
            "started_seen": started is not None,
            "ended_at": end_at.isoformat() if end_at else None,
            "stopped_reason": ended["stopped_reason"] if ended else None,
            "last_event_at": last_at.isoformat(),
            "duration_s": (until - start_at).total_seconds(),
            "charging_s": charging_s,
            "idle_s": idle_s,
            "energy_wh": round(summary.energy_wh, 3),  # mWh: float sums carry noise below that
            "max_power_w": summary.max_power_w,
            "last_power_w": summary.last_power_w,
            "register_resets": summary.register_resets,
            "unknown_unit_samples": summary.unknown_unit_samples,
            "last_sample_at": summary.last_at.isoformat() if summary.last_at else None,
            "missing_seq_nos": _missing(reports),
            "charging_state": next((r["charging_state"] for r in reversed(ordered) if r["charging_state"]), None),
        }


def _missing(reports: dict[int, dict[str, Any]]) -> list[int]:
    if not reports:
        return []
    low = min(min(reports), 0)
    return [n for n in range(low, max(reports)) if n not in reports]
