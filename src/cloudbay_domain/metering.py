"""The arithmetic of OCPP 2.0.1 meter values (use cases J02/J03): normalise, summarise. No I/O, no JSON.

Normalising (:func:`normalised_sample`): one reading as the charger sent it (read from JSON by the OCPP
adapter, ``adapters.ocpp.meter_values``) becomes one :class:`Sample`.
  * Timestamps: naive ones are taken as UTC; all become UTC. ``raw_value`` must be a finite number (not bool),
    ``multiplier`` an int, and a reading in a known unit at most ``MAX_READING`` either way once normalised (no
    meter reads a petawatt-hour; past it, sums of readings could leave the float range); anything else raises
    :class:`MeterValueError`.
  * Defaults: measurand ``Energy.Active.Import.Register``; location Outlet (stored as None). An absent unit is the
    spec's ``Wh`` for energy measurands; for others it is read as the measurand's base unit (W, var, VA, A, V,
    Percent, Hz), else ``Wh`` as the spec says.
  * Normalisation: value x 10^multiplier in the unit. Energy measurands (``Energy.*``) become Wh (varh, VAh for
    Reactive, Apparent ones) from Wh or kWh (varh/kvarh, VAh/kVAh); power measurands (``Power.*`` but Power.Factor)
    become W (var, VA) from W or kW (var/kvar, VA/kVA). Units are case-sensitive, as in OCPP's UnitOfMeasure list.
    Any other unit on an energy or power measurand is kept with ``known_unit=False`` and ``value == raw_value``, and
    counts in no energy or power figure. Other measurands: value x 10^multiplier, unit unchecked. Scaling is done in
    decimal on the number as sent and rounded once, so 1.234 kWh is exactly 1234.0 Wh.

Summarising (:func:`summarise`):
  1. The result depends only on the set of samples: exact duplicates are dropped, order does not matter.
  2. Only readings at one location count: Outlet if any, else Inlet, else the alphabetically first.
  3. The register is ``Energy.Active.Import.Register`` with phase None (the total). Without any total, per-phase
     registers are summed per timestamp, from the first family present of L1/L2/L3, L1-N/L2-N/L3-N,
     L1-L2/L2-L3/L3-L1 (N never counts), at timestamps where every phase of the family seen anywhere is present
     (taking a phase's largest reading at that timestamp).
  4. Readings are sorted by (timestamp, value); equal (timestamp, value) pairs count once.
  5. A reading below its predecessor is a register reset (reboot, per-transaction register): it counts in
     ``register_resets`` and starts a new segment; no energy is invented for the step. ``energy_wh`` = sum of
     (segment last - segment first) = sum of max(0, delta) >= 0: last - first for a non-decreasing series, 0 for a
     single reading; missing samples just mean larger deltas. The sum is exact, rounded once; past the largest
     float it is infinite.
  6. ``first/last_register_wh`` and ``first/last_at``: the first and last readings of that series (the interval
     ``energy_wh`` covers); ``register_samples``: its length.
  7. Power: ``Power.Active.Import`` in W, chosen as in 2-4; ``max_power_w`` the largest, ``last_power_w`` the last.
  8. ``unknown_unit_samples``: distinct samples with ``known_unit=False``, whatever their measurand.

:func:`charging_split`: seconds of [start, end] in ``Charging`` and in any other state, from changes in any order;
not charging before the first change; changes outside the interval only set the state at its edges; of simultaneous
changes, Charging wins. An empty or inverted interval gives (0.0, 0.0).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER_ACTIVE_IMPORT = "Power.Active.Import"
CHARGING = "Charging"
PHASE_FAMILIES = (("L1", "L2", "L3"), ("L1-N", "L2-N", "L3-N"), ("L1-L2", "L2-L3", "L3-L1"))
LOCATION_PREFERENCE = ("Outlet", "Inlet")
_OTHER_UNITS = {"Current": "A", "Voltage": "V", "SoC": "Percent", "Frequency": "Hz"}


MAX_READING = 1e15  # in the normalised unit (Wh, W, A, V...): a petawatt-hour, a petawatt


class MeterValueError(ValueError):
    """A meter value that cannot be read (bad timestamp, value not a finite number, a field of the wrong type)."""


@dataclass(frozen=True)
class Sample:
    timestamp: datetime  # tz-aware UTC
    measurand: str
    value: float  # normalised (Wh, W, var, A, V, Percent...); equals raw_value when the unit is unknown
    unit: str  # as sent, after defaults
    multiplier: int
    raw_value: float
    phase: str | None = None
    context: str | None = None
    location: str | None = None
    known_unit: bool = True

    def __deepcopy__(self, memo: dict[int, Any]) -> Sample:
        return self  # immutable: copies of an aggregate (the store's cache makes one per command) share it

    def to_dict(self) -> dict[str, Any]:
        # spelled out: dataclasses.asdict deep-copies every field, a tenth of a charger message's CPU
        return {
            "timestamp": self.timestamp.isoformat(),
            "measurand": self.measurand,
            "value": self.value,
            "unit": self.unit,
            "multiplier": self.multiplier,
            "raw_value": self.raw_value,
            "phase": self.phase,
            "context": self.context,
            "location": self.location,
            "known_unit": self.known_unit,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        """A stored sample (``to_dict``). Its fields are set as one ``__dict__``: a frozen dataclass's ``__init__``
        sets each through ``object.__setattr__``, half the cost of reading every stored sample again."""
        sample = object.__new__(cls)
        fields = {
            "timestamp": _timestamp(data["timestamp"]),
            "measurand": str(data["measurand"]),
            "value": float(data["value"]),
            "unit": str(data["unit"]),
            "multiplier": int(data["multiplier"]),
            "raw_value": float(data["raw_value"]),
            "phase": data.get("phase"),
            "context": data.get("context"),
            "location": data.get("location"),
            "known_unit": bool(data.get("known_unit", True)),
        }
        object.__setattr__(sample, "__dict__", fields)
        return sample


@dataclass(frozen=True)
class EnergySummary:
    energy_wh: float
    first_register_wh: float | None
    last_register_wh: float | None
    register_resets: int
    register_samples: int
    first_at: datetime | None
    last_at: datetime | None
    max_power_w: float | None
    last_power_w: float | None
    unknown_unit_samples: int


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _timestamp(raw: Any) -> datetime:
    try:
        return _utc(raw if isinstance(raw, datetime) else datetime.fromisoformat(raw))
    except (TypeError, ValueError, OverflowError) as exc:
        raise MeterValueError(f"bad timestamp {raw!r}") from exc


def _base_unit(measurand: str) -> str | None:
    """W, var or VA for power measurands, Wh, varh or VAh for energy ones, None for the rest."""
    family, _, rest = measurand.partition(".")
    if family not in ("Energy", "Power") or measurand == "Power.Factor":
        return None
    base = "var" if rest.startswith("Reactive") else "VA" if rest.startswith("Apparent") else "W"
    return base + "h" if family == "Energy" else base


def _scaled(raw: int | float, exponent: int) -> float:
    try:
        result = float((Decimal(raw) if isinstance(raw, int) else Decimal(repr(raw))).scaleb(exponent))
        if math.isfinite(result):
            return result
    except ArithmeticError:
        pass
    raise MeterValueError(f"value {raw!r} x 10^{exponent} is out of range")


def normalised_sample(
    timestamp: datetime,
    measurand: str | None,
    raw_value: int | float,
    unit: str | None = None,
    multiplier: int = 0,
    phase: str | None = None,
    context: str | None = None,
    location: str | None = None,
) -> Sample:
    """One reading as sent (``None``: absent) as a normalised Sample; MeterValueError if it is no number."""
    number = isinstance(raw_value, int | float) and not isinstance(raw_value, bool)
    if not number or (isinstance(raw_value, float) and not math.isfinite(raw_value)):
        raise MeterValueError(f"value {raw_value!r} is not a finite number")
    if isinstance(multiplier, bool) or not isinstance(multiplier, int):
        raise MeterValueError(f"multiplier {multiplier!r} is not an integer")
    measurand = measurand or ENERGY_REGISTER
    base = _base_unit(measurand)
    unit = unit or base or _OTHER_UNITS.get(measurand.partition(".")[0], "Wh")
    known = base is None or unit in (base, "k" + base)
    exponent = multiplier + (3 if base is not None and unit == "k" + base else 0)
    as_sent = _scaled(raw_value, 0)
    return Sample(
        timestamp=_utc(timestamp),
        measurand=measurand,
        value=_bounded(_scaled(raw_value, exponent)) if known else as_sent,
        unit=unit,
        multiplier=multiplier,
        raw_value=as_sent,
        phase=phase,
        context=context,
        location=location,
        known_unit=known,
    )


def _bounded(value: float) -> float:
    if abs(value) > MAX_READING:
        raise MeterValueError(f"value {value!r} is beyond what a meter reads (at most {MAX_READING:g} either way)")
    return value


def _phase_sums(samples: list[Sample]) -> set[tuple[datetime, float]]:
    present = {sample.phase for sample in samples}
    family = next((set(f) for f in PHASE_FAMILIES if present & set(f)), set())
    seen = sorted(family & present)
    readings: dict[datetime, dict[str, float]] = {}
    for sample in samples:
        if sample.phase is not None and sample.phase in family:
            at = readings.setdefault(sample.timestamp, {})
            at[sample.phase] = max(at.get(sample.phase, sample.value), sample.value)
    return {(t, math.fsum(r[p] for p in seen)) for t, r in readings.items() if len(r) == len(seen)}


def _series(samples: set[Sample], measurand: str) -> list[tuple[datetime, float]]:
    """The total of one measurand over time, sorted by (timestamp, value), per rules 2-4."""
    relevant = [s for s in samples if s.measurand == measurand and s.known_unit]
    if not relevant:
        return []
    locations = {s.location or "Outlet" for s in relevant}
    location = next((loc for loc in LOCATION_PREFERENCE if loc in locations), min(locations))
    relevant = [s for s in relevant if (s.location or "Outlet") == location]
    totals = {(s.timestamp, s.value) for s in relevant if s.phase is None}
    return sorted(totals or _phase_sums(relevant))


def register_readings(samples: Iterable[Sample]) -> list[tuple[datetime, float]]:
    """The energy register's readings (Wh) in time order, as the energy figure reads them."""
    return _series(set(samples), ENERGY_REGISTER)


