"""Charging load: K simulated chargers run transactions back to back (meter values every interval) for S seconds.

Per store: a fresh data dir (and PostgreSQL database, dropped afterwards), `cloudbay serve` as a subprocess, an
operator token from `cloudbay users add` + `cloudbay token`, the chargers of `cloudbay_sim.simulator` in this process.
Then the same load against the ceiling: a bare `ocpp` 2.0.1 CSMS that answers and stores nothing (this file with
`--bare-server PORT`, a subprocess too). Traffic goes to 127.0.0.1 only; each server is stopped by its PID.

Over the window: OCPP messages answered whose event is persisted (TransactionEvent, StatusNotification, MeterValues;
the simulator sends no heartbeats), round trips, projection lag (a TransactionEvent answered -> its energy visible in
the transactions read model, polled every 20 ms on a few chargers: an upper bound), server RSS, and the CPU of the
server, this client and PostgreSQL from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from boot_heartbeat import cpu_seconds, drop_bench_database, pct, rss_mib, stop, wait_healthy, whitelist
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import Action
from websockets.asyncio.server import ServerConnection, serve

from adapters.settings import StoreSettings
from cloudbay_sim.simulator import OCPP201, SimConfig, Simulation, now_iso

PERSISTED = ("TransactionEvent", "StatusNotification", "MeterValues")
PROBES, POLL, DRAIN = 4, 0.02, 5.0  # chargers polled for projection lag, poll period, wait after the window
OPERATOR = "bench-ops@example.com"
Reader = Callable[[str], Awaitable[dict[str, tuple[float, str]]]]  # station -> {transaction id: (energy, status)}


class BareCSMS(ChargePoint):
    """The ceiling: the `ocpp` library's CSMS side answering the same actions, storing nothing."""

    @on(Action.boot_notification)
    def on_boot(self, **_: Any) -> Any:
        return call_result.BootNotification(current_time=now_iso(), interval=300, status="Accepted")

    @on(Action.status_notification)
    def on_status(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @on(Action.transaction_event)
    def on_transaction_event(self, **_: Any) -> Any:
        return call_result.TransactionEvent()

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> Any:
        return call_result.MeterValues()

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> Any:
        return call_result.Authorize(id_token_info={"status": "Accepted"})

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time=now_iso())


async def bare_server(port: int) -> None:
    async def session(ws: ServerConnection) -> None:
        with suppress(Exception):
            await BareCSMS(ws.request.path.rsplit("/", 1)[-1] if ws.request else "?", ws).start()

    async with serve(session, "127.0.0.1", port, subprotocols=[OCPP201], ping_interval=None, compression=None):
        await asyncio.Future()


@dataclass
class Result:
    label: str
    window: float = 0.0
    persisted: int = 0
    answered: int = 0
    rtts: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    lag_missed: int = 0
    poll_rtts: list[float] = field(default_factory=list)
    lag_source: str = "not measured"
    transactions: int = 0
    rss_idle: float = 0.0
    rss_peak: float = 0.0
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("server", "client", "postgres", "machine"), 0))
    errors: Counter[str] = field(default_factory=Counter)
    server_exit: int | None = None
    log_tail: str = ""

    def rate(self) -> float:
        return self.persisted / self.window if self.window else 0.0


class Probe:
    """Projection lag on a few chargers: when is each acknowledged TransactionEvent visible in the read model?"""

    def __init__(self, stations: list[str], read: Reader) -> None:
        self.stations, self.read, self.open = stations, read, False
        self.pending: dict[str, list[tuple[str, float, bool, float]]] = defaultdict(list)
        self.lags: list[float] = []
        self.reads: list[float] = []  # round trips of the polls themselves: the floor of what lag can show

    def observe(self, station: str, tx_id: str, event_type: str, energy: float, at: float) -> None:
        if self.open and station in self.stations:
            self.pending[station].append((tx_id, energy, event_type == "Ended", at))

    async def poll(self, station: str) -> None:
        while True:
            if self.pending[station]:
                with suppress(Exception):  # a failed read is retried on the next tick
                    t0 = time.perf_counter()
                    rows, now, left = await self.read(station), time.perf_counter(), []
                    self.reads.append(now - t0)
                    for tx_id, energy, ended, at in self.pending[station]:
                        energy_seen, status = rows.get(tx_id, (-1.0, ""))
                        if energy_seen >= energy - 1e-9 and (status == "ended" or not ended):
                            self.lags.append(now - at)
                        else:
                            left.append((tx_id, energy, ended, at))
                    self.pending[station] = left
            await asyncio.sleep(POLL)


