"""Acting on a charger over REST: start and stop charging from the app (F01, F03), settings, reset (B11)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.access import check_may_use_charger, check_operator, is_operator
from adapters.auth import Role
from adapters.http.common import API, authenticate, json_body, runtime_of


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    evse_id: int | None = Field(default=None, ge=1)
    id_token: str | None = Field(default=None, min_length=1, max_length=36)


class SettingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rfid_required: bool


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["Immediate", "OnIdle"] = "OnIdle"
    evse_id: int | None = Field(default=None, ge=1, description="reset only this EVSE")


def _tx_href(station_id: str, transaction_id: str) -> str:
    return f"{API}/chargers/{station_id}/transactions/{transaction_id}"


async def start_transaction(request: Request) -> Response:
    principal = await authenticate(request)
    station_id = request.path_params["station_id"]
    body: StartRequest = await json_body(request, StartRequest)
    check_may_use_charger(principal, station_id)
    remote = runtime_of(request).platform.remote
    started = await remote.start(station_id, principal.subject, body.evse_id, body.id_token, is_operator(principal))
    links: dict[str, Any] = {"transactions": {"href": f"{API}/transactions?charger={station_id}"}}
    headers = {}
    if started.transaction_id:
        links["transaction"] = {"href": _tx_href(station_id, started.transaction_id)}
        headers["Location"] = links["transaction"]["href"]
    return JSONResponse({**vars(started), "_links": links}, status_code=202, headers=headers)


async def stop_transaction(request: Request) -> Response:
    principal = await authenticate(request)
    station_id, transaction_id = request.path_params["station_id"], request.path_params["transaction_id"]
    remote = runtime_of(request).platform.remote
    status = await remote.stop(station_id, transaction_id, principal.subject, is_operator(principal))
    href = _tx_href(station_id, transaction_id)
    body = {"station_id": station_id, "transaction_id": transaction_id, "status": status}
    return JSONResponse(
        {**body, "_links": {"transaction": {"href": href}}}, status_code=202, headers={"Location": href}
    )


async def put_settings(request: Request) -> Response:
    principal = await authenticate(request)
    station_id = request.path_params["station_id"]
    body: SettingsRequest = await json_body(request, SettingsRequest)
    check_operator(principal, "change a charger's settings")  # owners will be allowed once ownership exists
    done = await runtime_of(request).platform.sync.set_rfid_required(station_id, body.rfid_required)
    links = {"charger": {"href": f"{API}/chargers/{station_id}"}}
    return JSONResponse(
        {"station_id": station_id, **done.view, "applied_on_charger": done.applied_on_charger, "_links": links}
    )


async def reset_charger(request: Request) -> Response:
    principal = await authenticate(request, Role.OPERATOR)
    station_id = request.path_params["station_id"]
    body: ResetRequest = await json_body(request, ResetRequest)
    status = await runtime_of(request).platform.remote.reset(station_id, body.type, body.evse_id, principal.subject)
    out = {"station_id": station_id, "type": body.type, "evse_id": body.evse_id, "status": status}
    return JSONResponse({**out, "_links": {"charger": {"href": f"{API}/chargers/{station_id}"}}}, status_code=202)


routes: list[BaseRoute] = [
    Route(API + "/chargers/{station_id}/transactions", start_transaction, methods=["POST"]),
    Route(API + "/chargers/{station_id}/transactions/{transaction_id}/stop", stop_transaction, methods=["POST"]),
    Route(API + "/chargers/{station_id}/settings", put_settings, methods=["PUT"]),
    Route(API + "/chargers/{station_id}/reset", reset_charger, methods=["POST"]),
]
