"""A transaction's figures kept up to date event by event: ``figures.transaction_figures`` without the rescan.

``transaction_figures`` reads every report and every sample, so a read model calling it after each event of a
transaction with n samples pays O(n) per event, O(n^2) in all (1.7 s per event after 100,000 samples).
``RunningFigures`` is advanced with each event's own facts (``add_report``, ``add_samples``) in time in
proportion to them (binary searches and list insertions, a walk over the charging-state changes the timed
interval gains or loses, usually none), and ``figures()`` equals ``transaction_figures`` of everything added,
to the last bit, in any order (``tests/unit/test_running_figures.py``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from cloudbay_domain.figures import (
    MAX_GAPS,
    Moments,
    RecordedReport,
    TransactionFigures,
    assemble,
    timed,
)
from cloudbay_domain.metering import CHARGING, Sample, _utc
from cloudbay_domain.reports import EventType
from cloudbay_domain.running_metering import RunningEnergy


class DuplicateSeqNo(ValueError):
    """A seqNo added twice: the running figures cannot tell which report replaces which; build them again."""


class ChargingTime:
    """Seconds Charging within a moving interval [start, end], as ``metering.charging_split`` counts them."""

    def __init__(self) -> None:
        self._instants: list[datetime] = []  # distinct instants of changes, UTC, sorted
        self._charging: dict[datetime, bool] = {}  # at each: Charging wins over simultaneous other states
        self._start: datetime | None = None
        self._end: datetime | None = None
        self._total = timedelta(0)  # Charging within [start, end]

    def change(self, at: datetime, state: str) -> None:
        at, now = _utc(at), state == CHARGING
        i = bisect_left(self._instants, at)
        before = self._charging.get(at)
        if before is None:
            before = self._charging[self._instants[i - 1]] if i else False
            self._instants.insert(i, at)
        after = self._charging[at] = self._charging.get(at, False) or now
        if before != after and self._start is not None and self._end is not None:
            until = self._instants[i + 1] if i + 1 < len(self._instants) else self._end
            overlap = max(min(until, self._end) - max(at, self._start), timedelta(0))
            self._total += overlap if after else -overlap

    def bound(self, start: datetime, end: datetime) -> None:
        start, end = _utc(start), _utc(end)
        if self._start is None or self._end is None:
            self._start = self._end = start
        self._total += self._signed(self._end, end) - self._signed(self._start, start)
        self._start, self._end = start, end

    def split(self) -> tuple[float, float]:
        if self._start is None or self._end is None or self._end <= self._start:
            return 0.0, 0.0
        return self._total.total_seconds(), (self._end - self._start - self._total).total_seconds()

    def _signed(self, a: datetime, b: datetime) -> timedelta:
        return self._measure(a, b) if a <= b else -self._measure(b, a)

    def _measure(self, a: datetime, b: datetime) -> timedelta:
        """Charging within [a, b] (a <= b): a walk over the changes inside it only."""
        i = bisect_right(self._instants, a)
        charging = self._charging[self._instants[i - 1]] if i else False
        total, since = timedelta(0), a
        while i < len(self._instants) and self._instants[i] < b:
            if charging:
                total += self._instants[i] - since
            charging, since = self._charging[self._instants[i]], self._instants[i]
            i += 1
        return total + (b - since if charging else timedelta(0))


class SeqNoRuns:
    """The recorded seqNos as sorted runs of consecutive numbers: gaps are between runs, whatever their values."""

    def __init__(self) -> None:
        self._lows: list[int] = []
        self._highs: list[int] = []

    def add(self, n: int) -> None:
        i = bisect_right(self._lows, n)
        if i and self._highs[i - 1] >= n:
            raise DuplicateSeqNo(n)
        joins_left = bool(i) and self._highs[i - 1] == n - 1
        joins_right = i < len(self._lows) and self._lows[i] == n + 1
        if joins_left and joins_right:
            self._highs[i - 1] = self._highs.pop(i)
            del self._lows[i]
        elif joins_left:
            self._highs[i - 1] = n
        elif joins_right:
            self._lows[i] = n
        else:
            self._lows.insert(i, n)
            self._highs.insert(i, n)

    def gaps(self) -> tuple[tuple[int, int], ...]:
        """As ``figures.missing_seq_nos``: from 0 (or the lowest if negative), the lowest ``MAX_GAPS``."""
        found: list[tuple[int, int]] = []
        expected = min(self._lows[0], 0) if self._lows else 0
        for low, high in zip(self._lows, self._highs, strict=True):
            if low > expected:
                found.append((expected, low - 1))
                if len(found) == MAX_GAPS:
                    break
            expected = high + 1
        return tuple(found)


class RunningFigures:
    """The figures of the reports and samples added so far (None before the first report)."""

    def __init__(self) -> None:
        self._runs = SeqNoRuns()
        self._started: tuple[int, RecordedReport] | None = None  # the first Started by seqNo
        self._ended: tuple[int, RecordedReport] | None = None  # the first Ended by seqNo
        self._first: tuple[datetime, int] | None = None  # the earliest time; of equal ones, the lowest seqNo's
        self._last: tuple[datetime, int] | None = None  # the latest time (and minus the seqNo: the lowest's)
        self._state: tuple[int, str] | None = None  # the latest charging state reported, by seqNo
        self._charging = ChargingTime()
        self._energy = RunningEnergy()

    @classmethod
    def of(cls, reports: Mapping[int, RecordedReport], samples: Iterable[Sample]) -> RunningFigures:
        running = cls()
        for seq_no, report in reports.items():
            running.add_report(seq_no, report)
        running.add_samples(samples)
        return running

    def add_report(self, seq_no: int, report: RecordedReport) -> None:
        """One recorded TransactionEvent (its samples go to ``add_samples``); ``DuplicateSeqNo`` for one seen."""
        self._runs.add(seq_no)
        at = report.occurred_at
        if report.event_type == EventType.STARTED.value and (self._started is None or seq_no < self._started[0]):
            self._started = (seq_no, report)
        if report.event_type == EventType.ENDED.value and (self._ended is None or seq_no < self._ended[0]):
            self._ended = (seq_no, report)
        if self._first is None or (at, seq_no) < self._first:
            self._first = (at, seq_no)
        if self._last is None or (at, -seq_no) > self._last:
            self._last = (at, -seq_no)
        if report.charging_state:
            self._charging.change(at, report.charging_state)
            if self._state is None or seq_no > self._state[0]:
                self._state = (seq_no, report.charging_state)
        self._charging.bound(*self._timed())

    def add_samples(self, samples: Iterable[Sample]) -> None:
        self._energy.add(samples)

    @property
    def register_readings(self) -> list[tuple[datetime, float]]:
        """The energy register's readings so far, in time order (``RunningEnergy.register_readings``)."""
        return self._energy.register_readings

    def _timed(self) -> tuple[datetime, datetime]:
        assert self._first is not None and self._last is not None
        started, ended = self._reports()
        return timed(started, ended, self._first[0], self._last[0])

    def _reports(self) -> tuple[RecordedReport | None, RecordedReport | None]:
        return (self._started[1] if self._started else None), (self._ended[1] if self._ended else None)

    def figures(self) -> TransactionFigures | None:
        if self._last is None:
            return None
        started, ended = self._reports()
        start_at, until = self._timed()
        return assemble(
            Moments(started, ended, start_at, self._last[0], until),
            self._charging.split(),
            self._energy.summary(),
            self._runs.gaps(),
            self._state[1] if self._state else None,
        )