def pg_cpu() -> float:
    """CPU seconds of every live PostgreSQL process (backends that exited in the window are missed)."""
    total = 0.0
    for proc in Path("/proc").glob("[0-9]*"):
        with suppress(OSError):
            if (proc / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(proc.name))
    return total


def cpu_now(pid: int) -> dict[str, float]:
    return {
        "server": cpu_seconds(pid),
        "client": time.process_time(),
        "postgres": pg_cpu(),
        "machine": cpu_seconds(None),
    }


async def pick_reader(stack: AsyncExitStack, port: int, token: str, url: str) -> tuple[str, Reader | None]:
    """The transactions read model: over REST if the endpoint is there, else rm_transactions directly."""
    auth = {"Authorization": f"Bearer {token}"}
    http = await stack.enter_async_context(httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=auth))
    if (await http.get("/api/v1/transactions", params={"charger": "LOAD-0001", "limit": 1})).status_code == 200:

        async def over_rest(station: str) -> dict[str, tuple[float, str]]:
            r = await http.get("/api/v1/transactions", params={"charger": station, "limit": 10})
            return {
                i["transaction_id"]: (float(i["energy_wh"]), i["status"]) for i in r.raise_for_status().json()["items"]
            }

        return "GET /api/v1/transactions?charger=<id> (REST)", over_rest
    sql = "SELECT transaction_id, energy_wh, status FROM rm_transactions WHERE station_id = %s"
    try:
        if url.startswith("postgresql"):
            conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
            stack.push_async_callback(conn.close)

            async def in_postgres(station: str) -> dict[str, tuple[float, str]]:
                rows = await (await conn.execute(sql, (station,))).fetchall()
                return {t: (float(e), s) for t, e, s in rows}

            await in_postgres("LOAD-0001")
            return "SELECT ... FROM rm_transactions (PostgreSQL, directly; no REST endpoint)", in_postgres
        db = sqlite3.connect(StoreSettings(url).sqlite_read_model_path, check_same_thread=False)
        stack.callback(db.close)

        async def in_sqlite(station: str) -> dict[str, tuple[float, str]]:
            rows = await asyncio.to_thread(lambda: db.execute(sql.replace("%s", "?"), (station,)).fetchall())
            return {t: (float(e), s) for t, e, s in rows}

        await in_sqlite("LOAD-0001")
        return "SELECT ... FROM rm_transactions (SQLite file, directly; no REST endpoint)", in_sqlite
    except Exception as e:
        return f"not measured: no transactions read model ({type(e).__name__})", None


