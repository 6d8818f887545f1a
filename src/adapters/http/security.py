"""Chargers' security over REST: the configured profile, the Basic-auth password, the security events."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import Act, on_charger
from adapters.auth import Role
from adapters.http.common import API, PAGE_PARAMS, authenticate, json_body, page_limit, runtime_of, segment
from adapters.http.openapi import Doc, api_route, query
from adapters.http.paging import paged, params_without_after, request_href
from adapters.http.problems import Problem
from adapters.http.schemas import Body, Links, Timestamp
from adapters.station_passwords import MAX_LENGTH, MIN_LENGTH, generate_password, hash_password
from services.security import SecurityConfig


class ProfileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"profile": 2}]})
    profile: int = Field(
        strict=True, ge=0, le=3, description="OCPP security profile: 1 Basic auth, 2 TLS + Basic, 3 mutual TLS"
    )
    allow_unsecured: bool = Field(
        default=False, strict=True, description="needed for profile 0 (no authentication; labs only)"
    )


class PasswordRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}, {"password": "x" * 24}]})
    password: str | None = Field(
        default=None, min_length=MIN_LENGTH, max_length=MAX_LENGTH, pattern=r"^[!-~]+$", description="else generated"
    )


class Security(Body):
    station_id: str
    profile: int
    allow_unsecured: bool
    configured: bool = Field(description="false: never set; the charger connects as profile 0 (see docs/security.md)")
    password_set: bool
    links: Links


class Password(Body):
    station_id: str
    password: str = Field(description="the Basic-auth password: shown this once, only its hash is kept")
    links: Links


class SecurityEvent(Body):
    position: int
    station_id: str
    origin: str = Field(description="charger (SecurityEventNotification) or platform (a refused connection)")
    kind: str = Field(description="the OCPP security event type, or the platform's: InvalidBasicAuth, ...")
    occurred_at: Timestamp
    tech_info: str | None
    count: int = Field(description="how many times it happened (repeated failed logins are counted, not repeated)")
    first_at: Timestamp
    last_at: Timestamp
    recorded_at: Timestamp


class SecurityEventPage(Body):
    items: list[SecurityEvent]
    links: Links


def security_links(station_id: str) -> dict[str, Any]:
    base = f"{API}/chargers/{segment(station_id)}"
    return {
        "self": {"href": f"{base}/security"},
        "events": {"href": f"{base}/security-events"},
        "charger": {"href": base},
    }


def present(config: SecurityConfig) -> dict[str, Any]:
    fields = ("station_id", "profile", "allow_unsecured", "configured", "password_set")
    return Security.shape({**{f: getattr(config, f) for f in fields}, "_links": security_links(config.station_id)})


async def get_security(request: Request) -> Response:
    await on_charger(request, Act.OPERATE)
    runtime = runtime_of(request)
    config = await runtime.run(runtime.platform.security.config, request.path_params["station_id"])
    return JSONResponse(present(config))


async def put_security(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.OPERATE)
    runtime, station_id = runtime_of(request), request.path_params["station_id"]
    body: ProfileRequest = await json_body(request, ProfileRequest)
    if body.profile == 0 and not body.allow_unsecured:
        raise Problem(422, "Unprocessable Content", "profile 0 (no authentication) needs allow_unsecured: true")
    security = runtime.platform.security
    config = await runtime.run(security.set_profile, station_id, body.profile, body.allow_unsecured, principal.subject)
    return JSONResponse(present(config))


async def set_password(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.MANUFACTURE)
    runtime, station_id = runtime_of(request), request.path_params["station_id"]
    body: PasswordRequest = await json_body(request, PasswordRequest)
    password = body.password or generate_password()
    hashed = await runtime.run(hash_password, password)  # slow on purpose: off the event loop
    await runtime.run(runtime.platform.security.set_password, station_id, hashed, principal.subject)
    body_out = {"station_id": station_id, "password": password, "_links": security_links(station_id)}
    return JSONResponse(Password.shape(body_out), headers={"Cache-Control": "no-store"})


def position_cursor(request: Request) -> int | None:
    raw = request.query_params.get("after")
    if raw is not None and not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise Problem(400, "Bad Request", "after must be a position (follow `next`)")
    return int(raw) if raw is not None else None


async def list_events(request: Request, station_id: str | None) -> Response:
    runtime, after, limit = runtime_of(request), position_cursor(request), page_limit(request)
    if station_id is not None:
        await runtime.run(runtime.platform.security.config, station_id)  # 404 for a charger not whitelisted
    rows = await runtime.run(runtime.security_events.list, station_id=station_id, after=after, limit=limit + 1)
    query_args = params_without_after(request)
    page = paged(
        rows,
        limit,
        self_href=request_href(request),
        next_href=lambda last: f"{request.url.path}?{urlencode({**query_args, 'after': last['position']})}",
        present=lambda row: row,
    )
    return JSONResponse(SecurityEventPage.shape(page))


async def charger_security_events(request: Request) -> Response:
    await on_charger(request, Act.OPERATE)
    return await list_events(request, request.path_params["station_id"])


async def fleet_security_events(request: Request) -> Response:
    await authenticate(request, Role.OPERATOR)
    return await list_events(request, None)


EVENT_PARAMS = (query("after", "the last position of the previous page (follow `next`)"), *PAGE_PARAMS)
CHARGER = API + "/chargers/{station_id}"
routes: list[BaseRoute] = [
    api_route(
        "GET",
        CHARGER + "/security",
        get_security,
        Doc("getChargerSecurity", "The charger's security profile", "security", {200: Security}, (403, 404)),
    ),
    api_route(
        "PUT",
        CHARGER + "/security",
        put_security,
        Doc(
            "setChargerSecurity",
            "Set the charger's security profile",
            "security",
            {200: Security},
            (403, 404),
            body=ProfileRequest,
        ),
    ),
    api_route(
        "POST",
        CHARGER + "/password",
        set_password,
        Doc(
            "setChargerPassword",
            "Set or generate the charger's Basic-auth password (shown once)",
            "security",
            {200: Password},
            (403, 404),
            body=PasswordRequest,
        ),
    ),
    api_route(
        "GET",
        CHARGER + "/security-events",
        charger_security_events,
        Doc(
            "listChargerSecurityEvents",
            "The charger's security events, oldest first",
            "security",
            {200: SecurityEventPage},
            (400, 403, 404),
            params=EVENT_PARAMS,
        ),
    ),
    api_route(
        "GET",
        API + "/security-events",
        fleet_security_events,
        Doc(
            "listSecurityEvents",
            "The fleet's security events, oldest first",
            "security",
            {200: SecurityEventPage},
            (400, 403),
            params=EVENT_PARAMS,
        ),
    ),
]
