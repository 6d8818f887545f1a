"""The access matrix, route by route: every route of the API (read from the app, so a new route without an
entry fails here) called by every actor, and the answer checked against the table "Who may do what" in
docs/api.md. A cell says what the actor gets: ``yes`` or ``own`` (allowed; ``own``: only what is theirs, another
user's things are missing to them), ``public`` (no token needed), ``403``, or ``404`` (as if the charger did not
exist). Allowed means neither 401 nor 403, nor the 404 a stranger gets ("no charger ...")."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route, WebSocketRoute
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from adapters.auth import Role
from adapters.http.app import app_routes
from cloudbay_domain.id_token import TokenKind
from tests.integration.test_history_api import report
from tests.ownership_support import pair
from tests.support import LiveServer

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
ACTORS = ("operator", "manufacturer", "owner", "co-owner", "guest", "stranger")
STATION = "CB-W"
EMAILS = {
    "operator": "operator@example.com",
    "manufacturer": "manufacturer@example.com",
    "owner": "owner@example.com",
    "co-owner": "co@example.com",
    "guest": "guest@example.com",
    "stranger": "stranger@example.com",
}
PARAMS = {
    "station_id": STATION,
    "transaction_id": "TX-W",
    "value": "W-1",
    "email": "someone@example.com",
    "id": "nope",
    "delivery_id": "nope",
    "batch_id": "NOPE",
    "family": "default",
    "member": "someone@example.com",
    "invitation_id": "nope",
    "token": "nope",
    "name": "day-ahead",
    "campaign_id": "nope",
    "image_id": "nope",
    "schedule_id": "nope",
    "site_id": "nope",
}
# one client for the whole walk (made once: its TLS context is costly), a new connection for each call
CLIENT = httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0))
# a body the route accepts, so that what is checked after the body (the members' rules) is reached
BODIES: dict[str, dict[str, Any]] = {
    "POST /api/v1/chargers/{station_id}/invitations": {"email": "invited@example.com", "role": "guest"},
    "PATCH /api/v1/chargers/{station_id}/members/{member}": {"role": "guest"},
    "POST /api/v1/chargers/{station_id}/transfer": {"email": "invited@example.com"},
    "POST /api/v1/chargers/{station_id}/unpair": {},
}
FEEDS = ["WS /api/v1/live?rollout={campaign_id}"]  # the live route's other feed, walked as a route of its own
ROW = re.compile(r"^\| `(?P<route>[A-Z]+ /[^`]*)` \|(?P<cells>.*)\|\s*$")


def documented() -> dict[str, dict[str, str]]:
    """The table's rows: "METHOD /path" -> actor -> cell."""
    text = API_DOC.read_text(encoding="utf-8")
    section = text[text.index("## Who may do what") :]
    table: dict[str, dict[str, str]] = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            cells = [c.strip() for c in match["cells"].split("|")]
            assert len(cells) == len(ACTORS), line
            table[match["route"]] = dict(zip(ACTORS, cells, strict=True))
    return table


def routes() -> list[str]:
    """Every API route of the app: "METHOD /path" (WebSocket routes as "WS /path"), unpairing last (it ends
    every membership)."""
    found = []
    for route in app_routes():
        if isinstance(route, Route) and route.path.startswith("/api/v1"):
            found += [f"{m} {route.path}" for m in sorted((route.methods or set()) - {"HEAD"})]
        elif isinstance(route, WebSocketRoute) and route.path.startswith("/api/v1"):
            found.append(f"WS {route.path}")
    return sorted(found + FEEDS, key=lambda route: route.endswith("/unpair"))


def setup(server: LiveServer) -> dict[str, str]:
    server.whitelist(STATION)
    pair(server, STATION, EMAILS["owner"], co_owners=[EMAILS["co-owner"]], guests=[EMAILS["guest"]])
    server.platform.id_tokens.register("W-1", "ISO14443", EMAILS["owner"], TokenKind.RFID)
    report(server, STATION, "TX-W", 0, "2026-11-25T09:00:00Z", 0, token="W-1")
    server.token("someone@example.com", Role.USER)
    server.settle()
    roles = {"operator": Role.OPERATOR, "manufacturer": Role.MANUFACTURER}
    return {actor: server.token(EMAILS[actor], roles.get(actor, Role.USER)) for actor in ACTORS}


def call(server: LiveServer, route: str, token: str | None) -> tuple[int, str]:
    method, path = route.split(" ", 1)
    for name, value in PARAMS.items():
        path = path.replace("{" + name + "}", value)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method == "WS":
        return asyncio.run(upgrade(server, path, headers))
    body = BODIES.get(route)
    response = CLIENT.request(method, server.base_url + path, headers=headers, json=body)
    detail = response.json().get("detail", "") if response.headers.get("content-type", "").endswith("json") else ""
    return response.status_code, str(detail)


async def upgrade(server: LiveServer, path: str, headers: dict[str, str]) -> tuple[int, str]:
    url = f"ws://127.0.0.1:{server.port}{path}" + ("" if "?" in path else f"?charger={STATION}")
    try:
        async with connect(url, additional_headers=headers):
            return 101, ""
    except InvalidStatus as refused:
        return refused.response.status_code, refused.response.body.decode(errors="replace")


def verdict(status: int, detail: str) -> str:
    """What an answer says of the caller's access: allowed, 403, 404 (the stranger's), or 401."""
    if status in (401, 403):
        return str(status)
    if status == 404 and f"no charger {STATION}" in detail:
        return "404"
    return "allowed"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_every_route_answers_every_actor_as_the_table_says(server: LiveServer) -> None:
    table = documented()
    missing = [route for route in routes() if route not in table]
    assert missing == [], f"routes without a row in docs/api.md 'Who may do what': {missing}"
    tokens = setup(server)
    wrong = []
    for route in routes():
        for actor in reversed(ACTORS):  # the operator last: what it changes (removes, unpairs) the others saw
            cell = table[route][actor]
            got = verdict(*call(server, route, None if cell == "public" else tokens[actor]))
            want = "allowed" if cell in ("yes", "own", "public") else cell
            if got != want:
                wrong.append(f"{route} as {actor}: {got}, the table says {cell}")
    assert wrong == []


def test_the_table_names_only_routes_that_exist() -> None:
    assert sorted(set(documented()) - set(routes())) == []


def dump(server: LiveServer) -> Any:  # pragma: no cover - a maintainer's aid: the answers as table rows
    tokens = setup(server)
    return [
        f"| `{route}` | " + " | ".join(verdict(*call(server, route, tokens[a])) for a in ACTORS) + " |"
        for route in routes()
    ]
