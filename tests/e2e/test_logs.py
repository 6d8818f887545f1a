"""`cloudbay serve` with CLOUDBAY_LOG_FORMAT=json, as an operator's log shipper sees it: every line of the
server, of uvicorn and of the projector child is one JSON object; charger lines carry the station and OCPP
message ids, HTTP lines the request id the answer echoed; no token or client secret is ever written."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from ocpp.v201 import ChargePoint, call
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from adapters.oauth import hash_secret, new_client_secret
from adapters.settings import Settings
from adapters.wiring import build_platform
from cloudbay_domain.user import UserRole
from tests.support import free_socket

STATION = "CB-LOG-1"
OPERATOR = "ops@example.com"
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def prepare(env: dict[str, str]) -> str:
    """Whitelist the charger and register an operator, in this process (no interpreter to start for it);
    returns the operator's client secret."""
    secret = new_client_secret()
    with build_platform(Settings.from_env(env)) as platform:
        platform.chargers.whitelist(STATION, "default")
        platform.users.register(OPERATOR, UserRole.OPERATOR, hash_secret(secret))
    return secret


@dataclass
class Served:
    base: str
    process: subprocess.Popen[bytes]
    output: list[Path]
    secret: str  # the operator's client secret

    def wait_for(self, text: str, seconds: float = 15) -> None:
        """Until a line with ``text`` was written (by the server or its child)."""
        deadline = time.monotonic() + seconds
        while not any(text in path.read_text("utf-8") for path in self.output):
            assert time.monotonic() < deadline, f"no line with {text!r}"
            time.sleep(0.05)

    def stop(self) -> list[str]:
        """Stop the server this test started (by its PID) and return every line it and its child wrote."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return [line for path in self.output for line in path.read_text("utf-8").splitlines() if line.strip()]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CLOUDBAY_DATABASE_URL": f"sqlite:///{tmp_path / 'cloudbay.sqlite3'}",
        "CLOUDBAY_DATA_DIR": str(tmp_path / "data"),
        "CLOUDBAY_LOG_FORMAT": "json",
    }


@pytest.fixture
def served(env: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    secret = prepare(env)
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    stdout, stderr = tmp_path / "stdout.log", tmp_path / "stderr.log"
    command = [sys.executable, "-m", "adapters.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen([*command, "--log-level", "info"], env=env, stdout=out, stderr=err)
    server = Served(f"http://127.0.0.1:{port}", process, [stdout, stderr], secret)
    try:
        deadline = time.monotonic() + 20
        while not _healthy(server.base):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + "\n".join(server.stop()))
            time.sleep(0.05)
        yield server
    finally:
        server.stop()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


async def charger_traffic(ws_base: str) -> list[Any]:
    """A real OCPP client boots and beats; then one CALL the RPC layer refuses (a line it logs)."""
    async with connect(f"{ws_base}/ocpp/{STATION}", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        cp = ChargePoint(STATION, ws, response_timeout=5)
        listener = asyncio.create_task(cp.start())
        boot = call.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp")
        await cp.call(boot, suppress=False)
        await cp.call(call.Heartbeat(), suppress=False)
        listener.cancel()
        await ws.send(json.dumps([2, "log-bad-1", "BootNotification", {"reason": "PowerUp"}]))
        return list(json.loads(await asyncio.wait_for(ws.recv(), 5)))


def projected(http: httpx.Client, token: str) -> httpx.Response:
    """The charger as the read model has it, once the projector child has caught up (its lines are logged)."""
    deadline = time.monotonic() + 15
    while (answer := http.get(f"/api/v1/chargers/{STATION}", headers={"Authorization": f"Bearer {token}"})).is_error:
        assert answer.status_code == 404 and time.monotonic() < deadline, answer.text
        time.sleep(0.05)
    return answer


async def watch_live(ws_base: str, token: str) -> str:
    """The live feed with the token in the query, as a browser passes it."""
    try:
        async with connect(f"{ws_base}/api/v1/live?charger={STATION}&access_token={token}") as live:
            return str(json.loads(await asyncio.wait_for(live.recv(), 5))["type"])
    except InvalidStatus as refused:
        return f"refused {refused.response.status_code}"


def test_json_logs_carry_correlation_fields_and_no_secret(served: Served) -> None:
    ws_base = served.base.replace("http", "ws")

    answer = asyncio.run(charger_traffic(ws_base))
    with httpx.Client(base_url=served.base, timeout=10) as http:
        basic = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(OPERATOR, served.secret))
        token = basic.json()["access_token"]
        form = {"grant_type": "client_credentials", "client_id": OPERATOR, "client_secret": served.secret}
        posted = http.post("/oauth/token", data=form).json()["access_token"]
        charger = projected(http, token)
        missing = http.get("/no/such/page", headers={"X-Request-ID": "e2e-404"})
    live = asyncio.run(watch_live(ws_base, token))
    served.wait_for("projector keeping")  # the child's own line: it may still be starting its followers
    lines = served.stop()

    assert answer[:3] == [4, "log-bad-1", "OccurrenceConstraintViolation"]
    assert live == "snapshot"
    parsed = [_json(line) for line in lines]
    for line in parsed:
        assert isinstance(line, dict) and {"time", "level", "logger", "message"} <= set(line), line
        assert RFC3339_UTC.fullmatch(line["time"]), line
    loggers = {line["logger"] for line in parsed}
    assert {"uvicorn.error", "uvicorn.access", "cloudbay.projector", "cloudbay.ocpp"} <= loggers, loggers
    assert any(line["message"].startswith("projector keeping") for line in parsed)
    charger_lines = [line for line in parsed if line.get("station_id") == STATION]
    assert any(line.get("ocpp_message_id") == "log-bad-1" for line in charger_lines), charger_lines
    assert _request_line(parsed, charger.headers["x-request-id"])["logger"] == "uvicorn.access"
    assert missing.status_code == 404 and missing.headers["x-request-id"] == "e2e-404"
    assert "404" in _request_line(parsed, "e2e-404")["message"]
    assert any(f"/api/v1/live?charger={STATION}&access_token=[redacted]" in line["message"] for line in parsed)
    everything = "\n".join(lines)
    for leaked in (token, posted, served.secret):
        assert leaked not in everything


def _json(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        pytest.fail(f"not a JSON line: {line!r}")


def _request_line(parsed: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    matching = [line for line in parsed if line.get("request_id") == request_id]
    assert matching, f"no line with request_id {request_id}"
    return matching[0]
