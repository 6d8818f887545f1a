"""Keeping chargers in step with the platform: the local authorization list (D01) and charger settings (B05)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from cloudbay_domain.charger import LocalEntries
from services.chargers import Chargers
from services.local_lists import NOT_ENABLED, LocalLists, refused_for_good, update
from services.ports import (
    ChargerLink,
    GetLocalListVersion,
    LinkError,
    SendLocalList,
    SetVariable,
)

log = logging.getLogger("cloudbay.sync")
Runner = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class SettingsApplied:
    view: dict[str, Any]
    applied_on_charger: str  # the charger's answer, or Offline / Timeout / an error code


class ChargerSync:
    def __init__(self, chargers: Chargers, lists: LocalLists, link: ChargerLink, run: Runner) -> None:
        self.chargers, self.lists, self.link, self.run = chargers, lists, link, run
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None  # where the charger sessions run (seen at a sync)

    async def set_rfid_required(
        self, station_id: str, required: bool, expected: Collection[int] | None = None
    ) -> SettingsApplied:
        """Record the setting (only at the ``expected`` versions, when given), then tell the charger
        (AuthCtrlr.Enabled) if it is reachable."""
        await self.run(self.chargers.set_rfid_required, station_id, required, expected)
        applied = "Offline"
        if self.link.is_reachable(station_id):
            try:
                request = SetVariable("AuthCtrlr", "Enabled", str(required).lower())
                applied = (await self.link.request(station_id, request)).status
            except LinkError as e:
                applied = e.reason
        return SettingsApplied(await self.run(self.chargers.view, station_id), applied)

    def push_local_list(self, stations: Iterable[str] | None = None) -> None:
        """Bring the local lists of the reachable chargers among ``stations`` (None: every one) up to date,
        in the background; each records its answer. A charger offline now is brought up to date at its boot.
        Any thread may call it."""
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:  # called from a store thread: hand it to the loop the sessions run on
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self.push_local_list, stations)
            return
        reachable = self.link.reachable_stations()
        for station_id in reachable if stations is None else set(stations) & set(reachable):
            task = asyncio.ensure_future(self.sync_local_list(station_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def sync_local_list(self, station_id: str, ask_charger: bool = False) -> str | None:
        """Send the charger its own local authorization list when it holds another one (D01); ``ask_charger``:
        ask which version it holds first (GetLocalListVersion), after a boot.

        One sync at a time per charger, reading the list inside the lock: a sync started by an older change
        can never overwrite the charger's list with an older one.
        """
        self._loop = asyncio.get_running_loop()
        async with self._locks.setdefault(station_id, asyncio.Lock()):
            try:
                return await self._sync(station_id, ask_charger)
            except Exception:
                log.exception("local list sync with %s failed", station_id)
                return None

    async def _sync(self, station_id: str, ask_charger: bool) -> str | None:
        wanted = await self.run(self.lists.entries_for, station_id)
        charger = await self.run(self.chargers.get, station_id)
        version, held = charger.local_list_version, charger.local_list_entries
        if not wanted and version == 0 and held == {}:
            return None  # never sent a list, none to send: not even asked
        request = update(version + 1, None, wanted)
        try:
            if ask_charger:
                reported = (await self.link.request(station_id, GetLocalListVersion())).version
                if reported != version:  # the charger lost or changed its list: what it holds is not known
                    version, held = max(version, reported), None
            if held == wanted or refused_for_good(charger, wanted):
                return None
            request = update(version + 1, held, wanted)
            status = await self._send(station_id, request, wanted)
        except LinkError as e:
            status = e.reason
        sent = (request.version, request.update_type, status, wanted)
        await self.run(self.chargers.change, station_id, lambda c: c.send_local_list(*sent))
        log.info("local list v%s (%s) sent to %s: %s", request.version, request.update_type, station_id, status)
        return status

    async def _send(self, station_id: str, request: SendLocalList, wanted: LocalEntries) -> str:
        status = (await self.link.request(station_id, request)).status
        if status == "VersionMismatch" and request.update_type == "Differential":  # the charger's version moved
            request = update(request.version, None, wanted)
            status = (await self.link.request(station_id, request)).status
        if status == NOT_ENABLED:
            status = await self._enable_and_resend(station_id, request)
        return status

    async def _enable_and_resend(self, station_id: str, request: SendLocalList) -> str:
        """A charger whose local list is disabled: enable it (LocalAuthListCtrlr.Enabled) and send once more.
        What is recorded says why the list is not there when that fails, so that it is not resent at every
        boot: ``NotEnabled; LocalAuthListCtrlr.Enabled: Rejected`` (or the failure's reason)."""
        try:
            enabled = (await self.link.request(station_id, SetVariable(*LOCAL_LIST_ENABLED, "true"))).status
        except LinkError as e:
            enabled = e.reason
        if enabled not in ("Accepted", "RebootRequired"):
            log.warning("%s refuses the local list and enabling it: %s", station_id, enabled)
            return f"{NOT_ENABLED}; {'.'.join(LOCAL_LIST_ENABLED)}: {enabled}"
        status = (await self.link.request(station_id, request)).status
        return status if status != "NotEnabled" else f"{NOT_ENABLED}; {'.'.join(LOCAL_LIST_ENABLED)}: {enabled}"


LOCAL_LIST_ENABLED = ("LocalAuthListCtrlr", "Enabled")
