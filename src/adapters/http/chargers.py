"""Chargers over REST: the fleet, one charger, whitelisting, the audit trail."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import MANUFACTURING, Act, on_charger
from adapters.auth import Role
from adapters.http import schemas
from adapters.http.common import API, PAGE_PARAMS, authenticate, json_body, page_limit, runtime_of, segment
from adapters.http.etag import etag
from adapters.http.openapi import Doc, api_route, query
from adapters.http.paging import paged, params_without_after, request_href
from adapters.http.problems import Problem
from cloudbay_domain.device import STATES, WHITELISTED
from cloudbay_domain.mac import MacError, normalise_mac
from cloudbay_domain.reports import ConnectorStatus

if TYPE_CHECKING:
    from adapters.wiring import Runtime


class WhitelistRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"serial_number": "CB-0001", "hardware_family": "home-22kw"}]}
    )
    serial_number: str = Field(min_length=1, max_length=48, description="the station id the charger connects with")
    hardware_family: str = Field(default="default", min_length=1, max_length=64)


def charger_links(station_id: str) -> dict[str, Any]:
    base = f"{API}/chargers/{segment(station_id)}"
    return {
        "self": {"href": base},
        "events": {"href": f"{base}/events"},
        "security": {"href": f"{base}/security"},
        "fleet": {"href": f"{API}/chargers"},
    }


def present_charger(runtime: Runtime, row: dict[str, Any]) -> dict[str, Any]:
    session = runtime.link.get(row["station_id"])
    if session is not None:  # presence is tracked in memory between events (heartbeats are not events)
        live = session.last_seen.isoformat()
        row["last_seen"] = max(row["last_seen"] or live, live)
    return {**row, "_links": charger_links(row["station_id"])}


STATUSES = tuple(s.value for s in ConnectorStatus)


def mac_query(raw: str | None) -> str | None:
    try:
        return normalise_mac(raw) if raw is not None else None
    except MacError:
        raise Problem(400, "Bad Request", "mac must be a MAC address, e.g. 70:B3:D5:10:00:2A") from None


@dataclass(frozen=True)
class ChargerQuery:
    """The fleet list's query parameters: filters, the cursor (a station id) and the page size."""

    presence: str | None
    status: str | None
    family: str | None
    after: str | None
    limit: int
    state: str | None = None
    mac: str | None = None

    @classmethod
    def parse(cls, request: Request) -> ChargerQuery:
        q = request.query_params
        presence = q.get("presence")
        if presence not in (None, "online", "offline"):
            raise Problem(400, "Bad Request", "presence must be 'online' or 'offline'")
        status = q.get("status")
        if status is not None and status not in STATUSES:
            raise Problem(400, "Bad Request", f"status must be one of {', '.join(STATUSES)}")
        state = q.get("state")
        if state is not None and state not in STATES:
            raise Problem(400, "Bad Request", f"state must be one of {', '.join(STATES)}")
        return cls(
            presence, status, q.get("family"), q.get("after"), page_limit(request), state, mac_query(q.get("mac"))
        )

    def filters(self) -> dict[str, Any]:
        """The keyword arguments of ``FleetQueries.list_chargers``, one row more than a page."""
        return {
            "presence": self.presence,
            "status": self.status,
            "family": self.family,
            "after": self.after,
            "limit": self.limit + 1,
            "state": self.state,
            "mac": self.mac,
        }


def next_chargers_href(request: Request, last: dict[str, Any]) -> str:
    """The next page: the caller's parameters as given (not re-encoded), then ``after`` the last station shown."""
    params = {**params_without_after(request), "after": last["station_id"]}
    return f"{API}/chargers?" + "&".join(f"{k}={v}" for k, v in params.items())


async def list_chargers(request: Request) -> Response:
    await authenticate(request, *MANUFACTURING)
    runtime = runtime_of(request)
    query = ChargerQuery.parse(request)
    rows = await runtime.run(runtime.fleet.list_chargers, **query.filters())
    body = paged(
        rows,
        query.limit,
        self_href=request_href(request),
        next_href=lambda last: next_chargers_href(request, last),
        present=lambda row: present_charger(runtime, row),
    )
    return JSONResponse(schemas.ChargerPage.shape(body))


