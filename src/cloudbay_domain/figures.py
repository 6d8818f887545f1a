"""The figures of a charging transaction, computed from its recorded facts: never stored.

A Transaction records what the charger said (its TransactionEvent messages by seqNo, and its meter samples);
the figures a read model shows (status, energy, durations, gaps...) are a pure function of those facts. They
are not stored with the events because then every message would pay for them on the charger's hot path, and
a correction to the arithmetic would need a new event instead of a rebuild. The same facts always give the
same figures, whatever order the messages came in, so a replay reproduces them exactly.

Fields ending in ``_at`` are ISO-8601 times (``datetime.isoformat``, in the charger's offset as reported).
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from cloudbay_domain.metering import EnergySummary, Sample, charging_split, summarise
from cloudbay_domain.reports import EventType


class TransactionStatus(str, enum.Enum):
    ACTIVE = "active"
    ENDED = "ended"


class RecordedReport(Protocol):
    """What the figures read of one recorded TransactionEvent (``Transaction.Reported`` satisfies it)."""

    @property
    def event_type(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def charging_state(self) -> str | None: ...
    @property
    def stopped_reason(self) -> str | None: ...


@dataclass(frozen=True)
class TransactionFigures:
    """Everything a read model shows of a transaction, as of its recorded facts."""

    status: str  # TransactionStatus value: ended as soon as any Ended is recorded
    started_at: str  # the Started message's time, else the earliest message's
    started_seen: bool
    ended_at: str | None  # the first Ended by seqNo
    stopped_reason: str | None  # of the first Ended by seqNo
    last_event_at: str
    duration_s: float
    charging_s: float
    idle_s: float
    energy_wh: float  # rounded to mWh: float sums carry noise below that
    max_power_w: float | None
    last_power_w: float | None
    register_resets: int
    unknown_unit_samples: int
    last_sample_at: str | None
    missing_seq_nos: tuple[tuple[int, int], ...]  # gaps in seqNo as (first, last) ranges: never invented
    charging_state: str | None  # the latest reported, by seqNo

    def as_dict(self) -> dict[str, Any]:
        """The figures as plain JSON-ready values (``missing_seq_nos`` a list of ``[first, last]`` lists)."""
        values = asdict(self)
        values["missing_seq_nos"] = [list(gap) for gap in self.missing_seq_nos]
        return values


MAX_GAPS = 100  # gap ranges kept in the figures: the lowest ones; a charger's seqNo 2147483647 is one range


def missing_seq_nos(seq_nos: Collection[int]) -> tuple[tuple[int, int], ...]:
    """The seqNos below the highest recorded that are not recorded (from 0, or the lowest if negative), as
    inclusive ``(first, last)`` ranges, the lowest ``MAX_GAPS`` of them: the cost is that of sorting the
    recorded seqNos, whatever their values."""
    gaps: list[tuple[int, int]] = []
    expected = min(min(seq_nos), 0) if seq_nos else 0
    for n in sorted(seq_nos):
        if n > expected:
            gaps.append((expected, n - 1))
            if len(gaps) == MAX_GAPS:
                break
        expected = max(expected, n + 1)
    return tuple(gaps)


def transaction_figures(reports: Mapping[int, RecordedReport], samples: Iterable[Sample]) -> TransactionFigures | None:
    """The figures of a transaction's reports (by seqNo) and samples; None before its first report, since a
    transaction is timed by its messages and meter values alone say nothing of its start.

    Computed from scratch: the definition. ``running_figures.RunningFigures`` keeps the same figures up to date
    event by event, for read models."""
    if not reports:
        return None
    ordered = [report for _, report in sorted(reports.items())]
    started = next((r for r in ordered if r.event_type == EventType.STARTED.value), None)
    ended = next((r for r in ordered if r.event_type == EventType.ENDED.value), None)
    first_at, last_at = min(r.occurred_at for r in ordered), max(r.occurred_at for r in ordered)
    start_at, until = timed(started, ended, first_at, last_at)
    states = [(r.occurred_at, r.charging_state) for r in ordered if r.charging_state]
    return assemble(
        Moments(started, ended, start_at, last_at, until),
        charging_split(states, start_at, until),
        summarise(samples),
        missing_seq_nos(reports.keys()),
        next((r.charging_state for r in reversed(ordered) if r.charging_state), None),
    )


def timed(
    started: RecordedReport | None, ended: RecordedReport | None, first_at: datetime, last_at: datetime
) -> tuple[datetime, datetime]:
    """When a transaction started (its Started, else its earliest message) and until when it is timed (its first
    Ended, else its latest message; never before the start)."""
    start_at = started.occurred_at if started else first_at
    return start_at, max(ended.occurred_at if ended else last_at, start_at)


@dataclass(frozen=True)
class Moments:
    """The reports and times a transaction's figures are read from."""

    started: RecordedReport | None  # the first Started by seqNo
    ended: RecordedReport | None  # the first Ended by seqNo
    start_at: datetime
    last_at: datetime  # the latest message's time
    until: datetime


def assemble(
    moments: Moments,
    split: tuple[float, float],
    summary: EnergySummary,
    gaps: tuple[tuple[int, int], ...],
    charging_state: str | None,
) -> TransactionFigures:
    """The figures, from what was read of the reports and the samples."""
    started, ended = moments.started, moments.ended
    return TransactionFigures(
        status=(TransactionStatus.ENDED if ended else TransactionStatus.ACTIVE).value,
        started_at=moments.start_at.isoformat(),
        started_seen=started is not None,
        ended_at=ended.occurred_at.isoformat() if ended else None,
        stopped_reason=ended.stopped_reason if ended else None,
        last_event_at=moments.last_at.isoformat(),
        duration_s=(moments.until - moments.start_at).total_seconds(),
        charging_s=split[0],
        idle_s=split[1],
        energy_wh=round(summary.energy_wh, 3),
        max_power_w=summary.max_power_w,
        last_power_w=summary.last_power_w,
        register_resets=summary.register_resets,
        unknown_unit_samples=summary.unknown_unit_samples,
        last_sample_at=summary.last_at.isoformat() if summary.last_at else None,
        missing_seq_nos=gaps,
        charging_state=charging_state,
    )
