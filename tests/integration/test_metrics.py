"""GET /metrics on a real server, on SQLite and PostgreSQL: what a charger, the app and the REST API did shows up
with bounded labels; the store figures come from the databases; a scrape during a store outage still answers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from ocpp.v201 import call
from prometheus_client.parser import text_string_to_metric_families

from adapters.auth import Role
from adapters.settings import StoreSettings
from adapters.storage import drop_database, ensure_database
from projections.follower import tracked_position
from tests.ownership_support import pair
from tests.support import LiveServer, exchange, raw_socket, station, wait_until

STATION = "CB-MX7"
USER = "metrics-driver@example.com"
BAD_STATUS = (
    '[2, "bad-1", "StatusNotification", {"timestamp": "2026-11-25T10:00:00Z", "connectorStatus": "Available", '
    '"evseId": "one", "connectorId": 1}]'
)


def scrape(server: LiveServer) -> tuple[str, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    """The /metrics text (fetched without credentials) and its samples by (name, labels)."""
    response = httpx.get(f"{server.base_url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    return response.text, samples


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def _charger_and_app(server: LiveServer) -> tuple[list[Any], float]:
    """A charger boots, reports, beats; the app starts a charge twice (accepted, then rejected); one bad message."""
    wait = asyncio.get_running_loop().run_in_executor
    async with station(server, STATION) as cp:
        await cp.boot()
        await cp.status(1, 1, "Available")
        await cp.call(call.Heartbeat(), suppress=False)
        with server.http(role=Role.USER, email=USER) as http:
            accepted = await wait(None, lambda: http.post(f"/api/v1/chargers/{STATION}/transactions", json={}))
            cp.start_answer = "Rejected"
            rejected = await wait(None, lambda: http.post(f"/api/v1/chargers/{STATION}/transactions", json={}))
        assert accepted.status_code == 202 and rejected.status_code == 409, (accepted.text, rejected.text)
        _, samples = await wait(None, scrape, server)
        connected = value(samples, "cloudbay_chargers_connected")
    async with raw_socket(server, STATION) as ws:
        bad = await exchange(ws, BAD_STATUS)
    return bad, connected


def test_metrics_count_ocpp_csms_calls_and_http_with_bounded_labels(server: LiveServer) -> None:
    server.whitelist(STATION)
    pair(server, STATION, USER)
    bad, connected = asyncio.run(_charger_and_app(server))
    assert connected == 1
    with server.http() as http:
        assert http.get(f"/api/v1/chargers/{STATION}").status_code == 200
        assert http.get("/no/such/path-CB-MX7").status_code == 404
    server.settle()
    wait_until(lambda: value(scrape(server)[1], "cloudbay_chargers_connected") == 0)
    text, samples = scrape(server)

    # OCPP messages by action and result; the bad one counted with the CALLERROR code it was answered
    assert bad[0] == 4 and bad[2] == "TypeConstraintViolation"
    for action in ("BootNotification", "StatusNotification", "Heartbeat"):
        assert value(samples, "cloudbay_ocpp_messages_total", action=action, result="accepted") >= 1, action
        assert value(samples, "cloudbay_ocpp_message_duration_seconds_count", action=action) >= 1, action
    bad_count = value(samples, "cloudbay_ocpp_messages_total", action="StatusNotification", result=bad[2])
    assert bad_count == 1
    # CSMS-initiated calls by action and outcome
    start = "RequestStartTransaction"
    assert value(samples, "cloudbay_csms_calls_total", action=start, outcome="accepted") == 1
    assert value(samples, "cloudbay_csms_calls_total", action=start, outcome="rejected") == 1
    assert value(samples, "cloudbay_csms_call_duration_seconds_count", action=start) == 2
    # the store's group commits
    assert value(samples, "cloudbay_store_commit_duration_seconds_count") >= 1
    assert value(samples, "cloudbay_store_commit_batch_size_count") >= 1
    assert value(samples, "cloudbay_store_commits_total", result="ok") >= 1
    # HTTP requests by route template, never the raw path
    route = "/api/v1/chargers/{station_id}"
    assert value(samples, "cloudbay_http_requests_total", route=route, method="GET", status="200") == 1
    assert value(samples, "cloudbay_http_request_duration_seconds_count", route=route, method="GET") == 1
    assert value(samples, "cloudbay_http_requests_total", route="other", method="GET", status="404") == 1
    assert value(samples, "cloudbay_http_requests_total", route="/metrics", method="GET", status="200") >= 1
    # no station id, message id or user anywhere
    for secret in (STATION, "bad-1", USER, "no/such"):
        assert secret not in text, secret
    # the process collectors are there
    assert ("process_cpu_seconds_total", frozenset()) in samples


def test_projection_positions_are_the_read_models_positions(server: LiveServer) -> None:
    server.whitelist(STATION)
    server.settle()
    assert server.runtime is not None
    runtime = server.runtime
    _, samples = scrape(server)
    with runtime.db.transaction(write=False) as tx:
        tracked = {name: tracked_position(tx, name) for name in runtime.followers}
    assert value(samples, "cloudbay_store_up") == 1
    assert value(samples, "cloudbay_event_store_head_position") == server.head() > 0
    for name, position in tracked.items():
        assert value(samples, "cloudbay_projection_position", projection=name) == position, name
        lag = value(samples, "cloudbay_projection_lag_events", projection=name)
        assert lag == server.head() - position, name


def test_a_scrape_during_a_store_outage_answers_quickly_showing_it(server: LiveServer) -> None:
    """PostgreSQL: the database is dropped under the running server (its connections terminated), so every
    store read fails or waits for a connection that never comes. SQLite keeps an open file usable even when it
    is removed, and WAL readers are not blocked by another process's lock, so the outage is simulated as a
    read-model call that never returns (a stalled disk): the read-model connection's lock is held."""
    assert server.runtime is not None
    runtime = server.runtime
    runtime.metrics.store.timeout = 0.5  # the bound under test, shorter than the default to keep the suite fast
    assert value(scrape(server)[1], "cloudbay_store_up") == 1
    store = server.settings.store
    if store.kind == "postgres":
        drop_database(store)
        try:
            _assert_outage_shown(server)
        finally:
            ensure_database(StoreSettings(store.url))
        return
    lock: Any = runtime.db._lock  # the single SQLite read-model connection's lock
    with lock:
        _assert_outage_shown(server)


def _assert_outage_shown(server: LiveServer) -> None:
    for _ in range(2):  # the second scrape finds the first read still stuck: still quick, still down
        started = time.monotonic()
        text, samples = scrape(server)
        assert time.monotonic() - started < 3, "a scrape during an outage must not block"
        assert value(samples, "cloudbay_store_up") == 0
        assert ("process_cpu_seconds_total", frozenset()) in samples
        assert "cloudbay_projection_position{" not in text
        assert ("cloudbay_chargers_connected", frozenset()) in samples