async def whitelist_charger(request: Request) -> Response:
    await authenticate(request, Role.OPERATOR)
    runtime = runtime_of(request)
    body: WhitelistRequest = await json_body(request, WhitelistRequest)
    charger = await runtime.run(runtime.platform.chargers.whitelist, body.serial_number, body.hardware_family)
    await runtime.run(runtime.wait_for_read_models)
    row = await runtime.run(runtime.fleet.get_charger, charger.station_id)
    if row is None:  # the read model lags more than the wait allowed; answer from the aggregate
        row = unseen_charger(charger)
    location = f"{API}/chargers/{segment(charger.station_id)}"
    out = schemas.Charger.shape(present_charger(runtime, row))
    return JSONResponse(out, status_code=201, headers={"Location": location, **etag(out["version"])})


async def get_charger(request: Request) -> Response:
    await on_charger(request, Act.READ)
    runtime = runtime_of(request)
    station_id = request.path_params["station_id"]
    row = await runtime.run(runtime.fleet.get_charger, station_id)
    if row is None:
        raise Problem(404, "Not Found", f"no charger {station_id}")
    return JSONResponse(schemas.Charger.shape(present_charger(runtime, row)), headers=etag(row["version"]))


def unseen_charger(charger: Any) -> dict[str, Any]:
    """A just-whitelisted charger's row, from the aggregate (when the read model lags)."""
    nothing = ("node", "last_seen", "last_boot_at", "boot_reason", "vendor", "model", "serial_number")
    return {
        "station_id": charger.station_id,
        "charger_id": str(charger.id),
        "hardware_family": charger.hardware_family,
        "presence": "offline",
        "whitelisted_at": charger.created_on.isoformat(),
        **dict.fromkeys((*nothing, "firmware_version")),
        **dict.fromkeys(("boot_count", "periodic_event_reports", "data_transfers"), 0),
        "version": charger.version,
        "connectors": [],
        "state": WHITELISTED,
        "mac_address": None,
        "batch_id": None,
    }


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


def version_cursor(request: Request) -> int | None:
    raw = request.query_params.get("after")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise Problem(400, "Bad Request", "after must be an event version (follow `next`)")
    return int(raw)


async def charger_events(request: Request) -> Response:
    await on_charger(request, Act.OPERATE)
    runtime = runtime_of(request)
    station_id, after, limit = request.path_params["station_id"], version_cursor(request), page_limit(request)
    events = await runtime.run(runtime.platform.chargers.history, station_id, after, limit + 1)
    base = f"{API}/chargers/{segment(station_id)}/events"
    page = paged(
        [present_event(e) for e in events],
        limit,
        self_href=request_href(request),
        next_href=lambda last: f"{base}?{urlencode({'limit': limit, 'after': last['version']})}",
        present=lambda row: row,
    )
    page["_links"]["charger"] = charger_links(station_id)["self"]
    return JSONResponse(schemas.ChargerEvents.shape({"station_id": station_id, **page}))


FLEET_PARAMS = (
    query("presence", "online or offline", enum=["online", "offline"]),
    query("status", "chargers with a connector in this status", enum=[s.value for s in ConnectorStatus]),
    query("family", "the hardware family"),
    query("state", "chargers in this pipeline state (whitelisted: by hand, outside the pipeline)", enum=list(STATES)),
    query("mac", "the charger with this MAC address (any spelling: 70-b3-d5-10-00-2a)"),
    query("after", "the last station id of the previous page (follow `next`)"),
    *PAGE_PARAMS,
)
routes: list[BaseRoute] = [
    api_route(
        "GET",
        f"{API}/chargers",
        list_chargers,
        Doc(
            "listChargers",
            "List the fleet, by station id",
            "chargers",
            {200: schemas.ChargerPage},
            (400, 403),
            params=FLEET_PARAMS,
        ),
    ),
    api_route(
        "POST",
        f"{API}/chargers",
        whitelist_charger,
        Doc(
            "whitelistCharger",
            "Whitelist a charger by its serial number",
            "chargers",
            {201: schemas.Charger},
            (403, 409),
            body=WhitelistRequest,
            location=(201,),
            etag=True,
        ),
    ),
    api_route(
        "GET",
        API + "/chargers/{station_id}",
        get_charger,
        Doc(
            "getCharger",
            "One charger: identity, presence, boot, connectors",
            "chargers",
            {200: schemas.Charger},
            (403, 404),
            etag=True,
        ),
    ),
    api_route(
        "GET",
        API + "/chargers/{station_id}/events",
        charger_events,
        Doc(
            "listChargerEvents",
            "The charger's events, oldest first (the audit trail), a page at a time",
            "chargers",
            {200: schemas.ChargerEvents},
            (400, 403, 404),
            params=(query("after", "the last event version of the previous page (follow `next`)"), *PAGE_PARAMS),
        ),
    ),
]
