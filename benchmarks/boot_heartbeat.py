"""Load benchmark: N chargers connect, boot, report one status, then send heartbeats back-to-back.

Per store: a fresh data dir (and PostgreSQL database, dropped afterwards), `cloudbay serve` as a subprocess, one
asyncio client process on the same machine. Traffic goes to 127.0.0.1 only; the server is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from ocpp.exceptions import OCPPError
from ocpp.v201 import ChargePoint, call
from procstat import cpu_seconds, rss_mib
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from adapters.settings import Settings, StoreSettings
from adapters.wiring import build_platform

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
RAMP_BATCH = 50
CALL_TIMEOUT = 10.0
OCPP201 = Subprotocol("ocpp2.0.1")
BOOT = call.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp")
STATUS = call.StatusNotification(
    timestamp="2026-11-25T10:00:00Z", connector_status="Available", evse_id=1, connector_id=1
)


@dataclass
class Result:
    store: str
    chargers: int
    peak_open: int = 0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    ramp: float = 0.0
    steady_msgs: int = 0
    steady_time: float = 0.0
    rss_idle_mib: float = 0.0
    rss_peak_mib: float = 0.0
    cpu: dict[str, float] = field(default_factory=lambda: {"server": 0.0, "client": 0.0, "machine": 0.0})
    server_exit: int | None = None
    log_tail: str = ""

    def total(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def rate(self) -> float:
        return self.steady_msgs / self.steady_time if self.steady_time else 0.0


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] * 1000.0 if s else float("nan")


def describe(e: Exception) -> str:
    if isinstance(e, InvalidStatus):
        return f"handshake rejected HTTP {e.response.status_code}"
    if isinstance(e, ConnectionClosed):
        return f"connection closed ({e.rcvd.code if e.rcvd else 'no close frame'})"
    if isinstance(e, TimeoutError):
        return "connect timeout"
    return "connection refused" if isinstance(e, ConnectionRefusedError) else f"{type(e).__name__}: {e}"


def whitelist(url: str, data_dir: Path, ids: list[str]) -> None:
    platform = build_platform(Settings(store=StoreSettings(url), data_dir=data_dir))
    try:
        for sid in ids:
            platform.chargers.whitelist(sid, "bench")
    finally:
        platform.close()


def wait_healthy(proc: subprocess.Popen[bytes], port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before becoming healthy")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not healthy after {timeout:.0f}s")


class Load:
    def __init__(self, res: Result, port: int, per_charger: int) -> None:
        self.res, self.port, self.per_charger = res, port, per_charger
        self.open = 0
        self.deadline = float("inf")
        self.go = asyncio.Event()  # every charger starts heartbeating once the whole ramp is connected

    async def timed(self, cp: ChargePoint, action: str, payload: object) -> object | None:
        t0 = time.perf_counter()
        try:
            reply = await cp.call(payload, suppress=False, skip_schema_validation=True)
        except (TimeoutError, OCPPError) as e:  # no reply in CALL_TIMEOUT, or a CALLERROR reply
            self.res.errors[f"{action}: {type(e).__name__}"] += 1
            return None
        self.res.latencies[action].append(time.perf_counter() - t0)
        return reply

    async def charger(self, sid: str, ready: asyncio.Event) -> None:
        uri = f"ws://127.0.0.1:{self.port}/ocpp/{sid}"
        try:
            async with connect(uri, subprotocols=[OCPP201], open_timeout=CALL_TIMEOUT, ping_interval=None) as ws:
                self.open += 1
                self.res.peak_open = max(self.res.peak_open, self.open)
                cp = ChargePoint(sid, ws, response_timeout=CALL_TIMEOUT)
                reader = asyncio.create_task(cp.start())
                try:
                    boot = await self.timed(cp, "BootNotification", BOOT)
                    if boot is not None and getattr(boot, "status", None) != "Accepted":
                        self.res.errors[f"boot {getattr(boot, 'status', '?')}"] += 1
                    await self.timed(cp, "StatusNotification", STATUS)
                    ready.set()
                    await self.go.wait()
                    sent = 0
                    while time.perf_counter() < self.deadline and (not self.per_charger or sent < self.per_charger):
                        if await self.timed(cp, "Heartbeat", call.Heartbeat()) is None and reader.done():
                            break
                        sent += 1
                finally:
                    self.open -= 1
                    reader.cancel()
        except Exception as e:  # refused, rejected, timed out, dropped: counted, never hidden
            self.res.errors[describe(e)] += 1
        finally:
            ready.set()

    async def sample_rss(self, pid: int) -> None:
        while True:
            self.res.rss_peak_mib = max(self.res.rss_peak_mib, rss_mib(pid))
            await asyncio.sleep(0.25)

    async def run(self, ids: list[str], seconds: float, pid: int) -> None:
        sampler = asyncio.create_task(self.sample_rss(pid))
        t0 = time.perf_counter()
        tasks: list[asyncio.Task[None]] = []
        for i in range(0, len(ids), RAMP_BATCH):
            batch = [(sid, asyncio.Event()) for sid in ids[i : i + RAMP_BATCH]]
            tasks += [asyncio.create_task(self.charger(sid, ev)) for sid, ev in batch]
            try:
                await asyncio.wait_for(asyncio.gather(*(ev.wait() for _, ev in batch)), 3 * CALL_TIMEOUT)
            except TimeoutError:
                self.res.errors["ramp batch not ready in time"] += 1
        t_ramp = time.perf_counter()
        self.res.ramp, before = t_ramp - t0, self.res.total()
        c0 = (cpu_seconds(pid), time.process_time(), cpu_seconds(None))
        self.deadline = t_ramp + seconds
        self.go.set()
        await asyncio.wait(tasks, timeout=seconds + 3 * CALL_TIMEOUT)
        t_end = time.perf_counter()
        c1 = (cpu_seconds(pid), time.process_time(), cpu_seconds(None))
        names = ("server", "client", "machine")
        self.res.cpu = {k: 100 * (b - a) / (t_end - t_ramp) for k, a, b in zip(names, c0, c1, strict=True)}
        self.res.steady_msgs, self.res.steady_time = self.res.total() - before, t_end - t_ramp
        for t in [*tasks, sampler]:
            t.cancel()


def bench(store: str, args: argparse.Namespace) -> Result:
    res = Result(store, args.chargers)
    ids = [f"BENCH{i:05d}" for i in range(args.chargers)]
    dbname = f"cloudbay_bench_{secrets.token_hex(4)}" if store == "postgres" else ""
    with tempfile.TemporaryDirectory(prefix=f"cloudbay-bench-{store}-") as tmp:
        data = Path(tmp)
        url = f"postgresql://postgres@127.0.0.1:5432/{dbname}" if dbname else f"sqlite:///{data}/cloudbay.sqlite3"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDBAY_")}
        env.update(CLOUDBAY_DATA_DIR=str(data), CLOUDBAY_DATABASE_URL=url)
        exe = str(Path(sys.executable).with_name("cloudbay"))  # the console script of this interpreter
        with socket.socket() as sock:  # a free port
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        cmd = [exe, *f"serve --host 127.0.0.1 --port {port} --log-level warning".split()]
        proc: subprocess.Popen[bytes] | None = None
        try:
            whitelist(url, data, ids)
            with open(data / "server.log", "wb") as log:
                proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
            print(f"[{store}] {len(ids)} chargers whitelisted; server PID {proc.pid} on port {port}", flush=True)
            wait_healthy(proc, port)
            res.rss_idle_mib = rss_mib(proc.pid)
            asyncio.run(Load(res, port, args.heartbeats_per_charger).run(ids, args.seconds, proc.pid))
        except Exception as e:  # report, do not hide
            res.errors[f"benchmark aborted: {type(e).__name__}: {e}"] += 1
        finally:
            if proc is not None:
                res.server_exit = stop(proc)
                res.log_tail = "\n".join((data / "server.log").read_text(errors="replace").splitlines()[-15:])
            if dbname:
                drop_bench_database(store, dbname)
    return res


def stop(proc: subprocess.Popen[bytes]) -> int | None:
    """Stop a server this benchmark started, by its PID; its exit code if it had exited on its own."""
    exited = proc.poll()
    if exited is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return exited


def drop_bench_database(store: str, dbname: str) -> None:
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    except Exception as e:
        print(f"[{store}] could not drop database {dbname}: {e}", flush=True)


def report(r: Result) -> None:
    everything = [x for v in r.latencies.values() for x in v]
    print(f"\n=== {r.store}: {r.chargers} chargers ===")
    print(f"connections held at peak : {r.peak_open}")
    print(f"ramp (connect + boot + status, batches of {RAMP_BATCH}): {r.ramp:.1f}s")
    print(f"total messages           : {r.total()} (ramp + heartbeat window)")
    print(f"heartbeat window         : {r.steady_msgs} msgs in {r.steady_time:.1f}s = {r.rate():.0f} msg/s")
    for action, vals in [*sorted(r.latencies.items()), ("overall", everything)]:
        print(f"  {action:<20} n={len(vals):<8} p50={pct(vals, 0.5):7.2f} ms  p99={pct(vals, 0.99):7.2f} ms")
    print(
        f"CPU in heartbeat window  : server {r.cpu['server']:.0f}%, client {r.cpu['client']:.0f}%, machine "
        f"{r.cpu['machine']:.0f}% of {100 * (os.cpu_count() or 1)}% (the rest: PostgreSQL, other)"
    )
    print(f"server RSS (VmRSS)       : idle {r.rss_idle_mib:.1f} MiB, peak {r.rss_peak_mib:.1f} MiB")
    print(f"errors                   : {sum(r.errors.values())} {dict(r.errors) if r.errors else ''}")
    if r.server_exit is not None:
        print(f"!! server exited on its own with code {r.server_exit}")
    if r.errors or r.server_exit is not None:
        print("server log tail:\n" + (r.log_tail or "(empty)"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chargers", type=int, default=500)
    p.add_argument("--seconds", type=float, default=20.0, help="heartbeat window after the ramp")
    p.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--heartbeats-per-charger", type=int, default=0, help="stop each charger after N (0 = no cap)")
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # 2 sockets per charger plus the server's files
    if soft < (want := 4 * args.chargers + 256):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard < 0 else min(want, hard), hard))
    results = [bench(s, args) for s in (["sqlite", "postgres"] if args.store == "both" else [args.store])]
    for r in results:
        report(r)
    print(
        f"\nNOTE: clients and server share this machine ({os.cpu_count()} CPUs); all {args.chargers} clients run in "
        "one asyncio process (client-side schema validation skipped), so the client is itself a limit."
    )
    print(
        f"\n{'store':<9}{'peak conns':>11}{'msgs':>9}{'msg/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'HB p99':>8}"
        f"{'boot p99':>9}{'RSS MiB':>9}{'errors':>8}"
    )
    for r in results:
        every = [x for v in r.latencies.values() for x in v]
        print(
            f"{r.store:<9}{r.peak_open:>11}{r.total():>9}{r.rate():>8.0f}{pct(every, 0.5):>8.2f}"
            f"{pct(every, 0.99):>8.2f}{pct(r.latencies['Heartbeat'], 0.99):>8.2f}"
            f"{pct(r.latencies['BootNotification'], 0.99):>9.2f}{r.rss_peak_mib:>9.1f}{sum(r.errors.values()):>8}"
        )


if __name__ == "__main__":
    main()
