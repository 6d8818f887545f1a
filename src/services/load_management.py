"""Live load management: keeps the sum of the chargers' limits within every circuit of a site, at every moment.

A site is re-balanced (``load_balancing.balance``) when a car arrives or leaves (a transaction starts or ends on
one of its chargers), a charger boots, or the site changes (``Sites`` tells, after its commit). Each charger's
limit goes to it as a ``ChargingStationMaxProfile`` (``profile_for``): its share now, for ``validity``, then its
**safe share** (its share when every charger of the site charges, never more than its share now) for as long as
it is not renewed. So a charger that loses its connection stays safe on its own: its last limit is counted
until it falls back, and the safe shares of all chargers together fit every circuit.

Sends are ordered: every limit that goes down is sent (and answered) before any that goes up, so the sum never
exceeds a circuit in between. A charger that does not take a lower limit (offline, timeout, refused) keeps
counting at the higher one and the site is balanced again without it. What was sent is kept in memory (this
node holds the connections); a charger never sent a limit by this process counts at its own maximum while
offline.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from cloudbay_domain.load_balancing import ChargerLoad, balance, safe_shares
from cloudbay_domain.load_balancing import Site as BalancedSite
from cloudbay_domain.sites import SiteLayout
from services.chargers import Chargers
from services.ports import (
    ChargerLink,
    ChargingProfile,
    ClearChargingProfile,
    LinkError,
    SchedulePeriod,
    SetChargingProfile,
)
from services.sites import Sites

log = logging.getLogger("cloudbay.load")
Runner = Callable[..., Awaitable[Any]]
VALIDITY = timedelta(minutes=30)  # a limit above the safe share holds this long unless renewed
MAX_ROUNDS = 4  # re-balancing again after refusals of lower limits, at most
RENEW_SECONDS = VALIDITY.total_seconds() / 3  # how often every site is balanced again, renewing raised limits
LOAD_PROFILE_ID = 90_000  # the one ChargingStationMaxProfile of load management: each send replaces it (K01)
LOAD_STACK_LEVEL = 0  # its own purpose: no other profile (a schedule's TxProfile) shares its stack


@dataclass(frozen=True)
class LimitProfile:
    """What a charger is sent: ``amps`` from ``start`` until ``until``, then ``safe_amps`` (A per phase)."""

    amps: Fraction
    safe_amps: Fraction
    start: datetime
    until: datetime

    def at(self, now: datetime) -> Fraction:
        return self.amps if now < self.until else self.safe_amps


Sender = Callable[[str, LimitProfile], Awaitable[str]]  # sends the profile; the charger's status, or LinkError


def profile_for(limit: LimitProfile) -> SetChargingProfile:
    """The SetChargingProfile of a limit: the whole station (EVSE 0), in A, its share from now, then its safe share
    from ``until`` on, for as long as no other limit replaces it."""
    periods: tuple[SchedulePeriod, ...] = (SchedulePeriod(0, float(limit.amps)),)
    if limit.safe_amps != limit.amps:
        periods += (SchedulePeriod(int((limit.until - limit.start).total_seconds()), float(limit.safe_amps)),)
    profile = ChargingProfile(
        LOAD_PROFILE_ID,
        LOAD_STACK_LEVEL,
        "ChargingStationMaxProfile",
        "Absolute",
        "A",
        periods,
        start=limit.start,
    )
    return SetChargingProfile(0, profile)


def floor_tenth(amps: Fraction) -> Fraction:
    """Limits are sent in tenths of an ampere, rounded down (never above the share)."""
    return Fraction(math.floor(amps * 10), 10)


class LoadManager:
    def __init__(
        self,
        sites: Sites,
        chargers: Chargers,
        link: ChargerLink,
        run: Runner,
        sender: Sender | None = None,  # None: SetChargingProfile through the link
        clock: Callable[[], datetime] | None = None,
        validity: timedelta = VALIDITY,
    ) -> None:
        self.sites, self.chargers, self.link, self.run = sites, chargers, link, run
        self.sender = sender or self._through_link
        self.clock = clock or (lambda: datetime.now(UTC))
        self.validity = validity
        self.sent: dict[str, LimitProfile] = {}  # what each charger holds (as far as this node knows)
        self.arrivals: dict[str, datetime] = {}  # since when a car is on a charger
        self.members: dict[str, set[str]] = {}  # each site's chargers at its last re-balance
        self.releasing: set[str] = set()  # taken off every site while offline: their limit is cleared at boot
        self._lock = asyncio.Lock()  # one re-balance at a time: each starts from what the last one sent
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        sites.listeners.append(self.sites_changed)

    async def _through_link(self, station_id: str, limit: LimitProfile) -> str:
        return (await self.link.request(station_id, profile_for(limit))).status

    # --- what triggers a re-balance -------------------------------------------------------------

    def attach(self) -> None:
        """Re-balance on the running loop (the one the charger sessions run on) what store threads hand over."""
        self._loop = asyncio.get_running_loop()

    def sites_changed(self, roots: Iterable[str]) -> None:
        """After a committed change of sites (any thread): re-balance them in the background."""
        self._background(list(roots), ())

    def transaction_changed(self, station_id: str) -> None:
        """A car arrived or left at the charger (after its TransactionEvent was committed)."""
        self._background(None, (station_id,))

    async def after_boot(self, station_id: str) -> None:
        """The charger booted: its site is re-balanced and it is sent its limit, changed or not."""
        self.sent.pop(station_id, None)  # what it held before its boot is not known anymore
        if station_id in self.releasing:
            await self._release(station_id)
        await self.rebalance_station(station_id, force=(station_id,))

    def _background(self, roots: list[str] | None, stations: tuple[str, ...]) -> None:
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:  # a store thread: hand it to the loop the sessions run on
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._background, roots, stations)
            return
        if roots is not None:
            work: Awaitable[Any] = self._rebalance_roots(roots)
        else:
            work = self.rebalance_station(stations[0])
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _rebalance_roots(self, roots: list[str]) -> None:
        for root in roots:
            await self.rebalance(root)

    async def rebalance_station(self, station_id: str, force: Iterable[str] = ()) -> None:
        self._loop = asyncio.get_running_loop()
        layout = self.sites.fresh_layout()  # on every arrival and departure: no thread hop while it is fresh
        layout = layout if layout is not None else await self.run(self.sites.recent_layout)
        root = layout.site_of(station_id)
        if root is not None:  # the re-balance itself reads the layout as it is now
            await self.rebalance(root, force)

    async def renew(self) -> None:
        """Balance every site again: a raised limit near its fall-back is renewed, any drift is mended."""
        layout = await self.run(self.sites.layout)
        for site in layout.sites():
            await self.rebalance(site.node_id, layout=layout)

    # --- the re-balance ---------------------------------------------------------------------------

    async def rebalance(self, root: str, force: Iterable[str] = (), layout: SiteLayout | None = None) -> None:
        """Balance the site ``root`` now and send every charger whose limit changed (lower ones first)."""
        self._loop = asyncio.get_running_loop()
        async with self._lock:
            try:
                await self._rebalance(root, set(force), layout)
            except Exception:
                log.exception("re-balancing site %s failed", root)

    async def _rebalance(self, root: str, force: set[str], layout: SiteLayout | None) -> None:
        layout = layout if layout is not None else await self.run(self.sites.layout)
        before = self.members.pop(root, set())
        if root in layout.nodes:
            self.members[root] = set(layout.balanced(root).chargers)
        for station_id in sorted(before - self.members.get(root, set())):
            if layout.site_of(station_id) is None:
                await self._release(station_id)
        if root not in layout.nodes:
            return
        site = layout.balanced(root)
        now = self.clock()
        safe = safe_shares(site)  # every charger charging
        cars = await self._cars(site, now)
        refused: set[str] = set()
        for _ in range(MAX_ROUNDS):
            wanted = self._plan(site, cars, safe, refused, now)
            changed = {s: p for s, p in wanted.items() if s in force or self._differs(s, p)}
            # lowered first, and the others only once every lowering was taken; a charger whose holding is not
            # known (just booted) is not "lowered": its share counts on the others' lowering, so it waits for it
            downs = {s: p for s, p in changed.items() if s in self.sent and p.amps < self.sent[s].at(now)}
            tried, failed = downs, await self._send_all(downs)
            if not failed:
                tried, failed = changed, await self._send_all({s: p for s, p in changed.items() if s not in downs})
            force -= set(tried) - failed
            if not failed:
                return
            refused |= failed  # they keep counting at the higher limit: balance again around them
        log.warning("site %s: chargers %s keep refusing lower limits", root, sorted(refused))

    async def _release(self, station_id: str) -> None:
        """A charger taken off every site: its limit is cleared (K10), now or at its next boot."""
        self.sent.pop(station_id, None)
        self.arrivals.pop(station_id, None)
        try:
            status = (await self.link.request(station_id, ClearChargingProfile(profile_id=LOAD_PROFILE_ID))).status
        except LinkError as e:
            status = e.reason
        if status in ("Accepted", "Unknown"):
            self.releasing.discard(station_id)
        else:
            self.releasing.add(station_id)
        log.info("%s is on no site anymore: its limit cleared: %s", station_id, status)

    async def _cars(self, site: BalancedSite, now: datetime) -> dict[str, datetime | None]:
        running = await self.run(self._running, list(site.chargers))  # one store call for the whole site
        cars: dict[str, datetime | None] = {}
        for station_id in site.chargers:
            if station_id in running:
                cars[station_id] = self.arrivals.setdefault(station_id, now)
            else:
                self.arrivals.pop(station_id, None)
                cars[station_id] = None
        return cars

    def _running(self, stations: list[str]) -> set[str]:
        """The chargers among ``stations`` with a transaction running (a car on them)."""
        return {s for s in stations if self.chargers.get(s).running}

    def _plan(
        self,
        site: BalancedSite,
        cars: dict[str, datetime | None],
        safe: dict[str, Fraction],
        refused: set[str],
        now: datetime,
    ) -> dict[str, LimitProfile]:
        """The profile of every reachable charger that takes one; the others count at what they hold."""
        loads = []
        for station_id, charger in site.chargers.items():
            reachable = self.link.is_reachable(station_id) and station_id not in refused
            if reachable:
                loads.append(ChargerLoad(**{**vars(charger), "arrived_at": cars[station_id]}))
                continue
            # what it holds now (a raised limit until its fall-back, then its safe share); never sent one: its maximum
            held = self.sent[station_id].at(now) if station_id in self.sent else charger.max_current_a
            loads.append(ChargerLoad(**{**vars(charger), "held_a": held, "held_until": None}))
        limits = balance(BalancedSite(site.root, loads), now)
        profiles: dict[str, LimitProfile] = {}
        for load in loads:
            if load.held_a is None:
                amps = floor_tenth(limits[load.station_id])
                fallback = floor_tenth(min(limits[load.station_id], safe[load.station_id]))
                profiles[load.station_id] = LimitProfile(amps, fallback, now, now + self.validity)
        return profiles

    def _differs(self, station_id: str, profile: LimitProfile) -> bool:
        held = self.sent.get(station_id)
        if held is None:
            return True
        renew = held.until - profile.start < self.validity / 2  # a raised limit near its fall-back is renewed
        return (
            held.amps != profile.amps or held.safe_amps != profile.safe_amps or (renew and held.amps > held.safe_amps)
        )

    async def _send_all(self, profiles: dict[str, LimitProfile]) -> set[str]:
        """Send every profile at once; the chargers that did not take theirs (they count at the higher one)."""
        outcomes = await asyncio.gather(*(self._send(s, p) for s, p in profiles.items()))
        return {s for s, ok in zip(profiles, outcomes, strict=True) if not ok}

    async def _send(self, station_id: str, profile: LimitProfile) -> bool:
        before = self.sent.get(station_id)
        try:
            status = await self.sender(station_id, profile)
        except LinkError as e:
            status = e.reason
        if status == "Accepted":
            self.sent[station_id] = profile
            log.info("%s limited to %s A (then %s A)", station_id, float(profile.amps), float(profile.safe_amps))
            return True
        log.warning("%s did not take its limit of %s A: %s", station_id, float(profile.amps), status)
        if before is not None and before.at(profile.start) < profile.amps:  # it may hold either: count the higher
            self.sent[station_id] = LimitProfile(
                profile.amps, max(before.safe_amps, profile.safe_amps), profile.start, max(before.until, profile.until)
            )
        return False
