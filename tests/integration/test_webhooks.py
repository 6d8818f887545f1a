"""Webhooks end to end, on SQLite and PostgreSQL: a real server, a real OCPP client, and a real HTTP receiver on
127.0.0.1 that records what it is sent and answers as told (an error, or nothing for a while)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from adapters.auth import Role
from tests.support import LiveServer, serving, station, wait_until

# the receiver is on 127.0.0.1: a private destination, allowed by the operator setting
FAST = {
    "webhook_backoff_seconds": 0.05,
    "webhook_max_attempts": 3,
    "webhook_timeout_seconds": 0.5,
    "webhook_allow_private": True,
}


class Receiver:
    """A webhook receiver: records each POST (headers, body) before answering ``answers`` in turn, then 200;
    ``delay`` seconds of silence first (a hanging receiver); ``location``, a ``Location`` header to answer."""

    def __init__(
        self, answers: list[int] | None = None, delay: float = 0.0, port: int = 0, location: str | None = None
    ) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.location = location
        self.answers = list(answers or [])
        self.delay = delay
        self.port = port
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                if receiver.delay:
                    receiver._release.wait(receiver.delay)
                status = receiver.answers.pop(0) if receiver.answers else 200
                try:
                    self.send_response(status)
                    if receiver.location:
                        self.send_header("Location", receiver.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the platform gave up waiting
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self._server = Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def stop(self) -> None:
        self._release.set()
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    def payloads(self, event_type: str | None = None) -> list[dict[str, Any]]:
        bodies = [json.loads(body) for _, body in list(self.received)]
        return [b for b in bodies if event_type is None or b["type"] == event_type]


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """How a receiver checks a delivery (docs/api.md, Webhooks)."""
    timestamp = headers["x-cloudbay-timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(timestamp)) < 300
    return fresh and hmac.compare_digest(f"sha256={expected}", headers["x-cloudbay-signature"])


@pytest.fixture
def hooks(store_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(store_url, tmp_path / "data", **FAST).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()


def subscribe(server: LiveServer, url: str, events: list[str]) -> dict[str, Any]:
    with server.http() as api:
        answer = api.post("/api/v1/webhooks", json={"url": url, "events": events})
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def deliveries(server: LiveServer, hook: dict[str, Any]) -> list[dict[str, Any]]:
    assert server.runtime is not None
    return server.runtime.webhook_outbox.deliveries(hook["id"])


def visit(server: LiveServer, station_id: str, *, boot: bool = False) -> None:
    """A charger connects (and boots), then goes away."""

    async def scenario() -> None:
        async with station(server, station_id) as cp:
            if boot:
                await cp.boot()

    asyncio.run(scenario())


async def charge_once(server: LiveServer, station_id: str) -> None:
    async with station(server, station_id) as cp:
        await cp.boot()
        await cp.status(1, 1, "Occupied")
        await cp.transaction_event("Started", "tx-1", 0, trigger="CablePluggedIn", wh=1000)
        await cp.transaction_event("Updated", "tx-1", 1, wh=2500)
        await cp.transaction_event(
            "Ended", "tx-1", 2, trigger="EVCommunicationLost", wh=4000, info={"stopped_reason": "EVDisconnected"}
        )


ALL = [
    "transaction.started",
    "transaction.updated",
    "transaction.ended",
    "charger.online",
    "charger.offline",
    "charger.booted",
    "charger.status_changed",
]


def test_a_transaction_reaches_the_receiver_signed(hooks: LiveServer, receiver: Receiver) -> None:
    hooks.whitelist("CB-HOOK-1")
    everything = subscribe(hooks, receiver.url, ALL)
    only_ended = subscribe(hooks, receiver.url, ["transaction.ended"])

    asyncio.run(charge_once(hooks, "CB-HOOK-1"))

    wait_until(lambda: len(receiver.received) == len(ALL) + 1, timeout=10)
    assert sorted(p["type"] for p in receiver.payloads()) == sorted([*ALL, "transaction.ended"])
    secrets = {hook["id"]: hook["secret"] for hook in (everything, only_ended)}
    owner = {d["delivery_id"]: d["subscription_id"] for hook in secrets for d in deliveries(hooks, {"id": hook})}
    for headers, body in receiver.received:
        payload = json.loads(body)
        assert headers["content-type"] == "application/json"
        assert headers["x-cloudbay-event"] == payload["type"]
        assert headers["x-cloudbay-delivery"] == payload["id"]
        for hook, secret in secrets.items():  # signed with its own subscription's secret, not another's
            assert verify(secret, headers, body) is (owner[payload["id"]] == hook)
    assert [d["event_type"] for d in deliveries(hooks, only_ended)] == ["transaction.ended"]
    # the receiver has the request before the worker records its answer: wait for that record
    statuses = lambda: {d["status"] for hook in secrets for d in deliveries(hooks, {"id": hook})}  # noqa: E731
    wait_until(lambda: statuses() == {"delivered"}, timeout=10)
    (started,) = receiver.payloads("transaction.started")
    assert (started["data"]["station_id"], started["data"]["transaction_id"]) == ("CB-HOOK-1", "tx-1")
    assert (started["data"]["seq_no"], started["data"]["trigger_reason"]) == (0, "CablePluggedIn")
    (status,) = receiver.payloads("charger.status_changed")
    assert (status["data"]["station_id"], status["data"]["status"], status["data"]["evse_id"]) == (
        "CB-HOOK-1",
        "Occupied",
        1,
    )
    time.sleep(0.3)
    assert len(receiver.received) == len(ALL) + 1  # nothing sent twice


def test_a_failed_delivery_is_retried_until_one_success(hooks: LiveServer) -> None:
    receiver = Receiver(answers=[500, 503]).start()
    try:
        hooks.whitelist("CB-HOOK-2")
        hook = subscribe(hooks, receiver.url, ["charger.online"])
        visit(hooks, "CB-HOOK-2")
        wait_until(lambda: len(receiver.received) >= 3, timeout=10)
        wait_until(lambda: deliveries(hooks, hook)[0]["status"] == "delivered")
        time.sleep(0.3)
    finally:
        receiver.stop()
    (row,) = deliveries(hooks, hook)
    assert (row["attempts"], row["last_error"]) == (3, None)
    assert len(receiver.received) == 3  # two failures, then exactly one success
    assert len({headers["x-cloudbay-delivery"] for headers, _ in receiver.received}) == 1  # the same delivery
    assert all(verify(hook["secret"], headers, body) for headers, body in receiver.received)


def test_a_hanging_receiver_is_timed_out_then_dead_then_replayed(hooks: LiveServer) -> None:
    receiver = Receiver(delay=3.0).start()  # silent for longer than the 0.5 s timeout
    try:
        hooks.whitelist("CB-HOOK-3")
        hook = subscribe(hooks, receiver.url, ["charger.online"])
        visit(hooks, "CB-HOOK-3")
        started = time.monotonic()
        with hooks.http() as api:
            dead_letters = f"/api/v1/webhooks/{hook['id']}/dead-letters"
            wait_until(lambda: api.get(dead_letters).json()["items"] != [], timeout=15)
            took = time.monotonic() - started
            (dead,) = api.get(dead_letters).json()["items"]
            assert (dead["status"], dead["attempts"], dead["event_type"]) == ("dead", 3, "charger.online")
            assert "Timeout" in dead["last_error"]
            assert dead["payload"]["data"]["station_id"] == "CB-HOOK-3"
            assert len(receiver.received) == 3 and took < 10  # each attempt bounded by the timeout

            receiver.delay = 0.0
            replayed = api.post(f"{dead_letters}/{dead['delivery_id']}/replay")
            assert replayed.status_code == 202, replayed.text
            # pending again from attempt 0 — or already delivered by the worker before this answer was made
            assert (replayed.json()["status"], replayed.json()["attempts"]) in (("pending", 0), ("delivered", 1))
            wait_until(lambda: deliveries(hooks, hook)[0]["status"] == "delivered", timeout=10)
            assert api.get(dead_letters).json()["items"] == []
            again = api.post(f"{dead_letters}/{dead['delivery_id']}/replay")
            assert (again.status_code, again.json()["reason"]) == (409, "delivered")
            assert api.post(f"{dead_letters}/{hook['id']}/replay").status_code == 404
    finally:
        receiver.stop()
    assert [h["x-cloudbay-delivery"] for h, _ in receiver.received] == [dead["delivery_id"]] * 4


def reserve_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_restart_between_enqueue_and_delivery_loses_nothing(store_url: str, tmp_path: Path) -> None:
    port = reserve_port()  # nothing listens there yet: every attempt before the restart fails
    settings = {**FAST, "webhook_backoff_seconds": 0.5, "webhook_max_attempts": 8}
    first = LiveServer(store_url, tmp_path / "data", **settings).start()
    try:
        first.whitelist("CB-HOOK-4")
        hook = subscribe(first, f"http://127.0.0.1:{port}/hooks", ["charger.online", "charger.booted"])
        visit(first, "CB-HOOK-4", boot=True)
        wait_until(lambda: len(deliveries(first, hook)) == 2 and all(d["attempts"] for d in deliveries(first, hook)))
        assert {d["status"] for d in deliveries(first, hook)} == {"pending"}
    finally:
        first.stop()
    receiver = Receiver(port=port).start()
    second = LiveServer(store_url, tmp_path / "data", **settings).start()
    try:
        wait_until(lambda: {d["status"] for d in deliveries(second, hook)} == {"delivered"}, timeout=15)
        time.sleep(0.3)
        rows = deliveries(second, hook)
    finally:
        second.stop()
        receiver.stop()
    assert len(rows) == 2  # nothing enqueued twice
    assert sorted(p["type"] for p in receiver.payloads()) == ["charger.booted", "charger.online"]  # each once
    assert all(verify(hook["secret"], headers, body) for headers, body in receiver.received)  # the same secret


def test_subscriptions_are_listed_read_and_removed_never_showing_the_secret(
    hooks: LiveServer, receiver: Receiver
) -> None:
    hook = subscribe(hooks, receiver.url, ["charger.offline", "transaction.ended"])
    assert hook["secret"].startswith("whsec_")
    with hooks.http() as api:
        one = api.get(f"/api/v1/webhooks/{hook['id']}").json()
        listed = api.get("/api/v1/webhooks").json()["items"]
        assert one == {k: v for k, v in hook.items() if k != "secret"}
        assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
        assert one["events"] == ["charger.offline", "transaction.ended"]
        assert api.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204
        assert api.get(f"/api/v1/webhooks/{hook['id']}").status_code == 404
        assert api.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 404
        assert api.get("/api/v1/webhooks").json()["items"] == []


@pytest.fixture(scope="module")
def shared_hooks(shared_store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the refused registrations below: none of them registers anything."""
    with serving(shared_store_url, tmp_path_factory.mktemp("data"), **FAST) as live:
        yield live


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/hooks", "http:// or https://"),
        ("http://", "no host"),
        ("https://user:secret@example.com/", "credentials"),
        ("https://example.com/" + "x" * 3000, "longer than"),
        ("{base}/api/v1/webhooks", "this server"),
        ("http://localhost:{port}/", "this server"),
        ("http://0.0.0.0:{port}/", "this server"),
        ("http://[::1]:{port}/", "this server"),
        ("http://test-node:{port}/", "this server"),
    ],
)
def test_bad_urls_are_refused(shared_hooks: LiveServer, url: str, why: str) -> None:
    hooks = shared_hooks
    with hooks.http() as api:
        answer = api.post(
            "/api/v1/webhooks",
            json={"url": url.format(base=hooks.base_url, port=hooks.port), "events": ["charger.online"]},
        )
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert why in answer.json()["detail"]
        assert api.get("/api/v1/webhooks").json()["items"] == []


def test_bad_bodies_users_and_unknown_ids_are_refused(hooks: LiveServer, receiver: Receiver) -> None:
    with hooks.http() as api:
        unknown = api.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["transaction.paused"]})
        assert unknown.status_code == 422 and "transaction.paused" in unknown.json()["detail"]
        assert api.post("/api/v1/webhooks", json={"url": receiver.url, "events": []}).status_code == 422
        assert api.post("/api/v1/webhooks", json={"url": receiver.url}).status_code == 422
        assert api.post("/api/v1/webhooks", content=b"{nope").status_code == 400
        for path in (
            "/api/v1/webhooks/not-a-uuid",
            "/api/v1/webhooks/00000000-0000-4000-8000-000000000000/dead-letters",
        ):
            assert api.get(path).status_code == 404
    hook = subscribe(hooks, receiver.url, ["charger.online"])
    with hooks.http(Role.USER) as user:
        assert (
            user.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["charger.online"]}).status_code == 403
        )
        assert user.get("/api/v1/webhooks").status_code == 403
        assert user.get(f"/api/v1/webhooks/{hook['id']}").status_code == 403
        assert user.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 403
        assert user.get(f"/api/v1/webhooks/{hook['id']}/dead-letters").status_code == 403