def exact_sum(values: list[float]) -> float:
    """The exact sum of ``values`` rounded once (``math.fsum``); infinite when beyond the largest float, where
    ``fsum`` raises (it also raises when only a partial sum is beyond it: then the exact sum decides)."""
    try:
        return math.fsum(values)
    except OverflowError:
        total = sum(map(Fraction, values), Fraction(0))
        try:
            return float(total)
        except OverflowError:
            return math.inf if total > 0 else -math.inf


def summarise(samples: Iterable[Sample]) -> EnergySummary:
    """Energy, register resets and power of a transaction's samples (rules in the module docstring)."""
    distinct = set(samples)
    register = _series(distinct, ENERGY_REGISTER)
    power = [value for _, value in _series(distinct, POWER_ACTIVE_IMPORT)]
    spans: list[float] = []
    resets = segment_start = 0
    for index in range(1, len(register)):
        if register[index][1] < register[index - 1][1]:
            spans.append(register[index - 1][1] - register[segment_start][1])
            resets, segment_start = resets + 1, index
    if register:
        spans.append(register[-1][1] - register[segment_start][1])
    return EnergySummary(
        energy_wh=max(0.0, exact_sum(spans)),
        first_register_wh=register[0][1] if register else None,
        last_register_wh=register[-1][1] if register else None,
        register_resets=resets,
        register_samples=len(register),
        first_at=register[0][0] if register else None,
        last_at=register[-1][0] if register else None,
        max_power_w=max(power) if power else None,
        last_power_w=power[-1] if power else None,
        unknown_unit_samples=sum(1 for sample in distinct if not sample.known_unit),
    )


def charging_split(
    state_changes: Iterable[tuple[datetime, str]], start: datetime, end: datetime
) -> tuple[float, float]:
    """(seconds Charging, seconds not Charging) between start and end, from ChargingStateEnumType changes."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return 0.0, 0.0
    changes = sorted((_utc(at), state == CHARGING) for at, state in state_changes)
    charging, is_charging, since = timedelta(0), False, start
    for at, now_charging in changes:
        at = min(max(at, start), end)
        if is_charging:
            charging += at - since
        is_charging, since = now_charging, at
    if is_charging:
        charging += end - since
    return charging.total_seconds(), (end - start - charging).total_seconds()
