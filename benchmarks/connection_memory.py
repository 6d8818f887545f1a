"""Where a connected charger's memory goes: RSS and Python allocations per connection, by source line.

The platform runs in this process (the ASGI app of ``cloudbay serve`` under uvicorn with serve's WebSocket
options, read models inline) on a fresh store, with ``tracemalloc`` tracing every Python allocation. The
chargers come from load processes (``rawload.py``), in two phases, each measured against the idle server:
1. ``open``: N WebSockets opened and left silent (what uvicorn, the WebSocket protocol and the session cost);
2. ``booted``: N chargers that connect, boot and report a status, then stay idle (what a real idle charger
   costs: the above plus what boot, status and the session's state keep).
Printed per phase: RSS per connection, traced Python memory per connection, the allocation sites (a few
frames each) and the files whose allocations grew most, and the GC-tracked objects by type, per connection.
RSS counts what tracemalloc does not see (C allocations, allocator slack) and tracemalloc's own bookkeeping;
the traced figures are the Python objects that stay. The second phase starts from the first one's leftovers
(the aggregate cache holds the chargers; freed memory is reused): its RSS figure is a lower bound.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import os
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import uvicorn
from procstat import rss_mib
from rawload import Fleet, raise_open_files
from serving import free_port, fresh_store, whitelist_many
from starlette.applications import Starlette

from adapters.http.app import create_app
from adapters.server_options import uvicorn_options
from adapters.settings import Settings, StoreSettings

FRAMES = 4  # frames kept per allocation: enough to see who allocated, cheap enough to serve


def serve_here(url: str, data: Path, port: int) -> tuple[uvicorn.Server, Starlette]:
    settings = Settings(store=StoreSettings(url), data_dir=data, projections="inline")
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_ping_interval=30,
        ws_per_message_deflate=False,
        backlog=4096,
        **uvicorn_options(settings),
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    return server, app


def sessions(app: Starlette) -> int:
    return len(app.state.runtime.link.sessions)


def settled() -> tuple[float, tracemalloc.Snapshot, Counter[str]]:
    """RSS, a tracemalloc snapshot, and a census of the live objects tracked by the GC, by type."""
    time.sleep(2.0)
    gc.collect()
    census = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())
    census.update(f"coroutine {o.__qualname__}" for o in gc.get_objects() if inspect.iscoroutine(o))
    return rss_mib(os.getpid()), tracemalloc.take_snapshot(), census


def phase(name: str, app: Starlette, port: int, stations: list[str], args: argparse.Namespace) -> None:
    rss0, snap0, census0 = settled()
    scenario = name if name == "open" else "idle"
    fleet = Fleet(
        f"ws://127.0.0.1:{port}/ocpp", stations, scenario, args.processes, connect_concurrency=10, call_timeout=60
    )
    fleet.start()
    ok = fleet.wait_ready(600)
    rss1, snap1, census1 = settled()
    held = sessions(app)
    out = fleet.finish()
    print(f"\n=== {name}: {held} connections held{'' if ok else ' (ramp timed out)'} ===")
    for reason, count in out.errors.most_common(5):
        print(f"  failures: {count} {reason}")
    stats = snap1.compare_to(snap0, "traceback")
    traced = sum(s.size_diff for s in stats)
    print(f"RSS per connection           : {(rss1 - rss0) * 1024 / held:.1f} KiB  ({rss0:.0f} -> {rss1:.0f} MiB)")
    print(f"traced Python memory / conn. : {traced / 1024 / held:.1f} KiB")
    print("top allocation sites (KiB per connection, blocks per connection; innermost frame first):")
    for s in sorted(stats, key=lambda s: s.size_diff, reverse=True)[: args.top]:
        where = " < ".join(f"{_short(f.filename)}:{f.lineno}" for f in reversed(s.traceback))
        print(f"  {s.size_diff / 1024 / held:7.2f} KiB {s.count_diff / held:6.1f}  {where}")
    by_file: dict[str, int] = {}
    for s in snap1.compare_to(snap0, "filename"):
        by_file[_short(s.traceback[0].filename)] = s.size_diff
    print("by file of the innermost frame (KiB per connection):")
    for filename, size in sorted(by_file.items(), key=lambda kv: kv[1], reverse=True)[: args.top]:
        print(f"  {size / 1024 / held:7.2f}  {filename}")
    census1.subtract(census0)
    coroutines = Counter({k: n for k, n in census1.items() if k.startswith("coroutine ")})
    print("objects per connection (GC-tracked, by type):")
    print("  " + ", ".join(f"{k} {n / held:.1f}" for k, n in census1.most_common(args.top) if k not in coroutines))
    print("suspended coroutines per connection, by function:")
    print("  " + ", ".join(f"{k[10:]} {n / held:.1f}" for k, n in coroutines.most_common(30)))
    deadline = time.monotonic() + 120
    while sessions(app) and time.monotonic() < deadline:  # the disconnects are recorded before the next phase
        time.sleep(0.5)


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chargers", type=int, default=2000)
    p.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--top", type=int, default=15)
    args = p.parse_args()
    raise_open_files()
    stations = [f"MEM-{i:05d}" for i in range(1, args.chargers + 1)]
    with fresh_store(args.store, f"memory/{args.store}") as (url, data):
        whitelist_many(url, data, stations)
        tracemalloc.start(FRAMES)
        port = free_port()
        server, app = serve_here(url, data, port)
        try:
            phase("open", app, port, stations, args)
            phase("booted", app, port, stations, args)
        finally:
            server.should_exit = True
            time.sleep(3)
    print(f"\nNOTE: {os.cpu_count()} cores, shared; tracemalloc itself adds to RSS; figures are indicative.")


if __name__ == "__main__":
    main()
