"""The REST API (``/api/v1``): HTTP to commands and read-model queries, errors as problem+json."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.auth import Principal, Role, bearer_token, require
from adapters.http.problems import Problem
from cloudbay_domain.charger import InvalidStationId
from services.platform import ChargerAlreadyWhitelisted, ChargerNotWhitelisted

if TYPE_CHECKING:
    from adapters.wiring import Runtime

API = "/api/v1"
MAX_PAGE = 200


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def authenticate(request: Request, *roles: Role) -> Principal:
    """Who is calling, from the bearer token; with ``roles``, also whether they may."""
    principal = await verify_token(runtime_of(request), bearer_token(request.headers))
    if roles:
        require(principal, *roles)
    return principal


async def verify_token(runtime: Runtime, token: str) -> Principal:
    """Verify a bearer token. An external issuer's keys may have to be fetched: then off the event loop."""
    if runtime.settings.oauth_jwks_url:
        return await runtime.run(runtime.verifier.verify, token)
    return runtime.verifier.verify(token)


async def json_body(request: Request, model: type[BaseModel]) -> Any:
    try:
        raw = json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Problem(400, "Bad Request", "the body is not valid JSON") from None
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        errors = [
            {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "message": err["msg"]} for err in e.errors()
        ]
        raise Problem(422, "Unprocessable Content", "the body does not match the schema", errors=errors) from None


def page_limit(request: Request) -> int:
    raw = request.query_params.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise Problem(400, "Bad Request", f"limit must be an integer from 1 to {MAX_PAGE}")
    return int(raw)


class WhitelistRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    serial_number: str = Field(min_length=1, max_length=48, description="the station id the charger connects with")
    hardware_family: str = Field(default="default", min_length=1, max_length=64)


def charger_links(station_id: str) -> dict[str, Any]:
    base = f"{API}/chargers/{station_id}"
    return {"self": {"href": base}, "events": {"href": f"{base}/events"}, "fleet": {"href": f"{API}/chargers"}}


def present_charger(runtime: Runtime, row: dict[str, Any]) -> dict[str, Any]:
    session = runtime.sessions.get(row["station_id"])
    if session is not None:  # presence is tracked in memory between events (heartbeats are not events)
        live = session.last_seen.isoformat()
        row["last_seen"] = max(row["last_seen"] or live, live)
    return {**row, "_links": charger_links(row["station_id"])}


async def list_chargers(request: Request) -> Response:
    await authenticate(request, Role.OPERATOR)
    runtime = runtime_of(request)
    q = request.query_params
    presence = q.get("presence")
    if presence not in (None, "online", "offline"):
        raise Problem(400, "Bad Request", "presence must be 'online' or 'offline'")
    limit = page_limit(request)
    rows = await runtime.run(
        runtime.fleet.list_chargers,
        presence=presence,
        status=q.get("status"),
        family=q.get("family"),
        after=q.get("after"),
        limit=limit + 1,
    )
    links: dict[str, Any] = {
        "self": {"href": str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")}
    }
    if len(rows) > limit:
        rows = rows[:limit]
        params = {k: v for k, v in q.items() if k != "after"}
        params["after"] = rows[-1]["station_id"]
        links["next"] = {"href": f"{API}/chargers?" + "&".join(f"{k}={v}" for k, v in params.items())}
    return JSONResponse({"items": [present_charger(runtime, r) for r in rows], "_links": links})


async def whitelist_charger(request: Request) -> Response:
    await authenticate(request, Role.OPERATOR)
    runtime = runtime_of(request)
    body: WhitelistRequest = await json_body(request, WhitelistRequest)
    try:
        charger = await runtime.run(runtime.app.whitelist_charger, body.serial_number, body.hardware_family)
    except InvalidStationId as e:
        raise Problem(422, "Unprocessable Content", str(e)) from None
    except ChargerAlreadyWhitelisted as e:
        raise Problem(409, "Conflict", str(e)) from None
    await runtime.run(runtime.wait_for_read_models)
    row = await runtime.run(runtime.fleet.get_charger, charger.station_id)
    if row is None:  # the read model lags more than the wait allowed; answer from the aggregate
        row = {
            "station_id": charger.station_id,
            "hardware_family": charger.hardware_family,
            "presence": "offline",
            "last_seen": None,
        }
    location = f"{API}/chargers/{charger.station_id}"
    return JSONResponse(present_charger(runtime, row), status_code=201, headers={"Location": location})


async def get_charger(request: Request) -> Response:
    await authenticate(request, Role.OPERATOR)
    runtime = runtime_of(request)
    station_id = request.path_params["station_id"]
    row = await runtime.run(runtime.fleet.get_charger, station_id)
    if row is None:
        raise Problem(404, "Not Found", f"no charger {station_id}")
    return JSONResponse(present_charger(runtime, row))


def _json_default(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def present_event(event: Any) -> dict[str, Any]:
    data = {k: v for k, v in event.__dict__.items() if k not in ("originator_id", "originator_version", "timestamp")}
    return {
        "version": event.originator_version,
        "type": type(event).__qualname__,
        "timestamp": event.timestamp.isoformat(),
        "data": json.loads(json.dumps(data, default=_json_default)),
    }


async def charger_events(request: Request) -> Response:
    await authenticate(request, Role.OPERATOR)
    runtime = runtime_of(request)
    station_id = request.path_params["station_id"]
    try:
        events = await runtime.run(runtime.app.charger_history, station_id)
    except ChargerNotWhitelisted as e:
        raise Problem(404, "Not Found", str(e)) from None
    return JSONResponse(
        {
            "station_id": station_id,
            "items": [present_event(e) for e in events],
            "_links": {
                "self": {"href": f"{API}/chargers/{station_id}/events"},
                "charger": charger_links(station_id)["self"],
            },
        }
    )


routes = [
    Route(f"{API}/chargers", list_chargers, methods=["GET"]),
    Route(f"{API}/chargers", whitelist_charger, methods=["POST"]),
    Route(API + "/chargers/{station_id}", get_charger, methods=["GET"]),
    Route(API + "/chargers/{station_id}/events", charger_events, methods=["GET"]),
]
