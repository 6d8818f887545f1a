"""Keeping chargers in step with the platform: the local authorization list (D01) and charger settings (B05)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from cloudbay_domain.charger import Charger
from services.chargers import Chargers
from services.id_tokens import IdTokens
from services.ports import (
    ChargerLink,
    GetLocalListVersion,
    LinkError,
    LocalListEntry,
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
    def __init__(self, chargers: Chargers, id_tokens: IdTokens, link: ChargerLink, run: Runner) -> None:
        self.chargers, self.id_tokens, self.link, self.run = chargers, id_tokens, link, run
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

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

    def push_local_list(self) -> None:
        """Send the new list to every reachable charger, in the background; each records its answer."""
        for station_id in self.link.reachable_stations():
            task = asyncio.ensure_future(self.sync_local_list(station_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def sync_local_list(self, station_id: str, ask_charger: bool = False) -> str | None:
        """Push the full local authorization list if the charger's version is behind ours (D01).

        One sync at a time per charger, reading the list inside the lock: a sync started by an older change
        can never overwrite the charger's list with an older version.
        """
        async with self._locks.setdefault(station_id, asyncio.Lock()):
            try:
                return await self._sync(station_id, ask_charger)
            except Exception:
                log.exception("local list sync with %s failed", station_id)
                return None

    async def _sync(self, station_id: str, ask_charger: bool) -> str | None:
        auth_list = await self.run(self.id_tokens.local_auth_list)
        if auth_list.list_version == 0:
            return None
        try:
            charger = await self.run(self.chargers.get, station_id)
            held = charger.local_list_version
            if ask_charger:
                held = (await self.link.request(station_id, GetLocalListVersion())).version
            if held == auth_list.list_version or _refused_for_good(charger, auth_list.list_version):
                return None
            entries = tuple(
                LocalListEntry(value, entry["type"], entry["status"])
                for value, entry in sorted(auth_list.entries.items())
            )
            request = SendLocalList(auth_list.list_version, "Full", entries)
            status = (await self.link.request(station_id, request)).status
            if status == "NotEnabled":
                status = await self._enable_and_resend(station_id, request)
        except LinkError as e:
            status = e.reason
        version = auth_list.list_version
        await self.run(self.chargers.change, station_id, lambda c: c.send_local_list(version, "Full", status))
        log.info("local list v%s sent to %s: %s", version, station_id, status)
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
NOT_ENABLED = "NotEnabled"


def _refused_for_good(charger: Charger, version: int) -> bool:
    """This list version was refused with a recorded reason (enabling the local list failed): not resent until
    the list changes."""
    answer = charger.local_list_answer
    return answer is not None and answer[0] == version and answer[1].startswith(f"{NOT_ENABLED};")
