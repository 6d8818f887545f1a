"""Drill (d): SIGTERM of `cloudbay serve` during a database outage, chargers connected and sending.

    python3 benchmarks/drills/sigterm_outage.py [--chargers 20] [--seconds 8] [--outage 20] [--heal 0]

serve reaches PostgreSQL through a TCP proxy of the drill's own; the outage is the proxy holding every byte
(queries hang, as behind a dead network; PostgreSQL itself is untouched). For --outage seconds the chargers
keep sending (each call is answered InternalError after the bounded store wait, and sent again); sockets lost
meanwhile are counted by close code. Then SIGTERM, timed, with the database still away; then the proxy lets
bytes through again and the event log is counted.

With --heal S the outage ends first: the proxy lets bytes through, the time to the fleet's next acknowledgement
and to a fresh connection's boot is measured, the load goes on for S seconds, and then a second outage begins
for the SIGTERM. `--outage 180 --heal 10` is the long-outage check: chargers stay connected for three minutes
without a database, and are served again at once when it is back.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

from drills.harness import Deployment, Fleet, acked_after, arguments, fresh_connection, main, probe_health  # noqa: E402


async def heal(deployment: Deployment, fleet: Fleet, seconds: float) -> tuple[list[tuple[str, Any]], float]:
    """The outage ends: how soon are chargers served, and new ones admitted; then the next outage begins
    (the rows, and when it began)."""
    assert deployment.proxy is not None
    closes_before = sum(fleet.closes.values())
    deployment.proxy.release()
    healed_at = time.monotonic()
    first = await acked_after(fleet, healed_at, 60)
    fresh = await fresh_connection(deployment.url, deployment.probe_id)
    await asyncio.sleep(seconds)
    deployment.proxy.hold()
    held_at = time.monotonic()
    await asyncio.sleep(3)  # calls under way wait on the store again when SIGTERM comes
    return [
        ("after the outage: first acknowledgement (s)", first if first is not None else "none within 60 s"),
        ("after the outage: a new charger", fresh),
        (f"sockets lost in {seconds:.0f} s after the outage", sum(fleet.closes.values()) - closes_before),
    ], held_at


async def drill(deployment: Deployment, fleet: Fleet, args: argparse.Namespace) -> list[tuple[str, Any]]:
    assert deployment.proxy is not None
    await asyncio.sleep(args.seconds)
    acked_before, closes_before = len(fleet.acknowledged), sum(fleet.closes.values())
    deployment.proxy.hold()
    held_at = time.monotonic()
    await asyncio.sleep(args.outage)
    health = await probe_health(deployment.port)
    lost = sum(fleet.closes.values()) - closes_before
    acked_during = len(fleet.acknowledged) - acked_before
    rows = [
        ("outage (s)", time.monotonic() - held_at),
        ("acknowledged during the outage", acked_during),
        ("sockets lost during the outage", lost),
        *health,
    ]
    if args.heal:
        healed, held_at = await heal(deployment, fleet, args.heal)
        rows += healed
    rows.append(("outage before SIGTERM (s)", time.monotonic() - held_at))
    exit_after, code = await asyncio.to_thread(deployment.terminate)
    deployment.proxy.release()
    await fleet.stop(grace=0)
    return [
        *rows,
        ("SIGTERM during the outage: exit after (s)", exit_after),
        ("exit code", code),
    ]


if __name__ == "__main__":
    main(
        "sigterm_outage (SIGTERM during an outage)",
        drill,
        arguments(__doc__ or "", outage=20.0, heal=0.0),
        proxied=True,
    )
