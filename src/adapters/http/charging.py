"""REST commands for charging: start and stop from the app (F01, F03), id tokens (C01, D01), charger settings."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Literal

from ocpp.v201 import call
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.access import check_may_act_for, check_may_use_charger, is_operator
from adapters.ocpp.charging import CallFailed
from adapters.http.problems import Problem
from adapters.http.chargers import API, authenticate, json_body, page_limit, runtime_of
from cloudbay_domain.id_token import IdToken, IdTokenError, TokenKind, TokenStatus
from cloudbay_domain.transaction import TransactionStatus
from cloudbay_domain.user import UserError
from services.charging import IdTokenAlreadyRegistered, NotYourIdToken, UnknownIdToken, UnknownTransaction
from services.platform import ChargerNotWhitelisted

if TYPE_CHECKING:
    from adapters.ocpp.station import StationSession
    from adapters.wiring import Runtime


def app_id_token(user: str) -> str:
    """The id token a start from the app carries when the user names no card (type Central, ≤ 20 chars)."""
    return "APP" + hashlib.sha256(user.encode()).hexdigest()[:17].upper()


async def online_session(runtime: Runtime, station_id: str) -> StationSession:
    if not await runtime.run(runtime.app.is_whitelisted, station_id):
        raise Problem(404, "Not Found", f"no charger {station_id}")
    session = runtime.sessions.get(station_id)
    if session is None:
        raise Problem(409, "Conflict", f"charger {station_id} is offline", reason="Offline")
    return session


def call_failed(e: CallFailed) -> Problem:
    if e.reason == "Timeout":
        return Problem(504, "Gateway Timeout", str(e), reason="Timeout")
    return Problem(502, "Bad Gateway", str(e), reason=e.reason)


# --- start and stop from the app ------------------------------------------------------------


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    evse_id: int | None = Field(default=None, ge=1)
    id_token: str | None = Field(default=None, min_length=1, max_length=36)


async def start_transaction(request: Request) -> Response:
    principal = await authenticate(request)
    runtime = runtime_of(request)
    station_id = request.path_params["station_id"]
    body: StartRequest = await json_body(request, StartRequest)
    check_may_use_charger(principal, station_id)
    if body.id_token:
        token = await load_token(runtime, body.id_token)
        check_may_act_for(principal, token.user, f"id token {token.value}")
        if token.status is not TokenStatus.ACTIVE:
            raise Problem(409, "Conflict", f"id token {token.value} is {token.status.value}")
        id_token = {"id_token": token.value, "type": token.token_type}
    else:
        id_token = {"id_token": app_id_token(principal.subject), "type": "Central"}
    session = await online_session(runtime, station_id)
    remote_start_id = runtime.app.new_remote_start_id()
    await runtime.run(
        runtime.app.record_remote_start,
        station_id,
        remote_start_id,
        principal.subject,
        body.evse_id,
        id_token["id_token"],
    )
    payload = call.RequestStartTransaction(id_token=id_token, remote_start_id=remote_start_id, evse_id=body.evse_id)
    try:
        answer = await session.request(payload)
    except CallFailed as e:
        await runtime.run(runtime.app.record_remote_start_answer, station_id, remote_start_id, e.reason, None)
        raise call_failed(e) from None
    status, transaction_id = str(answer.status), answer.transaction_id
    await runtime.run(runtime.app.record_remote_start_answer, station_id, remote_start_id, status, transaction_id)
    if status != "Accepted":
        raise Problem(409, "Conflict", f"charger {station_id} answered {status}", reason=status)
    links: dict[str, Any] = {"transactions": {"href": f"{API}/transactions?charger={station_id}"}}
    headers = {}
    if transaction_id:
        href = f"{API}/chargers/{station_id}/transactions/{transaction_id}"
        links["transaction"] = {"href": href}
        headers["Location"] = href
    body_out = {
        "station_id": station_id,
        "remote_start_id": remote_start_id,
        "status": status,
        "transaction_id": transaction_id,
        "_links": links,
    }
    return JSONResponse(body_out, status_code=202, headers=headers)


async def stop_transaction(request: Request) -> Response:
    principal = await authenticate(request)
    runtime = runtime_of(request)
    station_id, transaction_id = request.path_params["station_id"], request.path_params["transaction_id"]
    try:
        tx = await runtime.run(runtime.app.get_transaction, station_id, transaction_id)
    except UnknownTransaction as e:
        raise Problem(404, "Not Found", str(e)) from None
    check_may_act_for(principal, tx.user, f"transaction {transaction_id}")
    if tx.status is TransactionStatus.ENDED:
        raise Problem(409, "Conflict", f"transaction {transaction_id} has already ended", reason="Ended")
    session = await online_session(runtime, station_id)
    try:
        answer = await session.request(call.RequestStopTransaction(transaction_id=transaction_id))
    except CallFailed as e:
        await runtime.run(runtime.app.record_remote_stop, station_id, transaction_id, principal.subject, e.reason)
        raise call_failed(e) from None
    status = str(answer.status)
    await runtime.run(runtime.app.record_remote_stop, station_id, transaction_id, principal.subject, status)
    if status != "Accepted":
        raise Problem(409, "Conflict", f"charger {station_id} answered {status}", reason=status)
    href = f"{API}/chargers/{station_id}/transactions/{transaction_id}"
    return JSONResponse(
        {
            "station_id": station_id,
            "transaction_id": transaction_id,
            "status": status,
            "_links": {"transaction": {"href": href}},
        },
        status_code=202,
        headers={"Location": href},
    )


# --- charger settings -----------------------------------------------------------------------


class SettingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rfid_required: bool


async def put_settings(request: Request) -> Response:
    principal = await authenticate(request)
    runtime = runtime_of(request)
    station_id = request.path_params["station_id"]
    body: SettingsRequest = await json_body(request, SettingsRequest)
    if not is_operator(principal):  # owners will be allowed once ownership exists
        raise Problem(403, "Forbidden", "only an operator may change a charger's settings")
    try:
        await runtime.run(runtime.app.set_rfid_required, station_id, body.rfid_required)
    except ChargerNotWhitelisted as e:
        raise Problem(404, "Not Found", str(e)) from None
    applied = "Offline"
    session = runtime.sessions.get(station_id)
    if session is not None:  # AuthCtrlr.Enabled: whether the charger asks for an id token before charging
        variable = {
            "attribute_value": str(body.rfid_required).lower(),
            "component": {"name": "AuthCtrlr"},
            "variable": {"name": "Enabled"},
        }
        try:
            answer = await session.request(call.SetVariables(set_variable_data=[variable]))
            applied = str(answer.set_variable_result[0]["attribute_status"])
        except CallFailed as e:
            applied = e.reason
    view = await runtime.run(runtime.app.charger_view, station_id)
    return JSONResponse(
        {
            "station_id": station_id,
            **view,
            "applied_on_charger": applied,
            "_links": {"charger": {"href": f"{API}/chargers/{station_id}"}},
        }
    )


# --- id tokens ------------------------------------------------------------------------------


class CardRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id_token: str = Field(min_length=1, max_length=36)
    type: Literal["ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "EMAID", "eMAID"] = "ISO14443"
    kind: TokenKind = TokenKind.RFID
    label: str = Field(default="", max_length=64)
    user: str | None = Field(default=None, description="whose card; operators only, default: the caller")


def present_token(token: IdToken) -> dict[str, Any]:
    href = f"{API}/rfid-cards/{token.value}"
    return {
        "id_token": token.value,
        "type": token.token_type,
        "kind": token.kind.value,
        "user": token.user,
        "label": token.label,
        "status": token.status.value,
        "authorization": token.ocpp_status,
        "_links": {"self": {"href": href}, "transactions": {"href": f"{API}/transactions?card={token.value}"}},
    }


async def load_token(runtime: Runtime, value: str) -> IdToken:
    try:
        token: IdToken = await runtime.run(runtime.app.get_id_token, value)
    except UnknownIdToken as e:
        raise Problem(404, "Not Found", str(e)) from None
    return token


def push_local_list(runtime: Runtime) -> None:
    """Send the new list to every charger connected here (D01); each records its answer."""
    for session in list(runtime.sessions.sessions.values()):
        runtime.sessions.spawn(session[0].sync_local_list())


async def register_card(request: Request) -> Response:
    principal = await authenticate(request)
    runtime = runtime_of(request)
    body: CardRequest = await json_body(request, CardRequest)
    user = body.user or principal.subject
    check_may_act_for(principal, user, "registering a card for another user")
    try:
        token = await runtime.run(runtime.app.register_id_token, body.id_token, body.type, user, body.kind, body.label)
    except IdTokenAlreadyRegistered as e:
        raise Problem(409, "Conflict", str(e)) from None
    except (IdTokenError, UserError) as e:
        raise Problem(422, "Unprocessable Content", str(e)) from None
    push_local_list(runtime)
    out = present_token(token)
    return JSONResponse(out, status_code=201, headers={"Location": out["_links"]["self"]["href"]})


async def get_card(request: Request) -> Response:
    principal = await authenticate(request)
    token = await load_token(runtime_of(request), request.path_params["value"])
    check_may_act_for(principal, token.user, f"id token {token.value}")
    return JSONResponse(present_token(token))


async def list_cards(request: Request) -> Response:
    principal = await authenticate(request)
    runtime = runtime_of(request)
    user = request.query_params.get("user") or (None if is_operator(principal) else principal.subject)
    check_may_act_for(principal, user if user else None, "the card list of every user")
    limit = page_limit(request)
    rows = await runtime.run(
        runtime.id_tokens.list_tokens, user=user, after=request.query_params.get("after"), limit=limit + 1
    )
    links: dict[str, Any] = {"self": {"href": f"{API}/rfid-cards"}}
    if len(rows) > limit:
        rows = rows[:limit]
        links["next"] = {
            "href": f"{API}/rfid-cards?after={rows[-1]['id_token']}&limit={limit}" + (f"&user={user}" if user else "")
        }
    items = [{**r, "_links": {"self": {"href": f"{API}/rfid-cards/{r['id_token']}"}}} for r in rows]
    return JSONResponse({"items": items, "_links": links})


def change_card(action: str) -> Any:
    async def endpoint(request: Request) -> Response:
        principal = await authenticate(request)
        runtime = runtime_of(request)
        try:
            token = await runtime.run(
                runtime.app.change_id_token,
                request.path_params["value"],
                action,
                acting_user=principal.subject,
                operator=is_operator(principal),
            )
        except UnknownIdToken as e:
            raise Problem(404, "Not Found", str(e)) from None
        except NotYourIdToken as e:
            raise Problem(403, "Forbidden", str(e)) from None
        except IdTokenError as e:
            raise Problem(409, "Conflict", str(e)) from None
        push_local_list(runtime)
        if action == "remove":
            return Response(status_code=204)
        return JSONResponse(present_token(token))

    return endpoint


routes: list[BaseRoute] = [
    Route(API + "/chargers/{station_id}/transactions", start_transaction, methods=["POST"]),
    Route(API + "/chargers/{station_id}/transactions/{transaction_id}/stop", stop_transaction, methods=["POST"]),
    Route(API + "/chargers/{station_id}/settings", put_settings, methods=["PUT"]),
    Route(API + "/rfid-cards", register_card, methods=["POST"]),
    Route(API + "/rfid-cards", list_cards, methods=["GET"]),
    Route(API + "/rfid-cards/{value}", get_card, methods=["GET"]),
    Route(API + "/rfid-cards/{value}", change_card("remove"), methods=["DELETE"]),
    Route(API + "/rfid-cards/{value}/block", change_card("block"), methods=["POST"]),
    Route(API + "/rfid-cards/{value}/unblock", change_card("unblock"), methods=["POST"]),
]
