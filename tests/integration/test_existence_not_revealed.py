"""For a `user` token, another user's transaction, card or account answers exactly as a missing one would (the same
status, title, reason and detail, but for the id named): REST never reveals that it exists. Over real HTTP, on
SQLite and PostgreSQL. Operators still see the truth."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from adapters.auth import Role
from cloudbay_domain.id_token import TokenKind
from cloudbay_domain.reports import EventType, TransactionReport
from tests.support import LiveServer

ALICE, BOB = "alice@example.com", "bob@example.com"
PROBLEM = "application/problem+json"


def shape(response: httpx.Response, *names: str) -> tuple[Any, ...]:
    """What a caller learns from an answer, with the ids it named blanked out."""
    text = response.text
    for name in names:
        text = text.replace(name, "<id>")
    body = httpx.Response(response.status_code, text=text).json() if text else None
    if isinstance(body, dict):
        body.pop("instance", None)
    return response.status_code, response.headers.get("content-type"), body


def bobs_things(server: LiveServer) -> None:
    server.whitelist("CB-X1")
    server.platform.users.register(BOB, "user", "unused")  # type: ignore[arg-type]
    server.platform.id_tokens.register("B0B1", "ISO14443", BOB, TokenKind.RFID)
    server.platform.transactions.record_event(
        "CB-X1",
        TransactionReport(
            "TX-BOB",
            EventType.STARTED,
            0,
            datetime.fromisoformat("2026-11-20T08:00:00Z"),
            "Authorized",
            evse_id=1,
            connector_id=1,
            id_token="B0B1",
        ),
    )
    server.settle()


REQUESTS: list[tuple[str, str, str | None]] = [  # method, path with {id}, JSON body with {id}
    ("GET", "/api/v1/rfid-cards/{id}", None),
    ("POST", "/api/v1/rfid-cards/{id}/block", None),
    ("POST", "/api/v1/rfid-cards/{id}/unblock", None),
    ("DELETE", "/api/v1/rfid-cards/{id}", None),
    ("GET", "/api/v1/transactions?card={id}", None),
    ("POST", "/api/v1/chargers/CB-X1/transactions", '{"id_token": "{id}"}'),
]
TX_REQUESTS: list[tuple[str, str, str | None]] = [
    ("GET", "/api/v1/chargers/CB-X1/transactions/{id}", None),
    ("POST", "/api/v1/chargers/CB-X1/transactions/{id}/stop", None),
]
CHARGER_REQUESTS: list[tuple[str, str, str | None]] = [  # operators' routes: refused before any look-up
    ("GET", "/api/v1/chargers/{id}", None),
    ("GET", "/api/v1/chargers/{id}/events", None),
    ("GET", "/api/v1/chargers/{id}/energy", None),
    ("POST", "/api/v1/chargers/{id}/reset", '{"type": "Immediate"}'),
    ("PUT", "/api/v1/chargers/{id}/settings", '{"rfid_required": true}'),
]
USER_REQUESTS: list[tuple[str, str, str | None]] = [
    ("GET", "/api/v1/users/{id}", None),
    ("DELETE", "/api/v1/users/{id}", None),
    ("POST", "/api/v1/users/{id}/secret", None),
    ("GET", "/api/v1/transactions?user={id}", None),
    ("GET", "/api/v1/rfid-cards?user={id}", None),
]


def ask(http: httpx.Client, method: str, path: str, body: str | None, value: str) -> httpx.Response:
    content = body.replace("{id}", value) if body else None
    headers = {"Content-Type": "application/json"} if content else {}
    return http.request(method, path.replace("{id}", value), content=content, headers=headers)


def test_another_users_things_answer_as_missing_ones(server: LiveServer) -> None:
    bobs_things(server)
    cases = [
        *[(r, "B0B1", "FFFF9999") for r in REQUESTS],
        *[(r, "TX-BOB", "TX-NOPE") for r in TX_REQUESTS],
        *[(r, BOB, "nobody@example.com") for r in USER_REQUESTS],
        *[(r, "CB-X1", "CB-NOPE") for r in CHARGER_REQUESTS],
    ]
    with server.http(Role.USER, ALICE) as alice:
        for (method, path, body), theirs, missing in cases:
            their_answer = ask(alice, method, path, body, theirs)
            missing_answer = ask(alice, method, path, body, missing)
            assert their_answer.status_code != 500, (method, path, their_answer.text)
            assert shape(their_answer, theirs, theirs.lower()) == shape(missing_answer, missing, missing.lower()), (
                method,
                path,
                their_answer.text,
                missing_answer.text,
            )
    assert server.platform.id_tokens.get("B0B1").status.value == "active"  # nothing was changed
    with server.http() as ops:  # operators see the truth
        assert ops.get("/api/v1/rfid-cards/B0B1").json()["user"] == BOB
        assert ops.get("/api/v1/chargers/CB-X1/transactions/TX-BOB").status_code == 200


def test_registering_a_value_taken_by_another_user_does_not_say_whose_or_that_it_is(server: LiveServer) -> None:
    bobs_things(server)
    with server.http(Role.USER, ALICE) as alice:
        own = alice.post("/api/v1/rfid-cards", json={"id_token": "A11CE1"})
        assert own.status_code == 201, own.text
        again = alice.post("/api/v1/rfid-cards", json={"id_token": "A11CE1"})
        taken = alice.post("/api/v1/rfid-cards", json={"id_token": "B0B1"})
    # the same refusal as for the caller's own card registered twice: neither the owner nor "someone else" is said
    assert taken.status_code == again.status_code == 409
    assert taken.headers["content-type"] == PROBLEM
    assert shape(taken, "B0B1") == shape(again, "A11CE1")
    assert BOB not in taken.text and "another" not in taken.text
    assert server.platform.id_tokens.get("B0B1").user == BOB
    with server.http() as ops:  # an operator is told whose it is
        told = ops.post("/api/v1/rfid-cards", json={"id_token": "B0B1", "user": ALICE})
    assert told.status_code == 409 and BOB in told.json()["detail"]
