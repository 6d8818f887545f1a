"""Drill (b): PostgreSQL restarted (fast shutdown) under a running `cloudbay serve` mid-load.

    python3 benchmarks/drills/pg_restart.py [--chargers 20] [--seconds 8]

Restarts the machine's PostgreSQL cluster with
`pg_ctlcluster --skip-systemctl-redirect <version> main restart -m fast` (every client of that server sees it),
and starts it again itself if it is not accepting connections afterwards, whatever happened.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

from drills.harness import Deployment, Fleet, acked_after, arguments, main  # noqa: E402


def cluster(action: str, *options: str) -> subprocess.CompletedProcess[str]:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action, *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def ensure_postgres_up() -> None:
    for _ in range(3):
        if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-t", "5"], capture_output=True).returncode == 0:
            return
        started = cluster("start")
        print(f"PostgreSQL was not accepting connections; started it: {started.returncode} {started.stderr.strip()}")
    raise SystemExit("PostgreSQL is not accepting connections")


async def drill(deployment: Deployment, fleet: Fleet, args: argparse.Namespace) -> list[tuple[str, Any]]:
    try:
        await asyncio.sleep(args.seconds)
        t0 = time.monotonic()
        restart = await asyncio.to_thread(cluster, "restart", "-m", "fast")
        took = time.monotonic() - t0
        recovered = await acked_after(fleet, t0 + took, 60)
    finally:
        await asyncio.to_thread(ensure_postgres_up)
    await asyncio.sleep(args.seconds)
    await fleet.stop()
    return [
        ("pg_ctlcluster restart -m fast", f"exit {restart.returncode} after {took:.2f} s"),
        ("first acknowledgement after it (s)", recovered if recovered is not None else "none within 60 s"),
    ]


if __name__ == "__main__":
    try:
        main("pg_restart (PostgreSQL restart mid-load)", drill, arguments(__doc__ or ""))
    finally:
        ensure_postgres_up()
