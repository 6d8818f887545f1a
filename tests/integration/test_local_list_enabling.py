"""A SendLocalList refused as not enabled (Failed, reasonCode NotEnabled): the CSMS enables LocalAuthListCtrlr
(SetVariables) and sends once more; when the charger refuses that too, the reason is recorded and the list is not
resent at every boot."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from tests.integration.test_charging import USER, register_card
from tests.ownership_support import pair
from tests.support import LiveServer, Station, station, wait_until


class DisabledList(Station):
    """A charger whose local list is disabled until LocalAuthListCtrlr.Enabled is set (if it lets it)."""

    list_enabled = False
    enable_answer = "Accepted"

    @on(Action.send_local_list)
    async def on_send_local_list(self, version_number: int, update_type: str, **kwargs: Any) -> Any:
        await self._answer("SendLocalList", {"version_number": version_number})
        if not self.list_enabled:
            return call_result.SendLocalList(status="Failed", status_info={"reason_code": "NotEnabled"})
        self.local_list_version = version_number
        return call_result.SendLocalList(status="Accepted")

    @on(Action.set_variables)
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        await self._answer("SetVariables", {"set_variable_data": set_variable_data})
        self.list_enabled = self.enable_answer == "Accepted"
        results = [
            {"attribute_status": self.enable_answer, "component": d["component"], "variable": d["variable"]}
            for d in set_variable_data
        ]
        return call_result.SetVariables(set_variable_result=results)


def disabled_list(server: LiveServer, enable_answer: str) -> contextlib.AbstractAsyncContextManager[DisabledList]:
    return station(server, "CB-LL", DisabledList, enable_answer=enable_answer)


def sent(cp: Station) -> list[str]:
    return [a for a, _ in cp.received if a in ("SendLocalList", "SetVariables")]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_not_enabled_leads_to_enabling_the_list_and_one_resend(server: LiveServer) -> None:
    server.whitelist("CB-LL")
    pair(server, "CB-LL", USER)
    register_card(server, "CARD-LL")

    async def scenario() -> DisabledList:
        async with disabled_list(server, "Accepted") as cp:
            await cp.boot()
            await asyncio.to_thread(wait_until, lambda: cp.local_list_version == 1)
            # the charger holds the list; the platform records its answer right after
            await asyncio.to_thread(wait_until, lambda: server.platform.chargers.get("CB-LL").local_list_version == 1)
            return cp

    cp = asyncio.run(scenario())
    assert sent(cp) == ["SendLocalList", "SetVariables", "SendLocalList"]
    variable = cp.received[-2][1]["set_variable_data"][0]
    assert (variable["component"]["name"], variable["variable"]["name"]) == ("LocalAuthListCtrlr", "Enabled")
    assert variable["attribute_value"] == "true"
    assert server.platform.chargers.get("CB-LL").local_list_version == 1


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_charger_that_will_not_enable_it_has_a_recorded_reason_and_no_resend_at_boot(server: LiveServer) -> None:
    server.whitelist("CB-LL")
    pair(server, "CB-LL", USER)
    register_card(server, "CARD-LL")

    async def scenario() -> DisabledList:
        async with disabled_list(server, "Rejected") as cp:
            await cp.boot()
            await asyncio.to_thread(wait_until, lambda: len(sent(cp)) == 2)
            recorded = lambda: server.platform.chargers.get("CB-LL").local_list_answer is not None  # noqa: E731
            await asyncio.to_thread(wait_until, recorded)
            await cp.boot()  # a reboot: the list is not pushed again
            await asyncio.sleep(0.5)
            return cp

    cp = asyncio.run(scenario())
    assert sent(cp) == ["SendLocalList", "SetVariables"]
    charger = server.platform.chargers.get("CB-LL")
    assert charger.local_list_answer == (1, "NotEnabled; LocalAuthListCtrlr.Enabled: Rejected")
    with server.http() as http:
        events = http.get("/api/v1/chargers/CB-LL/events").json()
    assert "NotEnabled; LocalAuthListCtrlr.Enabled: Rejected" in str(events)
