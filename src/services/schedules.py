"""Charging schedules: an accepted quote sent as SetChargingProfile (K01), cleared with ClearChargingProfile
(K10), compared with the charger's GetCompositeSchedule (K08), and ended by the platform when its plan ends or
its energy is delivered (RequestStopTransaction, F03). Every request and answer is recorded on the schedule;
a Rejected answer or a CALLERROR is refused to the caller (``ChargerRefused``), never assumed."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any
from uuid import UUID

from cloudbay_domain.charging_schedule import (
    DEFAULT_RATE_UNIT,
    STACK_LEVEL,
    ChargerSchedules,
    ChargingSchedule,
    profile_periods,
)
from cloudbay_domain.planner import to_decimal
from cloudbay_domain.quotes import Quote
from cloudbay_domain.transaction import Transaction
from services.chargers import Chargers
from services.charging_capabilities import Capabilities, capabilities_of
from services.errors import ServiceError
from services.ports import (
    CallFailed,
    ChargerLink,
    ChargerOffline,
    ChargingProfile,
    ClearChargingProfile,
    CompositeAnswer,
    GetCompositeSchedule,
    LinkError,
    RequestStop,
    SchedulePeriod,
    SetChargingProfile,
)
from services.quote_tickets import InvalidQuote, QuoteTickets, Ticket
from services.remote import ChargerRefused, Runner
from services.scheduling import Scheduling
from services.store import EventLog

# schedules' profile ids are drawn from here up; the ids below are the platform's own (load management's
# ChargingStationMaxProfile is 90000), so a schedule never replaces one of them
FIRST_PROFILE_ID = 100_000


class QuoteExpired(ServiceError):
    pass


class QuoteNotUsable(ServiceError):
    """Accepted already, for another charger, or the tariff changed since."""


class UnknownSchedule(ServiceError):
    pass


class ScheduleEnded(ServiceError):
    """Cleared, stopped, or never installed: nothing to clear."""


@dataclass(frozen=True)
class Quoted:
    quote: Quote
    quote_id: str
    expires_at: datetime


class Schedules:
    def __init__(
        self,
        log: EventLog,
        chargers: Chargers,
        scheduling: Scheduling,
        link: ChargerLink,
        run: Runner,
        key: bytes,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.log, self.chargers, self.scheduling, self.link, self.run = log, chargers, scheduling, link, run
        self.tickets = QuoteTickets(key)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.rate_unit = DEFAULT_RATE_UNIT  # what GetCompositeSchedule asks for
        self._scanned: set[str] = set()  # chargers whose schedules this process has looked at
        self._watched: set[str] = set()  # of those, the ones that may have an active schedule

    def quote(self, station_id: str, request: Any) -> Quoted:
        """A quote (``Scheduling.quote``) with the id that accepts it until it expires."""
        now = self.clock()
        version = self.scheduling.tariff_record(station_id).version
        quote = self.scheduling.quote(station_id, request, now)
        ticket = self.tickets.issue(station_id, request, now, version)
        return Quoted(quote, self.tickets.quote_id(ticket), ticket.expires_at)

    def _ticket(self, station_id: str, quote_id: str) -> Ticket:
        ticket = self.tickets.read(quote_id)
        if ticket.station_id != station_id:
            raise InvalidQuote(f"the quote is for another charger, not {station_id}")
        if self.clock() >= ticket.expires_at:
            raise QuoteExpired(f"the quote expired at {ticket.expires_at.isoformat()}: ask for a new one")
        return ticket

    # --- accepting a quote: SetChargingProfile ---------------------------------------------------

    async def accept(self, station_id: str, quote_id: str, evse_id: int, by: str) -> ChargingSchedule:
        ticket = self._ticket(station_id, quote_id)
        charger = await self.run(self.chargers.get, station_id)  # ChargerNotWhitelisted
        record = await self.run(self.scheduling.tariff_record, station_id)
        if record.version != ticket.tariff_version:
            raise QuoteNotUsable("the charger's tariff changed since the quote: ask for a new one")
        if not self.link.is_reachable(station_id):
            raise ChargerOffline(f"charger {station_id} is offline")
        quote: Quote = await self.run(self.scheduling.quote, station_id, ticket.request, ticket.quoted_at)
        transaction_id = charger.running.get(evse_id)
        digest = self.tickets.digest(quote_id)
        takes = await capabilities_of(self.link, station_id)  # its rate unit and how many periods
        schedule = await self.run(
            self._save_new, lambda: self._new(station_id, evse_id, transaction_id, quote, by, digest, takes)
        )
        request = SetChargingProfile(evse_id, self.profile(schedule))
        try:
            answer = await self.link.request(station_id, request)
        except LinkError as error:
            reason = error.reason
            await self.run(self._change, schedule.id, lambda s: s.fail(reason))
            if isinstance(error, CallFailed):
                raise ChargerRefused(station_id, reason) from None
            raise
        done = await self.run(self._change, schedule.id, lambda s: s.answer(answer.status))
        self._watched.add(station_id)
        if answer.status != "Accepted":
            raise ChargerRefused(station_id, answer.status)
        return done

    def _new(
        self, station_id: str, evse_id: int, tx: str | None, quote: Quote, by: str, digest: str, takes: Capabilities
    ) -> ChargingSchedule:
        plan = quote.plan
        periods = profile_periods(plan, quote.limits, takes.rate_unit, takes.max_periods)
        return ChargingSchedule(
            station_id=station_id,
            quote=digest,
            evse_id=evse_id,
            profile_id=FIRST_PROFILE_ID + secrets.randbelow(2**31 - FIRST_PROFILE_ID),
            purpose="TxProfile" if tx is not None else "TxDefaultProfile",
            transaction_id=tx,
            rate_unit=takes.rate_unit,
            start=plan.slots[0].start,
            end=plan.slots[-1].end,
            periods=[[str(at), str(limit)] for at, limit in periods],
            energy_wh=str(plan.energy_wh),
            cost=str(plan.cost),
            currency=quote.tariff.currency,
            by=by,
        )

    @staticmethod
    def profile(schedule: ChargingSchedule) -> ChargingProfile:
        periods = tuple(
            SchedulePeriod(int(at), float(to_decimal(Fraction(limit), 1))) for at, limit in schedule.periods
        )
        return ChargingProfile(
            id=schedule.profile_id,
            stack_level=STACK_LEVEL,
            purpose=schedule.purpose,
            kind="Absolute",
            rate_unit=schedule.rate_unit,
            periods=periods,
            start=schedule.start,
            duration=int((schedule.end - schedule.start).total_seconds()),
            valid_from=schedule.start,
            valid_to=schedule.end,
            transaction_id=schedule.transaction_id,
        )

    def _save_new(self, new: Callable[[], ChargingSchedule]) -> ChargingSchedule:
        """Record the schedule and add it to its charger's index; a quote accepted already is refused."""

        def attempt() -> tuple[ChargingSchedule, list[Any]]:
            schedule = new()
            if self.log.load_or_none(schedule.id) is not None:
                raise QuoteNotUsable("the quote was accepted already")
            index: ChargerSchedules | None = self.log.load_or_none(ChargerSchedules.create_id(schedule.station_id))
            index = index if index is not None else ChargerSchedules(schedule.station_id)
            index.add(schedule.id)
            return schedule, [index, schedule]

        return self.log.retrying(attempt, "a new schedule")

    def _change(self, schedule_id: UUID, change: Callable[[ChargingSchedule], None]) -> ChargingSchedule:
        def attempt() -> tuple[ChargingSchedule, list[Any]]:
            schedule: ChargingSchedule = self.log.load(schedule_id, UnknownSchedule("no such schedule"))
            change(schedule)
            return schedule, [schedule]

        return self.log.retrying(attempt, f"schedule {schedule_id}")

    # --- reading, clearing, comparing -------------------------------------------------------------

    def of_charger(self, station_id: str) -> list[ChargingSchedule]:
        """The charger's schedules, newest first."""
        self.chargers.get(station_id)
        index: ChargerSchedules | None = self.log.load_or_none(ChargerSchedules.create_id(station_id))
        ids = index.schedule_ids if index is not None else []
        return [self.log.load(i, UnknownSchedule("no such schedule")) for i in reversed(ids)]

    def get(self, station_id: str, schedule_id: UUID) -> ChargingSchedule:
        missing = UnknownSchedule(f"no schedule {schedule_id} on charger {station_id}")
        schedule: ChargingSchedule | None = self.log.load_or_none(schedule_id)
        if schedule is None or not isinstance(schedule, ChargingSchedule) or schedule.station_id != station_id:
            raise missing
        return schedule

    async def clear(self, station_id: str, schedule_id: UUID, by: str) -> ChargingSchedule:
        """Remove the schedule's profile from the charger (an Unknown answer: it had gone already)."""
        schedule = await self.run(self.get, station_id, schedule_id)
        if not schedule.active:
            raise ScheduleEnded(f"schedule {schedule_id} is {schedule.state.value}: nothing to clear")
        if not self.link.is_reachable(station_id):
            raise ChargerOffline(f"charger {station_id} is offline")
        try:
            answer = await self.link.request(station_id, ClearChargingProfile(profile_id=schedule.profile_id))
        except CallFailed as error:
            raise ChargerRefused(station_id, error.reason) from None
        if answer.status not in ("Accepted", "Unknown"):
            raise ChargerRefused(station_id, answer.status)
        return await self.run(self._change, schedule.id, lambda s: s.clear(by, answer.status))

    async def composite(self, station_id: str, evse_id: int, duration: int) -> CompositeAnswer:
        """What the charger will do on the EVSE over the next ``duration`` seconds (K08)."""
        await self.run(self.chargers.get, station_id)
        try:
            answer = await self.link.request(station_id, GetCompositeSchedule(duration, evse_id, self.rate_unit))
        except CallFailed as error:
            raise ChargerRefused(station_id, error.reason) from None
        if answer.status != "Accepted":
            raise ChargerRefused(station_id, answer.status)
        return answer

    # --- plug-in and done -------------------------------------------------------------------------

    async def follow(self) -> list[ChargingSchedule]:
        """One round over the reachable chargers' active schedules: stop what is done; the schedules ended.

        Only the chargers known to have an active schedule are read each round (``_watched``): a charger this
        process has not looked at yet (one that connected since) is looked at once, and accepting adds it."""
        ended: list[ChargingSchedule] = []
        for station_id in self.link.reachable_stations():
            if station_id not in self._scanned:
                self._scanned.add(station_id)
                self._watched.add(station_id)
            if station_id not in self._watched:
                continue
            active = await self.run(self._active, station_id)
            if not active:
                self._watched.discard(station_id)
            for schedule in active:
                done = await self._end_if_done(schedule)
                if done is not None:
                    ended.append(done)
        return ended

    def _active(self, station_id: str) -> list[ChargingSchedule]:
        index: ChargerSchedules | None = self.log.load_or_none(ChargerSchedules.create_id(station_id))
        if index is None:
            return []
        schedules = (self.log.load_or_none(i) for i in index.schedule_ids)
        return [s for s in schedules if isinstance(s, ChargingSchedule) and s.active]

    async def _end_if_done(self, schedule: ChargingSchedule) -> ChargingSchedule | None:
        station_id, now = schedule.station_id, self.clock()
        charger = await self.run(self.chargers.get, station_id)
        tx_id = charger.running.get(schedule.evse_id)
        if schedule.transaction_id is not None and tx_id != schedule.transaction_id:
            tx_id = None  # the schedule's own transaction ended: a later one is not this plan's
        reason = "PlanEnded" if now >= schedule.end else None
        if reason is None and tx_id is not None and now >= schedule.start:
            tx: Transaction | None = await self.run(self.log.load_or_none, Transaction.create_id(station_id, tx_id))
            delivered = Fraction(str(tx.figures().get("energy_wh", 0))) if tx is not None else Fraction(0)
            if delivered >= Fraction(schedule.energy_wh):
                reason = "EnergyDelivered"
        if reason is None:
            return None
        answer = None
        if tx_id is not None:
            try:
                answer = (await self.link.request(station_id, RequestStop(tx_id))).status
            except LinkError:
                return None  # not sent (offline, no answer): the next round tries again
        final = reason
        return await self.run(self._change, schedule.id, lambda s: s.stop(final, tx_id, answer))
