"""Acting on a charger over REST: start and stop charging from the app (F01, F03), settings, reset (B11)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import MATRIX, Act, Actor, on_charger
from adapters.http import schemas
from adapters.http.common import API, json_body, runtime_of, segment
from adapters.http.etag import etag, if_match
from adapters.http.openapi import Doc, api_route


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"evse_id": 1, "id_token": "04A1B2C3"}]})
    evse_id: int | None = Field(default=None, ge=1)
    id_token: str | None = Field(default=None, min_length=1, max_length=36)


class SettingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"rfid_required": False}]})
    rfid_required: bool


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"type": "Immediate", "evse_id": 1}]})
    type: Literal["Immediate", "OnIdle"] = "OnIdle"
    evse_id: int | None = Field(default=None, ge=1, description="reset only this EVSE")


def _tx_href(station_id: str, transaction_id: str) -> str:
    return f"{API}/chargers/{segment(station_id)}/transactions/{segment(transaction_id)}"


async def start_transaction(request: Request) -> Response:
    principal, who = await on_charger(request, Act.CHARGE)
    station_id = request.path_params["station_id"]
    body: StartRequest = await json_body(request, StartRequest)
    remote = runtime_of(request).platform.remote
    any_card = who is Actor.OPERATOR
    started = await remote.start(station_id, principal.subject, body.evse_id, body.id_token, any_card)
    links: dict[str, Any] = {"transactions": {"href": f"{API}/transactions?charger={station_id}"}}
    headers = {}
    if started.transaction_id:
        links["transaction"] = {"href": _tx_href(station_id, started.transaction_id)}
        headers["Location"] = links["transaction"]["href"]
    return JSONResponse(schemas.StartAnswer.shape({**vars(started), "_links": links}), status_code=202, headers=headers)


async def stop_transaction(request: Request) -> Response:
    principal, who = await on_charger(request, Act.CHARGE)
    station_id, transaction_id = request.path_params["station_id"], request.path_params["transaction_id"]
    remote = runtime_of(request).platform.remote
    status = await remote.stop(station_id, transaction_id, principal.subject, who in MATRIX[Act.STOP_ANY])
    href = _tx_href(station_id, transaction_id)
    body = {"station_id": station_id, "transaction_id": transaction_id, "status": status}
    answer = schemas.StopAnswer.shape({**body, "_links": {"transaction": {"href": href}}})
    return JSONResponse(answer, status_code=202, headers={"Location": href})


async def put_settings(request: Request) -> Response:
    await on_charger(request, Act.SETTINGS)
    station_id = request.path_params["station_id"]
    body: SettingsRequest = await json_body(request, SettingsRequest)
    sync = runtime_of(request).platform.sync
    done = await sync.set_rfid_required(station_id, body.rfid_required, if_match(request))
    links = {"charger": {"href": f"{API}/chargers/{station_id}"}}
    answer = {"station_id": station_id, **done.view, "applied_on_charger": done.applied_on_charger, "_links": links}
    return JSONResponse(schemas.SettingsAnswer.shape(answer), headers=etag(done.view["version"]))


async def reset_charger(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.OPERATE)
    station_id = request.path_params["station_id"]
    body: ResetRequest = await json_body(request, ResetRequest)
    status = await runtime_of(request).platform.remote.reset(station_id, body.type, body.evse_id, principal.subject)
    out = {"station_id": station_id, "type": body.type, "evse_id": body.evse_id, "status": status}
    out["_links"] = {"charger": {"href": f"{API}/chargers/{station_id}"}}
    return JSONResponse(schemas.ResetAnswer.shape(out), status_code=202)


CHARGER_CALL = (404, 409, 502, 504)  # unknown charger; offline or refused; the charger's CALLERROR; no answer
routes: list[BaseRoute] = [
    api_route(
        "POST",
        API + "/chargers/{station_id}/transactions",
        start_transaction,
        Doc(
            "startTransaction",
            "Start charging (RequestStartTransaction), answered once the charger answers",
            "charging",
            {202: schemas.StartAnswer},
            (403, *CHARGER_CALL),
            body=StartRequest,
            location=(202,),
        ),
    ),
    api_route(
        "POST",
        API + "/chargers/{station_id}/transactions/{transaction_id}/stop",
        stop_transaction,
        Doc(
            "stopTransaction",
            "Stop charging (RequestStopTransaction)",
            "charging",
            {202: schemas.StopAnswer},
            (403, *CHARGER_CALL),
            location=(202,),
        ),
    ),
    api_route(
        "PUT",
        API + "/chargers/{station_id}/settings",
        put_settings,
        Doc(
            "putChargerSettings",
            "Change a charger's settings (RFID required), pushed to the charger when connected",
            "chargers",
            {200: schemas.SettingsAnswer},
            (403, 404, 409),
            body=SettingsRequest,
            if_match=True,
            etag=True,
        ),
    ),
    api_route(
        "POST",
        API + "/chargers/{station_id}/reset",
        reset_charger,
        Doc(
            "resetCharger",
            "Reset a charger or one EVSE (B11)",
            "chargers",
            {202: schemas.ResetAnswer},
            (403, *CHARGER_CALL),
            body=ResetRequest,
        ),
    ),
]