async def measure(res: Result, port: int, pid: int, args: argparse.Namespace, token: str = "", url: str = "") -> None:
    async with AsyncExitStack() as stack:
        probe = None
        if token:
            res.lag_source, read = await pick_reader(stack, port, token, url)
            probe = Probe([f"LOAD-{i:04d}" for i in range(1, PROBES + 1)], read) if read else None
        ramp = 30 + args.chargers / 20
        cfg = SimConfig(
            url=f"ws://127.0.0.1:{port}/ocpp",
            chargers=args.chargers,
            prefix="LOAD",
            transactions=0,
            samples=args.samples,
            meter_interval=args.meter_interval,
            call_timeout=10,
            validate=False,
            synchronized_start=True,
            seconds=ramp + args.seconds + 20,
        )
        sim = Simulation(cfg, probe.observe if probe else None)
        run = asyncio.create_task(sim.run())

        async def sample_rss() -> None:
            while True:
                res.rss_peak = max(res.rss_peak, rss_mib(pid))
                await asyncio.sleep(0.25)

        helpers = [asyncio.create_task(sample_rss())]
        helpers += [asyncio.create_task(probe.poll(s)) for s in probe.stations] if probe else []
        try:
            await asyncio.wait_for(sim.go.wait(), ramp)
        except TimeoutError:
            res.errors["ramp (connect + boot + status) not done in time"] += 1
        t0, c0 = time.perf_counter(), cpu_now(pid)
        if probe:
            probe.open = True
        await asyncio.wait([run], timeout=args.seconds)
        t1, c1 = time.perf_counter(), cpu_now(pid)
        if probe:
            probe.open = False
        sim.stop()
        stats = await run
        deadline = time.perf_counter() + DRAIN
        while probe and any(probe.pending.values()) and time.perf_counter() < deadline:
            await asyncio.sleep(POLL)
        for task in helpers:
            task.cancel()
    res.window = t1 - t0
    res.cpu = {k: 100 * (c1[k] - c0[k]) / res.window for k in c0}
    for action, answers in stats.answered.items():
        inside = [rtt for at, rtt in answers if t0 <= at <= t1]
        res.rtts += inside
        res.answered += len(inside)
        res.persisted += len(inside) if action in PERSISTED else 0
    res.transactions, res.errors = len(stats.ended), res.errors + stats.errors
    if probe:
        res.lags, res.lag_missed, res.poll_rtts = probe.lags, sum(len(v) for v in probe.pending.values()), probe.reads


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def bench(store: str, args: argparse.Namespace) -> Result:
    """`cloudbay serve` on a fresh store (store = sqlite or postgres), or the bare CSMS (store = bare)."""
    res, dbname = Result(store), f"cloudbay_load_{secrets.token_hex(4)}" if store == "postgres" else ""
    ids = [f"LOAD-{i:04d}" for i in range(1, args.chargers + 1)]
    with tempfile.TemporaryDirectory(prefix=f"cloudbay-load-{store}-") as tmp:
        data, port, proc, token = Path(tmp), free_port(), None, ""
        url = f"postgresql://postgres@127.0.0.1:5432/{dbname}" if dbname else f"sqlite:///{data}/cloudbay.sqlite3"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDBAY_")}
        env.update(CLOUDBAY_DATA_DIR=str(data), CLOUDBAY_DATABASE_URL=url)
        exe = str(Path(sys.executable).with_name("cloudbay"))
        try:
            if store == "bare":
                cmd = [sys.executable, __file__, "--bare-server", str(port)]
            else:
                whitelist(url, data, ids)
                subprocess.run(
                    [exe, "users", "add", OPERATOR, "--role", "operator"],
                    env=env,
                    check=True,
                    capture_output=True,
                    timeout=60,
                )
                subprocess.run([exe, "signing-key"], env=env, check=True, capture_output=True, timeout=60)
                out = subprocess.run([exe, "token", OPERATOR], env=env, check=True, capture_output=True, timeout=60)
                token = out.stdout.decode().strip()
                cmd = [exe, *f"serve --host 127.0.0.1 --port {port} --log-level warning".split()]
            with open(data / "server.log", "wb") as log:
                proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
            print(f"[{store}] {args.chargers} chargers; server PID {proc.pid} on port {port}", flush=True)
            if store == "bare":
                deadline = time.monotonic() + 30
                while not listening(port) and time.monotonic() < deadline:
                    time.sleep(0.1)
            else:
                wait_healthy(proc, port)
            res.rss_idle = rss_mib(proc.pid)
            asyncio.run(measure(res, port, proc.pid, args, token, url))
        except Exception as e:  # report, do not hide
            res.errors[f"benchmark aborted: {type(e).__name__}: {e}"] += 1
        finally:
            if proc is not None:
                res.server_exit = stop(proc)
                res.log_tail = "\n".join((data / "server.log").read_text(errors="replace").splitlines()[-15:])
            if dbname:
                drop_bench_database(store, dbname)
    return res


def limit(r: Result) -> str:
    cores, cpu = os.cpu_count() or 1, r.cpu
    other = cpu["machine"] - cpu["server"] - cpu["client"] - cpu["postgres"]
    if cpu["machine"] >= 85 * cores:
        why = f"; other processes took {other:.0f}%" if other >= 25 else ""
        return f"the machine: all {cores} CPUs busy (server, client and PostgreSQL share them{why})"
    if cpu["server"] >= 75:  # its RTT is queueing from here on
        return "the server process: one event loop, one GIL (~100% = one core)"
    if cpu["client"] >= 75:
        return "the load client (one asyncio process)"
    return "no CPU saturated: the offered load (chargers wait a meter interval between messages)"


