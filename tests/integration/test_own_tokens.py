"""The platform accepts the id tokens it issued itself: a charger that authorizes remote starts (SAP's simulator
does) sends Authorize for the app's ``Central`` token before starting, and must get Accepted."""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp.v201 import call

from adapters.auth import Role
from services.remote import app_id_token
from tests.ownership_support import pair
from tests.support import LiveServer, station

USER = "driver@example.com"


def test_a_remote_start_token_is_accepted_at_that_charger_only(server: LiveServer) -> None:
    server.whitelist("CB-O1")
    server.whitelist("CB-O2")
    pair(server, "CB-O1", USER)

    async def authorize(cp: Any, value: str) -> str:
        answer = await cp.call(call.Authorize(id_token={"id_token": value, "type": "Central"}), suppress=False)
        return str(answer.id_token_info["status"])

    async def scenario() -> tuple[str, str, str, str, str]:
        async with station(server, "CB-O1") as cp, station(server, "CB-O2") as elsewhere:
            await cp.boot()
            await elsewhere.boot()
            before = await authorize(cp, app_id_token(USER))
            with server.http(role=Role.USER, email=USER) as http:
                post = lambda: http.post("/api/v1/chargers/CB-O1/transactions", json={"evse_id": 1})  # noqa: E731
                started = await asyncio.get_running_loop().run_in_executor(None, post)
            assert started.status_code == 202, started.text
            issued = next(p for a, p in cp.received if a == "RequestStartTransaction")["id_token"]["id_token"]
            at_charger, at_other = await authorize(cp, issued), await authorize(elsewhere, issued)
            event = await cp.transaction_event(
                "Started", "tx-c", 0, trigger="Authorized", wh=0, id_token={"id_token": issued, "type": "Central"}
            )
            return before, at_charger, at_other, str(event.id_token_info["status"]), issued

    before, at_charger, at_other, in_event, issued = asyncio.run(scenario())
    assert issued == app_id_token(USER)
    assert before == "Unknown"  # nothing issued yet
    assert at_charger == "Accepted" and in_event == "Accepted"
    assert at_other == "Unknown"  # issued to CB-O1, not to any charger
