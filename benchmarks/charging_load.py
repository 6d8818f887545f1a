"""Charging load: CloudBay against the reference server, side by side, in one run.

K stations (default: 200, then 1,000) each run TransactionEvents back to back (Started, ``--samples`` Updated
with a rising energy register, Ended, a new transaction), closed loop: one outstanding call per station, the
next sent as soon as the answer came. The load is raw OCPP-J frames from ``--processes`` processes
(``rawload.py``). Each station first boots and reports its connector Available; the window opens when every
station has.

Servers, each started fresh for each K and stopped by its PID (``serving.py``):
- ``cloudbay``: ``cloudbay serve`` on PostgreSQL and on the embedded SQLite store (``--store``), every
  TransactionEvent stored before its answer;
- ``reference``: ``reference_server.py``, plain ``websockets`` + ``json``, every TransactionEvent committed
  into PostgreSQL (group commit) before its answer, no validation;
- ``ocpp-library``: the ``ocpp`` library's ChargePoint answering without storing (not run unless asked).

Printed per server and K: TransactionEvent calls/s answered in the window, p50 and p99 round trip, timeouts
and other errors, CPU of the server process, of its children (CloudBay's projector process), of PostgreSQL (all
of this machine's, others' work included) and of the load processes; for CloudBay, projection lag p50/p99:
``/readyz`` is polled every 100 ms for the store's head and each read model's position, and the lag of a
head seen at t is the time until every read model had reached it (resolution: the poll period). Then the
ratio of each server's calls/s to the reference's at the same K. The machine's core count is printed too.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
from rawload import Fleet, pct
from serving import Served, cloudbay, reference

POLL = 0.1  # seconds between /readyz reads (projection lag)
DRAIN = 5.0  # seconds the lag is followed after the window, for the read models to catch up


@dataclass
class Result:
    label: str
    stations: int
    window: float = 0.0
    rtts: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    load_cpu: float = 0.0
    lags: list[float] = field(default_factory=list)
    lag_behind: int = 0  # heads seen in the window that the read models had not reached DRAIN s after it
    errors: Counter[str] = field(default_factory=Counter)
    log_tail: str = ""

    def rate(self) -> float:
        return len(self.rtts) / self.window if self.window else 0.0

    def timeouts(self) -> int:
        return sum(n for e, n in self.errors.items() if "no answer" in e or "timeout" in e)


class LagProbe:
    """Polls /readyz in a thread: (time, store head, lowest read-model position) every POLL seconds."""

    def __init__(self, port: int) -> None:
        self.port, self.samples = port, list[tuple[float, int, int]]()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)

    def poll(self) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=2) as http:
            while not self.stopping.wait(POLL):
                try:
                    body = http.get("/readyz").json()
                    positions = [m["position"] for m in body["read_models"].values()]
                    self.samples.append((time.time(), int(body["event_store_position"]), min(positions)))
                except (httpx.HTTPError, KeyError, ValueError):
                    continue

    def lags(self, since: float, until: float) -> tuple[list[float], int]:
        """For each head seen in [since, until]: seconds until the slowest read model reached it; and how
        many heads were never reached."""
        lags, behind = [], 0
        for i, (t, head, _) in enumerate(self.samples):
            if not since <= t <= until:
                continue
            reached = next((t2 for t2, _, low in self.samples[i:] if low >= head), None)
            if reached is None:
                behind += 1
            else:
                lags.append(reached - t)
        return lags, behind


def measure(served: Served, stations: list[str], args: argparse.Namespace) -> Result:
    res = Result(served.label, len(stations))
    fleet = Fleet(served.ws, stations, "transactions", args.processes, samples=args.samples, call_timeout=args.timeout)
    probe = LagProbe(served.port) if served.label.startswith("cloudbay") else None
    fleet.start()
    try:
        if not fleet.wait_ready(60 + len(stations) / 20):
            res.errors[f"ramp: {fleet.ready_count()} of {len(stations)} stations ready in time"] += 1
        if probe:
            probe.thread.start()
        go = fleet.go_at(0.5)
        time.sleep(max(0.0, go - time.time()))
        c0, l0, t0 = served.cpu(), fleet.cpu_seconds(), time.time()
        time.sleep(args.seconds)
        c1, l1, t1 = served.cpu(), fleet.cpu_seconds(), time.time()
    finally:
        out = fleet.finish()
    if probe:
        time.sleep(DRAIN)
        probe.stopping.set()
        probe.thread.join(5)
        res.lags, res.lag_behind = probe.lags(t0, t1)
    res.window = t1 - t0
    res.rtts = out.calls("TransactionEvent", t0, t1)
    res.cpu = {k: 100 * (c1[k] - c0[k]) / res.window for k in c0}
    res.load_cpu = 100 * (l1 - l0) / res.window
    res.errors += out.errors
    if served.proc.poll() is not None:
        res.errors[f"server exited with code {served.proc.returncode}"] += 1
    if res.errors:
        res.log_tail = served.log_tail()
    return res


def run(target: str, stations: list[str], args: argparse.Namespace) -> Result:
    kind, _, store = target.partition("/")
    print(f"[{target}] {len(stations)} stations ...", flush=True)
    try:
        if kind == "cloudbay":
            with cloudbay(store, stations) as served:
                return measure(served, stations, args)
        with reference("postgres" if kind == "reference" else "ocpp") as served:
            return measure(served, stations, args)
    except Exception as e:  # reported, not hidden
        res = Result(target, len(stations))
        res.errors[f"benchmark aborted: {type(e).__name__}: {e}"] += 1
        return res


def targets(args: argparse.Namespace) -> list[str]:
    stores = ["postgres", "sqlite"] if args.store == "both" else [args.store]
    chosen = args.targets.split(",")
    names = [f"cloudbay/{s}" for s in stores] if "cloudbay" in chosen else []
    names += ["reference/postgres"] if "reference" in chosen else []
    return names + (["ocpp-library/none"] if "ocpp-library" in chosen else [])


def report(results: list[Result], args: argparse.Namespace) -> None:
    cores = os.cpu_count()
    print(
        f"\nmachine: {cores} cores; load: {args.processes} processes, raw OCPP-J frames, closed loop, TransactionEvent"
        f" (Started, {args.samples} Updated, Ended), window {args.seconds:g} s; CPU in % of one core"
    )
    head = f"{'stations':>8}  {'server':<19}{'calls/s':>8}{'p50 ms':>8}{'p99 ms':>9}{'timeouts':>9}{'errors':>7}"
    print(head + f"{'srv%':>6}{'child%':>7}{'pg%':>5}{'load%':>6}{'mach%':>6}{'lag p50':>8}{'lag p99':>8}")
    for r in results:
        lag = f"{pct(r.lags, 0.5):>8.0f}{pct(r.lags, 0.99):>8.0f}" if r.lags else f"{'-':>8}{'-':>8}"
        cpu = r.cpu or dict.fromkeys(("server", "children", "postgres", "machine"), float("nan"))
        print(
            f"{r.stations:>8}  {r.label:<19}{r.rate():>8.0f}{pct(r.rtts, 0.5):>8.1f}{pct(r.rtts, 0.99):>9.1f}"
            f"{r.timeouts():>9}{sum(r.errors.values()) - r.timeouts():>7}{cpu['server']:>6.0f}{cpu['children']:>7.0f}"
            f"{cpu['postgres']:>5.0f}{r.load_cpu:>6.0f}{cpu['machine']:>6.0f}{lag}"
        )
    for k in sorted({r.stations for r in results}):
        ref = next((r for r in results if r.stations == k and r.label == "reference/postgres"), None)
        if ref and ref.rate():
            ratios = ", ".join(
                f"{r.label} {r.rate() / ref.rate():.2f}" for r in results if r.stations == k and r is not ref
            )
            print(f"calls/s relative to reference/postgres at {k} stations: {ratios}")
    print("lag: ms until every read model reached the store head seen at each /readyz poll in the window")
    for r in results:
        if r.lag_behind:
            print(f"  {r.label} at {r.stations}: {r.lag_behind} heads not reached {DRAIN:g} s after the window")
        if r.errors:
            print(f"errors of {r.label} at {r.stations}: {dict(r.errors)}\n  server log tail:\n{r.log_tail}")
    print(
        f"NOTE: servers, PostgreSQL and the load share this machine ({cores} cores); 'pg' counts all its work;"
        f" 'mach%' is every core's busy time (at most {100 * (cores or 1)}%), other processes' included."
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stations", default="200,1000", help="comma-separated station counts")
    p.add_argument("--seconds", type=float, default=20.0, help="measurement window, once every station booted")
    p.add_argument("--targets", default="cloudbay,reference", help="cloudbay, reference, ocpp-library")
    p.add_argument("--store", choices=["postgres", "sqlite", "both"], default="both", help="CloudBay's store")
    p.add_argument("--samples", type=int, default=5, help="TransactionEvent Updated per transaction")
    p.add_argument("--processes", type=int, default=2, help="load generator processes")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds a call waits for its answer")
    args = p.parse_args()
    results = []
    for k in (int(n) for n in args.stations.split(",")):
        stations = [f"LOAD-{i:05d}" for i in range(1, k + 1)]
        results += [run(t, stations, args) for t in targets(args)]
    report(results, args)


if __name__ == "__main__":
    main()