def report(r: Result, args: argparse.Namespace) -> None:
    offered = args.chargers * (args.samples + 4) / (args.samples * args.meter_interval)
    lags = f"n={len(r.lags)} p50={pct(r.lags, 0.5):.1f} ms p99={pct(r.lags, 0.99):.1f} ms max={pct(r.lags, 1):.1f} ms"
    print(f"\n=== {r.label}: {args.chargers} chargers, window {r.window:.1f}s ===")
    print(
        f"persisted msgs/s (TE+SN+MV): {r.rate():.0f}  ({r.persisted} msgs; offered at zero latency: {offered:.0f}/s)"
    )
    print(f"all messages answered      : {r.answered} ({r.answered / r.window if r.window else 0:.0f}/s)")
    print(f"round trip                 : p50 {pct(r.rtts, 0.5):.2f} ms  p99 {pct(r.rtts, 0.99):.2f} ms")
    print(f"transactions ended (run)   : {r.transactions}")
    if r.label != "bare":
        print(f"projection lag ({PROBES} chargers): {lags}; not visible {DRAIN:.0f}s after the window: {r.lag_missed}")
        print(f"  read model polled via    : {r.lag_source}; poll round trip p50 {pct(r.poll_rtts, 0.5):.1f} ms")
    print(f"server RSS (VmRSS)         : idle {r.rss_idle:.1f} MiB, peak {r.rss_peak:.1f} MiB")
    cpu = r.cpu
    other = cpu["machine"] - cpu["server"] - cpu["client"] - cpu["postgres"]
    print(
        f"CPU over the window        : server {cpu['server']:.0f}%, client {cpu['client']:.0f}%, PostgreSQL "
        f"{cpu['postgres']:.0f}%, other {other:.0f}%; machine {cpu['machine']:.0f}% of {100 * (os.cpu_count() or 1)}%"
    )
    print(f"limited by                 : {limit(r)}")
    print(f"errors                     : {sum(r.errors.values())} {dict(r.errors) if r.errors else ''}")
    if r.server_exit is not None or r.errors:
        print(f"server exit: {r.server_exit}; server log tail:\n{r.log_tail or '(empty)'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chargers", type=int, default=100)
    p.add_argument("--seconds", type=float, default=20.0, help="measurement window, after every charger booted")
    p.add_argument("--meter-interval", type=float, default=0.2)
    p.add_argument("--samples", type=int, default=5, help="TransactionEvent Updated per transaction")
    p.add_argument("--store", choices=["postgres", "sqlite", "both"], default="postgres")
    p.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.bare_server:
        asyncio.run(bare_server(args.bare_server))
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < (want := 4 * args.chargers + 256):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard < 0 else min(want, hard), hard))
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    results = [bench(s, args) for s in [*stores, "bare"]]
    for r in results:
        report(r, args)
    bare = results[-1]
    print(
        f"\n{'server':<10}{'msg/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'lag p50':>9}{'lag p99':>9}{'RSS MiB':>9}{'errors':>8}"
    )
    for r in results:
        lag = f"{pct(r.lags, 0.5):>9.1f}{pct(r.lags, 0.99):>9.1f}" if r.lags else f"{'-':>9}{'-':>9}"
        print(
            f"{r.label:<10}{r.rate():>8.0f}{pct(r.rtts, 0.5):>8.2f}{pct(r.rtts, 0.99):>8.2f}{lag}"
            f"{r.rss_peak:>9.1f}{sum(r.errors.values()):>8}"
        )
    for r in results[:-1]:
        print(f"persisted/bare ({r.label}): {r.rate() / bare.rate() if bare.rate() else float('nan'):.2f}")
    print(f"NOTE: server, client and PostgreSQL share this machine ({os.cpu_count()} CPUs); one client process.")


if __name__ == "__main__":
    main()
