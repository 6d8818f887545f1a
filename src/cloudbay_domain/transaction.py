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

Events carry facts only (what the charger said, id tokens in their canonical form). The figures a read model
shows are computed from those facts by ``figures.transaction_figures``, by whoever needs them: recording a
message costs only the duplicate check. ``Reported`` and ``MeterValuesRecorded`` v1 (written before this split) stored
those figures too; their upcasters drop them.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.figures import TransactionStatus, missing_seq_nos, transaction_figures
from cloudbay_domain.id_token import normalise_token
from cloudbay_domain.metering import Sample
from cloudbay_domain.reports import EventType, TransactionReport
from cloudbay_domain.text import has_control_characters

__all__ = [
    "Attribution",
    "EventType",
    "InvalidTransactionId",
    "Transaction",
    "TransactionError",
    "TransactionStatus",
]

MAX_TRANSACTION_ID_LENGTH = 36


class TransactionError(Exception):
    pass


class InvalidTransactionId(TransactionError):
    pass


class Attribution(str, enum.Enum):
    """Who a transaction is charged to, and how we know."""

    CARD = "card"  # an RFID card registered to a user
    GUEST = "guest"  # a guest id token registered to a guest user
    APP = "app"  # started from the app (RequestStartTransaction)
    DEFAULT_ACCOUNT = "default_account"  # RFID not required: the charger's default account
    UNKNOWN = "unknown"  # an id token the platform does not know


#: Bounded (chargers choose transaction ids): a few transactions for each charger of a busy node.
ID_CACHE_SIZE = 65536


class Transaction(Aggregate):
    """A charging session on one EVSE of one charger."""

    @staticmethod
    @functools.lru_cache(maxsize=ID_CACHE_SIZE)
    def create_id(station_id: str, transaction_id: str) -> UUID:
        """Each of a transaction's messages names it: its id is computed once while it runs."""
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
        self.reports: dict[int, Transaction.Reported] = {}  # seqNo -> the message as recorded
        self.samples: list[Sample] = []
        self.user: str | None = None
        self.id_token: str | None = None
        self.attribution: Attribution | None = None
        self.authorization: str | None = None

    @classmethod
    def open(cls, station_id: str, transaction_id: str, evse_id: int | None, connector_id: int | None) -> Transaction:
        if not 0 < len(transaction_id) <= MAX_TRANSACTION_ID_LENGTH or has_control_characters(transaction_id):
            raise InvalidTransactionId(
                f"transactionId must be 1-{MAX_TRANSACTION_ID_LENGTH} characters, without control characters"
            )
        return cls(station_id=station_id, transaction_id=transaction_id, evse_id=evse_id, connector_id=connector_id)

    # --- what the charger reports -------------------------------------------------------

    class Reported(Aggregate.Event):
        """One TransactionEvent message, as recorded (the facts of a ``TransactionReport``)."""

        class_version = 2

        seq_no: int
        event_type: str  # an EventType value
        occurred_at: datetime  # the report's ``timestamp`` (the charger's clock); the event's is when recorded
        trigger_reason: str
        offline: bool
        charging_state: str | None
        stopped_reason: str | None
        remote_start_id: int | None
        id_token: str | None  # normalised, as id tokens are stored
        samples: list[dict[str, Any]]  # Sample.to_dict()

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 stored the transaction's figures after the message; they are computed from the facts now."""
            state.pop("figures", None)

        def apply(self, aggregate: Transaction) -> None:
            aggregate.reports[self.seq_no] = self
            aggregate.samples.extend(Sample.from_dict(s) for s in self.samples)

        def __deepcopy__(self, memo: dict[int, Any]) -> Transaction.Reported:
            return self  # immutable: copies of an aggregate (the store's cache makes one per command) share it

    def has_seen(self, seq_no: int) -> bool:
        return seq_no in self.reports

    def report(self, report: TransactionReport) -> bool:
        """Record one TransactionEvent. Returns False (recording nothing) for a seqNo already recorded."""
        if self.has_seen(report.seq_no):
            return False
        self.trigger_event(self.Reported, **_reported_facts(report))
        return True

    class MeterValuesRecorded(Aggregate.Event):
        """Meter values sent outside TransactionEvent (J03) for this transaction's EVSE."""

        class_version = 2

        samples: list[dict[str, Any]]  # Sample.to_dict()

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 stored the transaction's figures (empty before any report); they are computed now."""
            state.pop("figures", None)

        def apply(self, aggregate: Transaction) -> None:
            aggregate.samples.extend(Sample.from_dict(s) for s in self.samples)

    def record_meter_values(self, samples: Sequence[Sample]) -> None:
        self.trigger_event(self.MeterValuesRecorded, samples=[s.to_dict() for s in samples])

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

    @staticmethod
    def _first(found: list[tuple[int, Any]]) -> Any:
        """Of (seqNo, value) pairs, the value with the lowest seqNo (no sort of every report), else None."""
        return min(found, key=lambda pair: pair[0])[1] if found else None

    @property
    def status(self) -> TransactionStatus:
        ended = any(r.event_type == EventType.ENDED.value for r in self.reports.values())
        return TransactionStatus.ENDED if ended else TransactionStatus.ACTIVE

    @property
    def started_seen(self) -> bool:
        return any(r.event_type == EventType.STARTED.value for r in self.reports.values())

    @property
    def remote_start_id(self) -> int | None:
        return self._first([(n, r.remote_start_id) for n, r in self.reports.items() if r.remote_start_id is not None])

    @property
    def reported_id_token(self) -> str | None:
        return self._first([(n, r.id_token) for n, r in self.reports.items() if r.id_token])

    @property
    def missing_seq_nos(self) -> list[list[int]]:
        """The gaps in seqNo as ``[first, last]`` ranges (at most ``figures.MAX_GAPS``, the lowest)."""
        return [list(gap) for gap in missing_seq_nos(self.reports.keys())]

    def figures(self) -> dict[str, Any]:
        """The read model's figures as of now (see ``figures.TransactionFigures``); empty before any report."""
        figures = transaction_figures(self.reports, self.samples)
        return figures.as_dict() if figures else {}


_EVENT_FIELDS = {f.name for f in fields(Aggregate.Event)}
_REPORTED_FACTS = tuple(f.name for f in fields(Transaction.Reported) if f.name not in _EVENT_FIELDS)


_REPORT_FIELDS = tuple(f.name for f in fields(TransactionReport))


def _reported_facts(report: TransactionReport) -> dict[str, Any]:
    """The report's values as the Reported event holds them: the event's own fields, in their stored forms.

    The report's ``timestamp`` becomes ``occurred_at`` (the event has a timestamp of its own); transaction id,
    EVSE and connector are the Opened event's facts and are not repeated.
    """
    values = {name: getattr(report, name) for name in _REPORT_FIELDS}
    values.update(
        occurred_at=report.timestamp,
        event_type=EventType(report.event_type).value,
        id_token=normalise_token(report.id_token) if report.id_token else None,
        samples=[s.to_dict() for s in report.samples],
    )
    return {name: values[name] for name in _REPORTED_FACTS}
