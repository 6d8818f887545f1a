"""Drill (c): the database dropped under a running `cloudbay serve` mid-load.

    python3 benchmarks/drills/db_dropped.py [--chargers 20] [--seconds 8] [--after 15]

The database is the drill's own (`cloudbay_drill_<hex>`, created for it). After --seconds of load it is dropped
(`DROP DATABASE ... WITH (FORCE)`); for --after seconds the chargers keep sending. Nothing can be stored any
more, so no CALLRESULT may come for a transaction event after the drop (those committed while the drop ran are
counted apart). Then /healthz, /readyz and SIGTERM are timed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

from drills.harness import Deployment, Fleet, arguments, main, probe_health  # noqa: E402

from adapters.settings import StoreSettings  # noqa: E402
from adapters.storage import drop_database  # noqa: E402


async def drill(deployment: Deployment, fleet: Fleet, args: argparse.Namespace) -> list[tuple[str, Any]]:
    await asyncio.sleep(args.seconds)
    acked_before, t0 = len(fleet.acknowledged), time.monotonic()
    await asyncio.to_thread(drop_database, StoreSettings(deployment.direct_url))
    dropped_at, during = time.monotonic(), len(fleet.acknowledged) - acked_before
    await asyncio.sleep(args.after)
    after = len(fleet.acknowledged) - acked_before - during
    last = fleet.last_ack - dropped_at
    health = await probe_health(deployment.port)
    exit_after, code = await asyncio.to_thread(deployment.terminate)
    await fleet.stop(grace=0)
    return [
        ("acknowledged before the drop", acked_before),
        ("DROP DATABASE ... WITH (FORCE) took (s)", dropped_at - t0),
        ("acknowledged while it ran (committed before it)", during),
        ("acknowledged after it", f"{after} (the last acknowledgement: {last:+.2f} s from its end)"),
        *health,
        ("SIGTERM with the database gone: exit after (s)", exit_after),
        ("exit code", code),
    ]


if __name__ == "__main__":
    main("db_dropped (database dropped mid-load)", drill, arguments(__doc__ or "", after=15.0), counted=False)
