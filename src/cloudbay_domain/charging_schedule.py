"""An accepted quote sent to a charger as a charging profile (``ChargingSchedule``), and the pure conversion of
a plan into the profile's periods.

A schedule is its own small aggregate (one per accepted quote: its id is derived from the quote, so a quote is
accepted once), so the charger's stream does not grow with plans. Its life: Requested (the profile about to be
sent), then Accepted, Rejected (the charger's status) or Failed (Offline, Timeout, a CALLERROR code); an
accepted one ends Cleared (ClearChargingProfile, by whom) or Stopped (the platform's RequestStopTransaction or
the plan's end, and why).
"""

from __future__ import annotations

import enum
from datetime import datetime
from fractions import Fraction
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.planner import EvLimits, Plan

DEFAULT_MAX_PERIODS = 24  # SmartChargingCtrlr.PeriodsPerSchedule when the charger's value is not known
DEFAULT_RATE_UNIT = "A"  # every 2.0.1 charger takes amperes; W only if SmartChargingCtrlr.RateUnit lists it
STACK_LEVEL = 1  # above a charger's own defaults (level 0); a site's ChargingStationMaxProfile caps it anyway


class ScheduleState(str, enum.Enum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"
    CLEARED = "cleared"
    STOPPED = "stopped"


def profile_periods(
    plan: Plan, limits: EvLimits, rate_unit: str, max_periods: int = DEFAULT_MAX_PERIODS
) -> list[tuple[int, Fraction]]:
    """The plan as (seconds from its first slot, limit in ``rate_unit``) periods, equal neighbours joined, at most
    ``max_periods``: the closest neighbours are joined at the higher limit (never above the charger's or the
    EV's cap, which is the same in every slot of one charger's plan; the platform stops at the planned energy)."""
    if not plan.slots:
        return []
    origin = plan.slots[0].start
    periods: list[tuple[int, Fraction]] = []
    for slot, power in zip(plan.slots, plan.powers, strict=True):
        limit = power if rate_unit == "W" else limits.current_a(power)
        if not periods or periods[-1][1] != limit:
            periods.append((int((slot.start - origin).total_seconds()), limit))
    while len(periods) > max(1, max_periods):
        i = min(range(len(periods) - 1), key=lambda k: abs(periods[k][1] - periods[k + 1][1]))
        periods[i : i + 2] = [(periods[i][0], max(periods[i][1], periods[i + 1][1]))]
        if i + 1 < len(periods) and periods[i + 1][1] == periods[i][1]:
            del periods[i + 1]  # the joined period now equals its next neighbour
        if i > 0 and periods[i - 1][1] == periods[i][1]:
            del periods[i]
    return periods


class ChargingSchedule(Aggregate):
    """One accepted quote on one EVSE of one charger, as the profile sent and what became of it."""

    @staticmethod
    def create_id(station_id: str, quote: str) -> UUID:
        """One schedule per accepted quote (``quote``: a digest of its id)."""
        return uuid5(NAMESPACE_URL, f"cloudbay:charging-schedule:{station_id}:{quote}")

    class Requested(Aggregate.Created):
        station_id: str
        quote: str
        evse_id: int
        profile_id: int
        purpose: str  # TxProfile (a transaction ran) or TxDefaultProfile (ahead of plug-in)
        transaction_id: str | None
        rate_unit: str
        start: datetime
        end: datetime
        periods: list[list[str]]  # [seconds from start, limit] as text: exact, never floats
        energy_wh: str  # the plan's energy
        cost: str  # the plan's cost in ``currency``
        currency: str
        by: str

    @event(Requested)
    def __init__(
        self,
        station_id: str,
        quote: str,
        evse_id: int,
        profile_id: int,
        purpose: str,
        transaction_id: str | None,
        rate_unit: str,
        start: datetime,
        end: datetime,
        periods: list[list[str]],
        energy_wh: str,
        cost: str,
        currency: str,
        by: str,
    ) -> None:
        self.station_id, self.quote, self.evse_id, self.profile_id = station_id, quote, evse_id, profile_id
        self.purpose, self.transaction_id, self.rate_unit = purpose, transaction_id, rate_unit
        self.start, self.end, self.periods = start, end, periods
        self.energy_wh, self.cost, self.currency, self.by = energy_wh, cost, currency, by
        self.state = ScheduleState.REQUESTED
        self.reason: str | None = None  # the charger's status, the failure, or why it was stopped
        self.ended_by: str | None = None
        self.stop_answer: str | None = None

    class Answered(Aggregate.Event):
        state: str  # accepted, rejected or failed
        reason: str | None

    @event(Answered)
    def _answered(self, state: str, reason: str | None) -> None:
        self.state, self.reason = ScheduleState(state), reason

    def answer(self, status: str) -> None:
        """The charger's answer to SetChargingProfile."""
        accepted = status == "Accepted"
        self._answered(state=(ScheduleState.ACCEPTED if accepted else ScheduleState.REJECTED).value, reason=status)

    def fail(self, reason: str) -> None:
        """No answer to read: Offline, Timeout or the code of a CALLERROR."""
        self._answered(state=ScheduleState.FAILED.value, reason=reason)

    class Cleared(Aggregate.Event):
        by: str
        answer: str  # ClearChargingProfile's status: Accepted, or Unknown (the charger no longer had it)

    @event(Cleared)
    def clear(self, by: str, answer: str) -> None:
        self.state, self.reason, self.ended_by = ScheduleState.CLEARED, answer, by

    class Stopped(Aggregate.Event):
        reason: str  # PlanEnded or EnergyDelivered
        transaction_id: str | None  # the transaction RequestStopTransaction was sent for (None: none ran)
        answer: str | None = None  # the charger's answer to it

    @event(Stopped)
    def stop(self, reason: str, transaction_id: str | None, answer: str | None = None) -> None:
        self.state, self.reason, self.ended_by = ScheduleState.STOPPED, reason, "platform"
        if transaction_id is not None:
            self.transaction_id = transaction_id
        self.stop_answer = answer

    @property
    def active(self) -> bool:
        """Installed on the charger and not ended."""
        return self.state is ScheduleState.ACCEPTED


class ChargerSchedules(Aggregate):
    """The schedules of one charger, newest last (an index: the schedules are their own aggregates)."""

    KEPT = 50

    @staticmethod
    def create_id(station_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:charger-schedules:{station_id}")

    class Created(Aggregate.Created):
        station_id: str

    @event(Created)
    def __init__(self, station_id: str) -> None:
        self.station_id = station_id
        self.schedule_ids: list[UUID] = []

    class Added(Aggregate.Event):
        schedule_id: UUID

    @event(Added)
    def add(self, schedule_id: UUID) -> None:
        self.schedule_ids = [*self.schedule_ids, schedule_id][-self.KEPT :]
