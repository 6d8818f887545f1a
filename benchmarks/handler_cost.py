"""What one TransactionEvent costs CloudBay's own code, without the network: the CPU of the node per call.

K sessions (``StationSession``, the class ``cloudbay serve`` runs per charger) are fed raw OCPP-J frames
through an in-memory connection, each with one CALL outstanding (as OCPP requires), on one event loop: the
RPC layer, schema validation, the domain decision, the group commit to the store and the answer, all real;
no WebSocket, no load generator and no projector share the CPU. Printed: calls/s, the process's CPU per call
(all its threads), and with ``--profile`` the functions with most own time (cProfile, event loop thread only,
which slows it: the figures printed then are not the unprofiled ones).

    PYTHONPATH=src:benchmarks python3 benchmarks/handler_cost.py --store postgres --stations 200 --calls 20000
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import time
from pathlib import Path
from typing import Any

from rawload import now_iso, transaction_events
from serving import fresh_store, whitelist_many

from adapters import gc_tuning
from adapters.ocpp.station import StationSession
from adapters.settings import Settings, StoreSettings
from adapters.wiring import Runtime

BOOT = {"chargingStation": {"model": "Bench", "vendorName": "CloudBay"}, "reason": "PowerUp"}


class MemoryConnection:
    """A socket in memory: frames the charger sends go in a queue; the session's answers wake the charger."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[str] = asyncio.Queue()
        self.answered: asyncio.Queue[str] = asyncio.Queue()

    async def recv(self) -> str:
        return await self.incoming.get()

    async def send(self, text: str) -> None:
        self.answered.put_nowait(text)


async def charger(connection: MemoryConnection, samples: int, calls: list[int], until: float) -> None:
    """One charger: boot, one status, then the TransactionEvent loop until ``until`` (one call at a time)."""

    async def call(n: int, action: str, payload: dict[str, Any]) -> None:
        connection.incoming.put_nowait(json.dumps([2, f"m{n}", action, payload], separators=(",", ":")))
        answer = json.loads(await connection.answered.get())
        if answer[0] != 3:
            raise RuntimeError(f"{action} answered {answer}")

    await call(0, "BootNotification", BOOT)
    status = {"timestamp": now_iso(), "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
    await call(1, "StatusNotification", status)
    events = transaction_events(samples)
    n = 2
    while time.monotonic() < until:
        await call(n, "TransactionEvent", next(events))
        calls[0] += 1
        n += 1


async def run(runtime: Runtime, stations: list[str], args: argparse.Namespace) -> tuple[int, float, float]:
    sessions = []
    for sid in stations:
        connection = MemoryConnection()
        session = StationSession(sid, connection, platform=runtime.platform, session_id=sid, heartbeat_interval=300)
        await runtime.platform.run(runtime.platform.chargers.connected, sid, sid, runtime.settings.node)
        sessions.append((asyncio.create_task(session.start()), connection))
    warm = [0]
    await asyncio.gather(*(charger(c, args.samples, warm, time.monotonic() + 2) for _, c in sessions))
    if not args.default_gc:
        gc_tuning.started()  # as `cloudbay serve` does once it is up
    calls = [0]
    collector.clear()
    profiler = cProfile.Profile() if args.profile else None
    cpu0, t0 = time.process_time(), time.monotonic()
    if profiler:
        profiler.enable()
    await asyncio.gather(*(charger(c, args.samples, calls, t0 + args.seconds) for _, c in sessions))
    if profiler:
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(args.top)
        print(text.getvalue())
    cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    for task, _ in sessions:
        task.cancel()
    await asyncio.gather(*(t for t, _ in sessions), return_exceptions=True)
    return calls[0], cpu, wall


class Collections:
    """The garbage collector's passes and the time they took (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.count, self.seconds, self._began = 0, 0.0, 0.0
        gc.callbacks.append(self._callback)

    def clear(self) -> None:
        self.count, self.seconds = 0, 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.count, self.seconds = self.count + 1, self.seconds + time.perf_counter() - self._began


collector = Collections()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("--stations", type=int, default=200)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--samples", type=int, default=5, help="TransactionEvent Updated per transaction")
    p.add_argument("--profile", action="store_true", help="cProfile the event loop thread (slows it)")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--default-gc", action="store_true", help="CPython's collector settings, not the node's")
    args = p.parse_args()
    if not args.default_gc:
        gc_tuning.tune()
    stations = [f"COST-{i:05d}" for i in range(1, args.stations + 1)]
    with fresh_store(args.store, "handler-cost") as (url, data):
        whitelist_many(url, data, stations)
        settings = Settings(store=StoreSettings(url), data_dir=Path(data), projections="process")
        runtime = Runtime(settings, start_followers=False, projections_here=False)
        try:
            calls, cpu, wall = asyncio.run(run(runtime, stations, args))
        finally:
            runtime.close()
    print(f"machine: {os.cpu_count()} cores; {args.stations} sessions on {args.store}, in memory (no network)")
    per_call = 1000 * cpu / max(calls, 1)
    print(f"TransactionEvent: {calls / wall:.0f} calls/s; CPU {per_call:.3f} ms per call (all threads)")
    gc_share = 100 * collector.seconds / max(wall, 1e-9)
    kind = "default" if args.default_gc else "tuned"
    print(f"garbage collector ({kind}): {collector.count} passes, {gc_share:.1f} % of the time")


if __name__ == "__main__":
    main()
