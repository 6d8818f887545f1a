"""Energy cost per event: what the energy read model pays to price one more reading of a transaction that
already holds N register readings (1,000 and 100,000 by default), under the planning benchmark's tariff
(a night window, a midday window).

Two ways on the same readings: the projection's (``Priced.advanced``: only the pairs after the last priced
reading), and pricing every pair again (what a late reading before the last priced one costs, once). Prints
milliseconds per event; nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from planning import TARIFF

from cloudbay_domain.charging_cost import TariffHistory
from projections.energy_cost import Priced

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--readings", type=int, nargs="+", default=[1_000, 100_000])
    p.add_argument("--events", type=int, default=200, help="events timed per size (one new reading each)")
    args = p.parse_args()
    history = TariffHistory([(T0 - timedelta(days=1), TARIFF)])
    for n in args.readings:
        readings = [(T0 + timedelta(seconds=60 * k), float(k * 120)) for k in range(n + args.events)]
        live = readings[:n]  # the running figures' list, appended to as readings arrive
        started = time.perf_counter()
        priced = Priced().advanced(live, history)
        full = time.perf_counter() - started
        started = time.perf_counter()
        for reading in readings[n:]:
            live.append(reading)
            priced = priced.advanced(live, history)
        per_event = (time.perf_counter() - started) / args.events
        print(f"{n:>7} readings: {per_event * 1000:8.3f} ms per new reading; all priced again: {full * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
