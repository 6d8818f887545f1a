"""Drill (a): SIGKILL of `cloudbay serve` mid-load, then the same command started again.

    python3 benchmarks/drills/kill_serve.py [--chargers 20] [--seconds 8] [--down 1]

Chargers send transaction events for --seconds, serve is killed (no chance to write anything), started again
after --down seconds on the same port, the chargers reconnect and resend what was not acknowledged, and after
another --seconds of load the event log is counted: nothing acknowledged lost, nothing stored twice.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

from drills.harness import Deployment, Fleet, acked_after, arguments, main  # noqa: E402


async def drill(deployment: Deployment, fleet: Fleet, args: argparse.Namespace) -> list[tuple[str, Any]]:
    await asyncio.sleep(args.seconds)
    acked_before = len(fleet.acknowledged)
    killed_at = time.monotonic()
    deployment.kill()
    await asyncio.sleep(args.down)
    ready = await asyncio.to_thread(deployment.start)
    recovered = await acked_after(fleet, killed_at + args.down + ready, 60)
    await asyncio.sleep(args.seconds)
    await fleet.stop()
    return [
        ("acknowledged before the kill", acked_before),
        ("restarted serve ready after (s)", ready),
        ("first acknowledgement after ready (s)", recovered if recovered is not None else "none within 60 s"),
    ]


if __name__ == "__main__":
    main("kill_serve (SIGKILL mid-load)", drill, arguments(__doc__ or "", down=1.0))
