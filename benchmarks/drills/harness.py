"""What every drill shares: a fresh deployment, a fleet of chargers under load, and the count afterwards.

A ``Deployment`` is a fresh data dir and a fresh PostgreSQL database (``cloudbay_drill_<hex>``, dropped at the
end), N whitelisted chargers, and `cloudbay serve` on 127.0.0.1 as a subprocess, started, killed and stopped by
its own PID only. It may reach PostgreSQL through a TCP proxy (``tests/e2e/servers.py``) that can hold every
byte, an outage that touches no one else's database.

A ``Fleet`` is N chargers in this process, each with one EVSE running transactions back to back: Started
(seqNo 0), Updated (1..4), Ended (5), one message every ``interval`` seconds, as OCPP chargers do it: a message
that got no CALLRESULT (a CALLERROR, no answer in time, a lost connection) is sent again, with a new message
id, until it gets one; a lost connection is reopened (and booted) after a second. Every CALLRESULT to a
TransactionEvent is recorded: those are the acknowledged messages.

``count`` then reads the event log itself: a (charger, transaction, seqNo) acknowledged but not stored is lost,
one stored twice is duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from boot_heartbeat import rss_mib, whitelist
from eventsourcing.utils import get_topic
from serving import free_port
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from adapters.settings import Settings, StoreSettings
from adapters.storage import drop_database, ensure_database
from adapters.wiring import build_log
from cloudbay_domain.transaction import Transaction
from tests.e2e.servers import TcpProxy

PG = "postgresql://postgres@127.0.0.1:5432"
OCPP201 = Subprotocol("ocpp2.0.1")
SEQ_PER_TX = 6  # Started, 4 x Updated, Ended
CALL_TIMEOUT = 15.0  # longer than the server's bounded store wait (CLOUDBAY_STORE_TIMEOUT, 10 s)
Key = tuple[str, str, int]  # (station id, transaction id, seqNo)


class Deployment:
    """A fresh database and data dir, N whitelisted chargers, `cloudbay serve` on a fixed free port."""

    def __init__(self, name: str, chargers: int, proxied: bool = False, **env: str) -> None:
        self.dbname = f"cloudbay_drill_{secrets.token_hex(4)}"
        self.direct_url = f"{PG}/{self.dbname}"
        self.tmp = tempfile.TemporaryDirectory(prefix=f"cloudbay-drill-{name}-")
        self.data = Path(self.tmp.name)
        self.ids = [f"DRILL-{i:03d}" for i in range(1, chargers + 1)]
        ensure_database(StoreSettings(self.direct_url))
        self.proxy = TcpProxy("127.0.0.1", 5432) if proxied else None
        url = f"postgresql://postgres@127.0.0.1:{self.proxy.port}/{self.dbname}" if self.proxy else self.direct_url
        self.probe_id = "DRILL-PROBE"  # not in the fleet: a fresh connection, whenever a drill wants one
        whitelist(self.direct_url, self.data, [*self.ids, self.probe_id])
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDBAY_")}
        self.env.update(CLOUDBAY_DATABASE_URL=url, CLOUDBAY_DATA_DIR=str(self.data), **env)
        self.port = free_port()  # kept: a restarted server is found again by the chargers
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.data / "serve.log"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def start(self, timeout: float = 60) -> float:
        """Start `cloudbay serve`; seconds until /readyz said ready."""
        exe = str(Path(sys.executable).with_name("cloudbay"))
        command = [exe, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        t0 = time.monotonic()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}: {self.tail()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - t0
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"serve not ready within {timeout:.0f} s: {self.tail()}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> tuple[float, int | None]:
        """SIGTERM by PID; (seconds until it exited, its exit code); killed after ``timeout``."""
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.terminate()
        try:
            code: int | None = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            code = None
        return time.monotonic() - t0, code

    def rss(self) -> float:
        return rss_mib(self.proc.pid) if self.proc is not None else 0.0

    def tail(self, lines: int = 12) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.terminate()
        if self.proxy is not None:
            self.proxy.close()
        try:
            drop_database(StoreSettings(self.direct_url))
        except Exception as e:  # reported, never hidden
            print(f"could not drop database {self.dbname}: {e}")
        self.tmp.cleanup()


@dataclass
class Fleet:
    url: str
    ids: list[str]
    interval: float = 0.2
    acknowledged: list[Key] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)  # CALLRESULT, or the CALLERROR code, or the failure
    closes: Counter[str] = field(default_factory=Counter)  # lost connections, by close code
    last_ack: float = 0.0  # monotonic time of the latest CALLRESULT to a TransactionEvent
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._charger(sid)) for sid in self.ids]

    async def stop(self, grace: float = 30) -> None:
        """Chargers finish the message under way (until it is acknowledged, at most ``grace`` s), then stop."""
        self.stopping.set()
        _, pending = await asyncio.wait(self.tasks, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.answers["still unacknowledged when stopped"] += len(pending)

    async def _charger(self, sid: str) -> None:
        tx, seq, ws = uuid.uuid4().hex[:16], 0, None
        while True:
            if ws is None:
                ws = await self._open(sid)
                if ws is None:
                    await asyncio.sleep(1)
                    continue
            try:
                if await self._call(ws, "TransactionEvent", event(tx, seq)):
                    self.acknowledged.append((sid, tx, seq))
                    self.last_ack = time.monotonic()
                    if self.stopping.is_set():
                        break
                    tx, seq = (uuid.uuid4().hex[:16], 0) if seq == SEQ_PER_TX - 1 else (tx, seq + 1)
                    await asyncio.sleep(self.interval)
                else:
                    await asyncio.sleep(1)  # answered with a CALLERROR or not at all: sent again
            except ConnectionClosed as closed:
                self.closes[str(closed.rcvd.code if closed.rcvd else "no close frame")] += 1
                ws = None
        await ws.close()

    async def _open(self, sid: str) -> ClientConnection | None:
        try:
            ws = await connect(f"{self.url}/{sid}", subprotocols=[OCPP201], open_timeout=10, close_timeout=2)
        except InvalidStatus as e:
            self.answers[f"connect refused HTTP {e.response.status_code}"] += 1
            return None
        except (OSError, TimeoutError) as e:
            self.answers[f"connect failed: {type(e).__name__}"] += 1
            return None
        try:
            boot = {"chargingStation": {"model": "Drill", "vendorName": "CloudBay"}, "reason": "PowerUp"}
            while not await self._call(ws, "BootNotification", boot):
                await asyncio.sleep(1)
        except ConnectionClosed as closed:
            self.closes[str(closed.rcvd.code if closed.rcvd else "no close frame")] += 1
            return None
        return ws

    async def _call(self, ws: ClientConnection, action: str, payload: dict[str, Any]) -> bool:
        """True on a CALLRESULT; False on a CALLERROR or no answer in time. Raises ConnectionClosed."""
        uid = uuid.uuid4().hex
        await ws.send(json.dumps([2, uid, action, payload]))
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                while True:
                    reply = json.loads(await ws.recv())
                    if reply[0] in (3, 4) and reply[1] == uid:
                        break
        except TimeoutError:
            self.answers[f"{action}: no answer in {CALL_TIMEOUT:.0f} s"] += 1
            return False
        self.answers[f"{action}: {'CALLRESULT' if reply[0] == 3 else reply[2]}"] += 1
        return bool(reply[0] == 3)


def event(tx: str, seq: int) -> dict[str, Any]:
    kind = "Started" if seq == 0 else "Ended" if seq == SEQ_PER_TX - 1 else "Updated"
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sample = {"timestamp": at, "sampledValue": [{"value": 100.0 * seq, "measurand": "Energy.Active.Import.Register"}]}
    trigger = {"Started": "CablePluggedIn", "Ended": "EVCommunicationLost"}.get(kind, "MeterValuePeriodic")
    return {
        "eventType": kind,
        "timestamp": at,
        "triggerReason": trigger,
        "seqNo": seq,
        "transactionInfo": {"transactionId": tx},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [sample],
    }


@dataclass
class Count:
    acknowledged: int
    stored: int
    lost: int
    duplicated: int
    stored_unacknowledged: int  # stored, but its answer never arrived: the charger's resend found it


def count(url: str, data_dir: Path, acknowledged: list[Key]) -> Count:
    """Read every Transaction.Opened and Transaction.Reported from the event log and compare."""
    log = build_log(Settings(store=StoreSettings(url), data_dir=data_dir))
    opened, reported = get_topic(Transaction.Opened), get_topic(Transaction.Reported)
    owners: dict[Any, tuple[str, str]] = {}
    stored: Counter[Key] = Counter()
    try:
        start = 1
        while batch := log.recorder.select_notifications(start, 1000, topics=[opened, reported]):
            for n in batch:
                e: Any = log.mapper.to_domain_event(n)
                if n.topic == opened:
                    owners[e.originator_id] = (e.station_id, e.transaction_id)
                else:
                    stored[(*owners[e.originator_id], e.seq_no)] += 1
            start = batch[-1].id + 1
    finally:
        log.close()
    acked = set(acknowledged)
    return Count(
        acknowledged=len(acked),
        stored=len(stored),
        lost=len(acked - set(stored)),
        duplicated=sum(1 for n in stored.values() if n > 1),
        stored_unacknowledged=len(set(stored) - acked),
    )


def table(title: str, rows: list[tuple[str, Any]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"\n=== {title} ===")
    for name, value in rows:
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        print(f"{name:<{width}}  {shown}")


def count_rows(c: Count) -> list[tuple[str, Any]]:
    return [
        ("acknowledged (CALLRESULT)", c.acknowledged),
        ("stored", c.stored),
        ("lost (acknowledged, not stored)", c.lost),
        ("duplicated (stored twice)", c.duplicated),
        ("stored, answer never received", c.stored_unacknowledged),
    ]


def fleet_rows(fleet: Fleet) -> list[tuple[str, Any]]:
    answers = ", ".join(f"{k} {v}" for k, v in sorted(fleet.answers.items())) or "-"
    closes = ", ".join(f"{k}: {v}" for k, v in sorted(fleet.closes.items())) or "none"
    return [("answers", answers), ("connections lost (close code)", closes)]


async def acked_after(fleet: Fleet, after: float, timeout: float) -> float | None:
    """Seconds from ``after`` until the fleet's next acknowledged message (None: none within ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fleet.last_ack > after:
            return fleet.last_ack - after
        await asyncio.sleep(0.05)
    return None


