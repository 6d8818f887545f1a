"""Boot storm: N chargers connect and send BootNotification in the same second; how long until all are Accepted.

Per store, one ``cloudbay serve`` on 127.0.0.1 with a fresh store (``serving.py``) and the N chargers
whitelisted directly in the event log. The load processes (``rawload.py``, raw OCPP-J frames, their open-file
limits raised, several loopback source addresses) start, set up their chargers' tasks, and at one agreed
instant every charger opens its WebSocket and, once it is open, sends its BootNotification. By default no
charger retries (the kernel's own SYN retransmissions aside): a refused connection, a handshake or an answer
not there within ``--timeout`` seconds is reported as such. With ``--retry-after S`` a charger whose connection
or boot failed tries again after S seconds (+-50%, as chargers back off) until ``--give-up`` seconds after the
instant. The chargers stay connected until every one is accounted for.

Printed per store: chargers Accepted (and never Accepted), the time from the instant to the last Accepted
(target: 1,000 within 10 s, 20,000 within 60 s), p50/p99 of that time, refused connections, timeouts and other
failures by reason, retries, and the server's peak RSS and open-file limit.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from dataclasses import dataclass, field

from rawload import Fleet, pct
from serving import Served, cloudbay

TARGET = {1000: 10.0, 20000: 60.0}


@dataclass
class Storm:
    store: str
    chargers: int
    accepted_after: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    rss_peak: float = 0.0
    open_files: str = "?"
    retries: int = 0
    log_tail: str = ""

    def refused(self) -> int:
        return sum(n for e, n in self.errors.items() if "refused" in e or "reset" in e)

    def timeouts(self) -> int:
        return sum(n for e, n in self.errors.items() if "timeout" in e or "no answer" in e)


def storm(served: Served, stations: list[str], args: argparse.Namespace) -> Storm:
    res = Storm(served.label.split("/")[1], len(stations), open_files=served.open_file_limit())
    retrying = {"retry_after": args.retry_after, "give_up_after": args.give_up}
    fleet = Fleet(served.ws, stations, "boot", args.processes, call_timeout=args.timeout, **retrying)
    fleet.start()
    time.sleep(3.0)  # the load processes import and set up their chargers' tasks
    go = fleet.go_at(1.0)
    deadline = go + args.timeout + 10 + (args.give_up + args.timeout if args.retry_after else 0)
    while fleet.ready_count() < len(stations) and time.time() < deadline:
        res.rss_peak = max(res.rss_peak, served.rss_mib())
        time.sleep(0.2)
    res.rss_peak = max(res.rss_peak, served.rss_mib())
    out = fleet.finish()
    res.accepted_after, res.errors, res.retries = out.accepted_after, out.errors, out.retries
    if fleet.ready_count() < len(stations):
        res.errors[f"not accounted for {deadline - go:.0f} s after the instant"] += len(stations) - fleet.ready_count()
    if res.errors:
        res.log_tail = served.log_tail(10)
    return res


def run(store: str, stations: list[str], args: argparse.Namespace) -> Storm:
    print(f"[{store}] whitelisting {len(stations)} chargers, starting cloudbay serve ...", flush=True)
    try:
        with cloudbay(store, stations, {"CLOUDBAY_EXPECTED_CHARGERS": str(len(stations))}) as served:
            return storm(served, stations, args)
    except Exception as e:  # reported, not hidden
        res = Storm(store, len(stations))
        res.errors[f"benchmark aborted: {type(e).__name__}: {e}"] += 1
        return res


def report(r: Storm, args: argparse.Namespace) -> None:
    accepted = r.accepted_after
    target = TARGET.get(r.chargers)
    last = max(accepted) if accepted else float("nan")
    verdict = f" (target {target:g} s)" if target else ""
    print(f"\n=== boot storm: {r.chargers} chargers on cloudbay/{r.store}, {os.cpu_count()} cores ===")
    print(f"Accepted                 : {len(accepted)} of {r.chargers}")
    print(f"all Accepted after       : {last:.2f} s{verdict}" if len(accepted) == r.chargers else "all Accepted: no")
    print(
        f"time to Accepted         : p50 {pct(accepted, 0.5) / 1000:.2f} s, p99 {pct(accepted, 0.99) / 1000:.2f} s,"
        f" last {last:.2f} s"
    )
    print(f"never Accepted           : {r.chargers - len(accepted)}")
    tried = f"; {r.retries} retries (after {args.retry_after:g} s +-50%)" if args.retry_after else " (no retries)"
    print(f"refused connections      : {r.refused()}{tried}")
    print(f"timeouts (> {args.timeout:g} s)".ljust(25) + f": {r.timeouts()}")
    print(f"failures by reason       : {dict(r.errors) if r.errors else 'none'}")
    print(f"server                   : peak RSS {r.rss_peak:.0f} MiB, open-file limit {r.open_files}")
    if r.log_tail:
        print(f"server log tail:\n{r.log_tail}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chargers", type=int, default=1000)
    p.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--processes", type=int, default=4, help="load generator processes")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds a handshake or the boot answer may take")
    p.add_argument("--retry-after", type=float, default=0.0, help="a failed charger retries after this (0: never)")
    p.add_argument("--give-up", type=float, default=120.0, help="with --retry-after: no retry after this many s")
    args = p.parse_args()
    stations = [f"STORM-{i:05d}" for i in range(1, args.chargers + 1)]
    results = [run(s, stations, args) for s in (["sqlite", "postgres"] if args.store == "both" else [args.store])]
    for r in results:
        report(r, args)
    print("NOTE: server, PostgreSQL and the load processes share this machine; figures are indicative.")


if __name__ == "__main__":
    main()
