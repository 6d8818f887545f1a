"""Transactions history and energy over real HTTP against a running server, on SQLite and PostgreSQL.

Transactions are recorded through the application service (as the OCPP handler would), then read back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from adapters.auth import Role
from adapters.ocpp.meter_values import parse_meter_values
from cloudbay_domain.id_token import TokenKind
from cloudbay_domain.reports import EventType, TransactionReport
from cloudbay_domain.transaction import Transaction
from projections.energy import EnergyQueries
from projections.follower import catch_up, reset
from projections.transactions import TransactionQueries
from tests.ownership_support import pair
from tests.support import LiveServer

PROBLEM = "application/problem+json"
ALICE, BOB = "alice@example.com", "bob@example.com"


def report(
    server: LiveServer,
    station_id: str,
    transaction_id: str,
    seq_no: int,
    at: str,
    wh: float | None = None,
    *,
    token: str | None = None,
    event_type: EventType | None = None,
    power_w: float | None = None,
) -> None:
    """One TransactionEvent: Started for seqNo 0 unless told, with the energy register (and power) at ``at``."""
    sampled: list[dict[str, Any]] = [] if wh is None else [{"value": wh}]
    if power_w is not None:
        sampled.append({"value": power_w, "measurand": "Power.Active.Import"})
    kind = event_type or (EventType.STARTED if seq_no == 0 else EventType.UPDATED)
    server.platform.transactions.record_event(
        station_id,
        TransactionReport(
            transaction_id=transaction_id,
            event_type=kind,
            seq_no=seq_no,
            timestamp=datetime.fromisoformat(at),
            trigger_reason="Authorized" if kind is EventType.STARTED else "MeterValuePeriodic",
            id_token=token,
            evse_id=1,
            connector_id=1,
            charging_state="EVConnected" if kind is EventType.ENDED else "Charging",
            stopped_reason="Local" if kind is EventType.ENDED else None,
            samples=tuple(parse_meter_values([{"timestamp": at, "sampled_value": sampled}])) if sampled else (),
        ),
    )


def history(server: LiveServer) -> None:
    """Two chargers, two drivers, six transactions (two started at the same moment)."""
    for station_id in ("CB-H1", "CB-H2"):
        server.whitelist(station_id)
    server.platform.id_tokens.register("aa01", "ISO14443", ALICE, TokenKind.RFID)
    server.platform.id_tokens.register("BB02", "ISO14443", BOB, TokenKind.RFID)
    report(server, "CB-H1", "T5", 0, "2026-11-19T12:00:00Z", 0)
    report(server, "CB-H1", "T6", 0, "2026-11-19T12:00:00Z", 0)
    report(server, "CB-H1", "T1", 0, "2026-11-20T08:00:00Z", 100, token="AA01")
    report(server, "CB-H1", "T1", 1, "2026-11-20T09:00:00Z", 600, event_type=EventType.ENDED)
    report(server, "CB-H1", "T2", 0, "2026-11-21T09:00:00+01:00", 0, token="BB02")
    report(server, "CB-H2", "T3", 0, "2026-11-22T07:00:00Z", 0, token="AA01")
    report(server, "CB-H2", "T4", 0, "2026-11-23T07:00:00Z", 0, token="ZZ99")
    server.settle()


def ids(page: dict[str, Any]) -> list[str]:
    return [item["transaction_id"] for item in page["items"]]


def test_list_is_newest_first_filtered_and_paged(server: LiveServer) -> None:
    history(server)
    with server.http() as http:
        tie = sorted(["T5", "T6"], key=lambda t: str(Transaction.create_id("CB-H1", t)))  # same start: by id
        assert ids(http.get("/api/v1/transactions").json()) == ["T4", "T3", "T2", "T1", *tie]
        seen, href = [], "/api/v1/transactions?limit=1"
        while href:
            page = http.get(href).json()
            seen += ids(page)
            href = page["_links"].get("next", {}).get("href")
        assert seen == ids(http.get("/api/v1/transactions").json()) and len(seen) == 6
        first = http.get("/api/v1/transactions", params={"limit": 2, "charger": "CB-H1"}).json()
        assert ids(first) == ["T2", "T1"] and "charger=CB-H1" in first["_links"]["next"]["href"]
        assert len(ids(http.get(first["_links"]["next"]["href"]).json())) == 2
        assert ids(http.get("/api/v1/transactions", params={"charger": "CB-H2"}).json()) == ["T4", "T3"]
        assert ids(http.get("/api/v1/transactions", params={"user": ALICE}).json()) == ["T3", "T1"]
        assert ids(http.get("/api/v1/transactions", params={"card": "aa01"}).json()) == ["T3", "T1"]
        assert ids(http.get("/api/v1/transactions", params={"status": "ended"}).json()) == ["T1"]
        window = {"from": "2026-11-21", "to": "2026-11-23T07:00:00Z"}  # from inclusive, to exclusive
        assert ids(http.get("/api/v1/transactions", params=window).json()) == ["T3", "T2"]
        t2 = http.get("/api/v1/chargers/CB-H1/transactions/T2").json()
        assert t2["started_at"] == "2026-11-21T08:00:00.000000+00:00"  # stored in UTC, whatever the offset sent


def test_a_transaction_reads_back_with_its_figures_and_links(server: LiveServer) -> None:
    history(server)
    with server.http() as http:
        ended = http.get("/api/v1/chargers/CB-H1/transactions/T1").json()
        assert ended["status"] == "ended" and ended["energy_wh"] == 500 and ended["duration_s"] == 3600
        assert ended["user"] == ALICE and ended["id_token"] == "AA01" and ended["attribution"] == "card"
        assert ended["authorization"] == "Accepted" and ended["started_seen"] is True
        assert ended["missing_seq_nos"] == [] and ended["stopped_reason"] == "Local" and ended["evse_id"] == 1
        assert ended["_links"] == {
            "self": {"href": "/api/v1/chargers/CB-H1/transactions/T1"},
            "charger": {"href": "/api/v1/chargers/CB-H1"},
        }
        active = http.get("/api/v1/chargers/CB-H2/transactions/T4").json()
        assert active["attribution"] == "unknown" and active["user"] is None and active["authorization"] == "Unknown"
        assert active["_links"]["stop"]["href"] == "/api/v1/chargers/CB-H2/transactions/T4/stop"
        missing = http.get("/api/v1/chargers/CB-H2/transactions/T1")
        assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


def test_a_user_sees_only_their_own_transactions(server: LiveServer) -> None:
    history(server)
    with server.http(Role.USER, email=ALICE) as alice:
        assert ids(alice.get("/api/v1/transactions").json()) == ["T3", "T1"]
        assert ids(alice.get("/api/v1/transactions", params={"user": ALICE}).json()) == ["T3", "T1"]
        assert ids(alice.get("/api/v1/transactions", params={"charger": "CB-H1"}).json()) == ["T1"]
        forbidden = alice.get("/api/v1/transactions", params={"user": BOB})
        assert forbidden.status_code == 403 and forbidden.headers["content-type"] == PROBLEM
        assert alice.get("/api/v1/chargers/CB-H1/transactions/T1").status_code == 200
        assert alice.get("/api/v1/chargers/CB-H1/transactions/T2").status_code == 404  # Bob's: as if unknown
    with server.http(Role.USER, email="nobody@example.com") as nobody:
        assert nobody.get("/api/v1/transactions").json()["items"] == []


@pytest.mark.parametrize(
    "query",
    [
        "from=yesterday",
        "to=2026-13-01",
        "from=2026-11-21T09:00:00+01:00",  # '+' not percent-encoded reads as a space
        "status=paused",
        "limit=0",
        "after=not-a-cursor",
        "card=",
    ],
)
def test_bad_list_parameters_are_400(shared_server: LiveServer, query: str) -> None:
    with shared_server.http() as http:
        response = http.get(f"/api/v1/transactions?{query}")
    assert response.status_code == 400 and response.headers["content-type"] == PROBLEM


def test_history_needs_a_token(server: LiveServer) -> None:
    with server.http(role=None) as anonymous:
        for path in ("/api/v1/transactions", "/api/v1/users/me/energy", "/api/v1/chargers/CB-H1/energy"):
            assert anonymous.get(path).status_code == 401


def energy_scenario(server: LiveServer) -> None:
    """A session over midnight, a short one, and one whose card is registered only after it started."""
    server.whitelist("CB-E1")
    server.platform.id_tokens.register("EE01", "ISO14443", ALICE, TokenKind.RFID)
    report(server, "CB-E1", "E1", 0, "2026-11-24T22:00:00Z", 1000, token="EE01")
    report(server, "CB-E1", "E1", 1, "2026-11-25T01:00:00Z", 4500, event_type=EventType.ENDED)
    report(server, "CB-E1", "E2", 0, "2026-11-25T10:00:00Z", 0, token="EE01")
    report(server, "CB-E1", "E2", 1, "2026-11-25T11:00:00Z", 1234.5, event_type=EventType.ENDED)
    report(server, "CB-E1", "E3", 0, "2026-12-01T10:00:00Z", 0, token="CC03")
    report(server, "CB-E1", "E3", 1, "2026-12-01T11:00:00Z", 2000)
    server.settle()


def items(response: Any) -> list[tuple[str, float, int]]:
    assert response.status_code == 200, response.text
    return [(i["period"], i["energy_wh"], i["transactions"]) for i in response.json()["items"]]


def test_energy_per_day_and_month_and_a_late_attribution_moves_it(server: LiveServer) -> None:
    energy_scenario(server)
    with server.http() as ops, server.http(Role.USER, email=ALICE) as alice:
        assert items(ops.get("/api/v1/chargers/CB-E1/energy")) == [
            ("2026-11-24", 3500, 1),  # counted on the day it started
            ("2026-11-25", 1234.5, 1),
            ("2026-12-01", 2000, 1),
        ]
        assert items(ops.get("/api/v1/chargers/CB-E1/energy?period=month")) == [
            ("2026-11", 4734.5, 2),
            ("2026-12", 2000, 1),
        ]
        assert items(ops.get("/api/v1/chargers/CB-E1/energy?from=2026-11-25&to=2026-11-30")) == [
            ("2026-11-25", 1234.5, 1)
        ]
        mine = alice.get("/api/v1/users/me/energy?period=month")
        assert mine.json()["user"] == ALICE and items(mine) == [("2026-11", 4734.5, 2)]

        server.platform.id_tokens.register("CC03", "ISO14443", ALICE, TokenKind.RFID)
        report(server, "CB-E1", "E3", 2, "2026-12-01T12:00:00Z", 2500, event_type=EventType.ENDED)
        server.settle()
        assert ops.get("/api/v1/chargers/CB-E1/transactions/E3").json()["user"] == ALICE
        assert items(alice.get("/api/v1/users/me/energy?period=month")) == [
            ("2026-11", 4734.5, 2),
            ("2026-12", 2500, 1),
        ]
        assert items(alice.get("/api/v1/users/me/energy?from=2026-12-01")) == [("2026-12-01", 2500, 1)]
        assert items(ops.get("/api/v1/chargers/CB-E1/energy?period=month")) == [
            ("2026-11", 4734.5, 2),
            ("2026-12", 2500, 1),
        ]
        assert server.runtime is not None
        assert [r["user_key"] for r in server.runtime.energy.dump()["energy_daily"]] == [ALICE] * 3  # '' bucket gone


def test_energy_errors(server: LiveServer) -> None:
    server.whitelist("CB-E2")
    server.settle()
    with server.http() as ops, server.http(Role.USER, email=ALICE) as alice:
        assert ops.get("/api/v1/chargers/CB-E2/energy").json() == {
            "station_id": "CB-E2",
            "period": "day",
            "items": [],
            "_links": {
                "self": {"href": "/api/v1/chargers/CB-E2/energy"},
                "charger": {"href": "/api/v1/chargers/CB-E2"},
            },
        }
        for path, status in (
            ("/api/v1/chargers/NOPE/energy", 404),
            ("/api/v1/chargers/CB-E2/energy?period=week", 400),
            ("/api/v1/chargers/CB-E2/energy?from=2026-11", 400),
            ("/api/v1/chargers/CB-E2/energy?to=25.11.2026", 400),
            ("/api/v1/users/me/energy?period=year", 400),
        ):
            response = ops.get(path)
            assert response.status_code == status and response.headers["content-type"] == PROBLEM, path
        assert alice.get("/api/v1/chargers/CB-E2/energy").status_code == 404  # a stranger: nothing revealed
        pair(server, "CB-E2", "owner@example.com", guests=[ALICE])
        assert alice.get("/api/v1/chargers/CB-E2/energy").status_code == 403  # a guest: not the owners' figures
        assert alice.get("/api/v1/users/me/energy").json()["items"] == []


def test_replay_rebuilds_the_same_read_models(server: LiveServer) -> None:
    history(server)
    energy_scenario(server)
    runtime = server.runtime
    assert runtime is not None
    queries: dict[str, TransactionQueries | EnergyQueries] = {
        "transactions": runtime.transactions,
        "energy": runtime.energy,
    }
    before = {name: q.dump() for name, q in queries.items()}
    assert before["transactions"]["transactions"] and before["energy"]["energy_daily"]
    for name in queries:
        follower = runtime.followers[name]
        follower.stop()  # the rebuild below is the only writer
        reset(runtime.db, follower.projection)
        assert queries[name].dump() == {k: [] for k in before[name]}
        while catch_up(runtime.log, runtime.db, follower.projection, limit=7):
            pass
    assert {name: q.dump() for name, q in queries.items()} == before