Drill = Callable[[Deployment, Fleet, argparse.Namespace], Awaitable[list[tuple[str, Any]]]]


def arguments(description: str, **extra: float) -> argparse.Namespace:
    """--chargers and --seconds (load before and after the failure), and the drill's own numbers."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chargers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=8.0, help="load before (and after) the failure")
    for name, default in extra.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=default)
    return parser.parse_args()


def main(title: str, drill: Drill, args: argparse.Namespace, *, proxied: bool = False, counted: bool = True) -> None:
    """Deploy, load, run ``drill`` (which stops the fleet), stop the server, count, print; clean up always."""
    deployment = Deployment(title.split()[0], args.chargers, proxied=proxied)
    rows: list[tuple[str, Any]] = [("chargers", args.chargers)]
    try:
        rows.append(("serve ready after (s)", deployment.start()))

        async def run() -> Fleet:
            fleet = Fleet(deployment.url, deployment.ids)
            fleet.start()
            rows.extend(await drill(deployment, fleet, args))
            return fleet

        fleet = asyncio.run(run())
        if deployment.proc is not None and deployment.proc.poll() is None:
            rows.append(("SIGTERM at the end: exit after (s)", deployment.terminate()[0]))
        rows += fleet_rows(fleet)
        if counted:
            rows += count_rows(count(deployment.direct_url, deployment.data, fleet.acknowledged))
        table(f"{title}: {args.chargers} chargers, {os.cpu_count()} CPUs", rows)
    except BaseException:
        print(f"drill failed; serve's log ends with:\n{deployment.tail()}")
        raise
    finally:
        deployment.close()


async def fresh_connection(url: str, station_id: str) -> str:
    """Open a new connection and boot on it: how long that took, or why it failed."""
    t0 = time.monotonic()
    probe = Fleet(url, [station_id])
    ws = await probe._open(station_id)
    if ws is None:
        return f"failed after {time.monotonic() - t0:.2f} s: {dict(probe.answers)}"
    await ws.close()
    return f"connected and booted in {time.monotonic() - t0:.2f} s"


async def probe_health(port: int) -> list[tuple[str, Any]]:
    """/healthz and /readyz: status and seconds to answer."""
    rows: list[tuple[str, Any]] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        for path in ("/healthz", "/readyz"):
            t0 = time.monotonic()
            try:
                answer = await http.get(path)
                store = answer.json().get("store", "-") if path == "/readyz" else "-"
                rows.append((path, f"{answer.status_code} in {time.monotonic() - t0:.2f} s (store: {store})"))
            except httpx.HTTPError as e:
                rows.append((path, f"{type(e).__name__} after {time.monotonic() - t0:.2f} s"))
    return rows
