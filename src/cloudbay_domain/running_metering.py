"""``metering.summarise``, kept up to date sample by sample instead of recomputed over every sample.

``RunningEnergy.add(samples)`` costs time in proportion to the samples given (a binary search and a list
insertion each; appending in time order moves nothing), not to the samples seen before, and
``summary()`` equals ``summarise`` of every sample added, to the last bit:

* the register series (and the power series) is kept sorted, with its segments (runs without a drop) and the
  exact sum of their spans (an integer count of ``2**-1074``, the unit every finite float is a whole
  multiple of, rounded once at the end as ``math.fsum`` does: Python's ``int / int`` is correctly rounded);
  a new reading changes only the segments around its place;
* a choice ``summarise`` makes from all samples (the location, totals or phase sums, the phase family, the
  phases seen) is rebuilt from the samples of that measurand when a new sample changes it; each can change
  only a few times in a transaction's life (a location or a family appears once).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from datetime import datetime

from cloudbay_domain.metering import (
    ENERGY_REGISTER,
    LOCATION_PREFERENCE,
    PHASE_FAMILIES,
    POWER_ACTIVE_IMPORT,
    EnergySummary,
    Sample,
)

Point = tuple[datetime, float]
_UNITS = 1 << 1074  # 2**1074 units of 2**-1074 in 1: a float's exact value is a whole number of them


def _units(value: float) -> int:
    """A finite float's exact value in units of 2**-1074 (its ratio's denominator is a power of 2 up to that)."""
    numerator, denominator = value.as_integer_ratio()
    return numerator * (_UNITS // denominator)


class Series:
    """A sorted set of readings (timestamp, value) with the register arithmetic of ``summarise`` rules 4-5."""

    def __init__(self, points: Iterable[Point] = ()) -> None:
        self.points: list[Point] = []
        self.starts: list[Point] = []  # readings below their predecessor: each begins a segment (a reset)
        self.values: list[float] = []  # the values, sorted (for the largest)
        self._total, self._infinite = 0, 0  # exact sum of the finite segment spans (in _units); infinite ones
        for point in sorted(set(points)):
            self.add(point)

    def add(self, point: Point) -> None:
        points = self.points
        if points and point > points[-1]:  # after every reading so far: the common case, a register read in turn
            last = points[-1]
            if point[1] < last[1]:
                self.starts.append(point)  # a reset: the reading begins a segment of its own, of span 0
            else:  # the last segment grows: its span counted again, as ``_count`` counts it
                first = self.starts[-1][1] if self.starts else points[0][1]
                self._span(last[1] - first, -1)
                self._span(point[1] - first, +1)
            points.append(point)
            insort(self.values, point[1])
            return
        i = bisect_left(points, point)
        if i == len(points) or points[i] != point:
            self._replace(i, i, [point])
            insort(self.values, point[1])

    def remove(self, point: Point) -> None:
        i = bisect_left(self.points, point)
        self._replace(i, i + 1, [])
        del self.values[bisect_left(self.values, point[1])]

    @property
    def energy(self) -> float:
        if self._infinite:
            return math.inf
        try:
            return max(0.0, self._total / _UNITS)
        except OverflowError:  # past the largest float, as ``metering.exact_sum``
            return math.inf

    @property
    def resets(self) -> int:
        return len(self.starts)

    def _segment_start(self, i: int) -> int:
        j = bisect_right(self.starts, self.points[i]) - 1
        return bisect_left(self.points, self.starts[j]) if j >= 0 else 0

    def _segment_end(self, i: int) -> int:
        j = bisect_right(self.starts, self.points[i])
        return bisect_left(self.points, self.starts[j]) - 1 if j < len(self.starts) else len(self.points) - 1

    def _replace(self, lo: int, hi: int, new: list[Point]) -> None:
        """Replace ``points[lo:hi]`` with ``new``; only the segments around that place are computed again."""
        n = len(self.points)
        a = self._segment_start(max(lo - 1, 0)) if n else 0
        b = self._segment_end(min(hi, n - 1)) if n else -1
        self._count(a, b, -1)
        first = bisect_right(self.starts, self.points[a]) if n else 0
        last = bisect_right(self.starts, self.points[b]) if n else 0
        del self.starts[first:last]  # every one of them is at the place replaced
        self.points[lo:hi] = new
        b += len(new) - (hi - lo)
        found = [
            self.points[j]
            for j in range(max(lo, 1), min(lo + len(new), len(self.points) - 1) + 1)
            if self.points[j][1] < self.points[j - 1][1]
        ]
        self.starts[first:first] = found
        self._count(a, b, +1)

    def _count(self, a: int, b: int, sign: int) -> None:
        """Add (``sign`` 1) or take away (-1) the spans of the segments making up ``points[a..b]``."""
        if b < a:
            return
        inside = self.starts[bisect_right(self.starts, self.points[a]) : bisect_right(self.starts, self.points[b])]
        bounds = [a, *(bisect_left(self.points, key) for key in inside), b + 1]
        for start, stop in zip(bounds, bounds[1:], strict=False):
            self._span(self.points[stop - 1][1] - self.points[start][1], sign)

    def _span(self, span: float, sign: int) -> None:
        if math.isfinite(span):
            self._total += sign * _units(span)
        else:
            self._infinite += sign


class _Measurand:
    """The series ``summarise`` reads for one measurand (rules 2-3), from its known-unit samples."""

    def __init__(self) -> None:
        self.by_location: dict[str, list[Sample]] = {}
        self.location: str | None = None
        self.series = Series()
        self.totals = True  # the series is of phase-None readings; else of per-phase sums
        self.present: set[str | None] = set()
        self.family: frozenset[str] = frozenset()
        self.seen: list[str] = []
        self.readings: dict[datetime, dict[str, float]] = {}

    def add(self, sample: Sample) -> None:
        place = sample.location or "Outlet"
        self.by_location.setdefault(place, []).append(sample)
        if self.location != _preferred(self.by_location):
            return self._rebuild()
        if place != self.location:
            return None
        if self.totals:
            return self.series.add((sample.timestamp, sample.value)) if sample.phase is None else None
        self.present.add(sample.phase)
        if sample.phase is None or _family(self.present) != self.family:
            return self._rebuild()
        if sample.phase not in self.family:
            return None
        if sample.phase not in self.seen:
            return self._rebuild()
        before = self._point(sample.timestamp)
        at = self.readings.setdefault(sample.timestamp, {})
        at[sample.phase] = max(at.get(sample.phase, sample.value), sample.value)
        after = self._point(sample.timestamp)
        if before != after:
            if before is not None:
                self.series.remove(before)
            if after is not None:
                self.series.add(after)
        return None

    def _point(self, at: datetime) -> Point | None:
        reading = self.readings.get(at, {})
        return (at, math.fsum(reading[p] for p in self.seen)) if len(reading) == len(self.seen) else None

    def _rebuild(self) -> None:
        self.location = _preferred(self.by_location)
        relevant = self.by_location[self.location]
        totals = {(s.timestamp, s.value) for s in relevant if s.phase is None}
        self.totals = bool(totals)
        self.present = {s.phase for s in relevant}
        self.family = _family(self.present)
        self.seen = sorted(self.family & self.present)  # type: ignore[operator]
        self.readings = {}
        for s in relevant:
            if s.phase is not None and s.phase in self.family:
                at = self.readings.setdefault(s.timestamp, {})
                at[s.phase] = max(at.get(s.phase, s.value), s.value)
        points = totals or {p for p in map(self._point, self.readings) if p is not None}
        self.series = Series(points)


def _preferred(by_location: dict[str, list[Sample]]) -> str:
    for location in LOCATION_PREFERENCE:
        if location in by_location:
            return location
    return min(by_location)


def _family(present: set[str | None]) -> frozenset[str]:
    return next((frozenset(f) for f in PHASE_FAMILIES if present & set(f)), frozenset())


class RunningEnergy:
    """The ``EnergySummary`` of every sample added so far (duplicates count once, order does not matter)."""

    def __init__(self, samples: Iterable[Sample] = ()) -> None:
        self._distinct: set[Sample] = set()
        self._register, self._power = _Measurand(), _Measurand()
        self._unknown_units = 0
        self.add(samples)

    def add(self, samples: Iterable[Sample]) -> None:
        for sample in samples:
            relevant = sample.measurand in (ENERGY_REGISTER, POWER_ACTIVE_IMPORT)
            if not (relevant or not sample.known_unit):
                continue
            seen = len(self._distinct)
            self._distinct.add(sample)  # hashed once (a dataclass hashes all ten fields each time)
            if len(self._distinct) == seen:
                continue
            if not sample.known_unit:
                self._unknown_units += 1
            else:
                (self._register if sample.measurand == ENERGY_REGISTER else self._power).add(sample)

    @property
    def register_readings(self) -> list[Point]:
        """The register's readings as ``metering.register_readings`` gives them (the live list: read, never change)."""
        return self._register.series.points

    def summary(self) -> EnergySummary:
        register, power = self._register.series, self._power.series
        first, last = (register.points[0], register.points[-1]) if register.points else (None, None)
        return EnergySummary(
            energy_wh=register.energy,
            first_register_wh=first[1] if first else None,
            last_register_wh=last[1] if last else None,
            register_resets=register.resets,
            register_samples=len(register.points),
            first_at=first[0] if first else None,
            last_at=last[0] if last else None,
            max_power_w=power.values[-1] if power.values else None,
            last_power_w=power.points[-1][1] if power.points else None,
            unknown_unit_samples=self._unknown_units,
        )
