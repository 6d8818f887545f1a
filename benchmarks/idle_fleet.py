"""Idle fleet: N chargers connected to one node, held for a while; what each connection costs it.

One ``cloudbay serve`` on 127.0.0.1 with a fresh store (``serving.py``), the N chargers whitelisted directly in
the event log, many per save; ``CLOUDBAY_HEARTBEAT_INTERVAL`` and ``CLOUDBAY_EXPECTED_CHARGERS`` set for it.
The chargers (raw OCPP-J frames, ``rawload.py``) are spread over ``--processes`` load processes, each with its
open-file limit raised to the hard limit, connecting from several loopback addresses (127.0.0.1, .2, ...:
one address has ~28k ephemeral ports). Each charger connects, boots, reports its connector Available, then
sends a Heartbeat every interval the BootNotification answer gave (the first at a random point of the first
interval, so the fleet's beats are spread), answering the CSMS's calls meanwhile.

Printed: the ramp time, connections held (established to the node's port), refused or failed
connections by reason, server RSS before connecting and with the fleet connected, and the difference per
connection (target <= 30 KiB), the projector child's RSS, CPU of the server at rest (over the hold), of the
load processes, heartbeat latency p50/p99/max, and the open-file limits of the server and the generator.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from contextlib import suppress
from pathlib import Path

from procstat import rss_mib
from rawload import Fleet, Outcome, pct, raise_open_files, sources_for
from serving import Served, children, cloudbay

SETTLE = 3.0  # seconds the idle server is left alone before its RSS is read


def connected(served: Served) -> int:
    """TCP connections established to the server's port, from /proc/net/tcp (asks nothing of the server, which
    may have no file descriptor left to answer a request with)."""
    port = f"{served.port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                count += fields[1].endswith(f":{port}") and fields[3] == "01"  # local port, ESTABLISHED
    return count


def hold(served: Served, stations: list[str], args: argparse.Namespace) -> None:
    time.sleep(SETTLE)
    rss_before, child_before = served.rss_mib(), sum(rss_mib(c) for c in children(served.pid))
    fleet = Fleet(served.ws, stations, "idle", args.processes, connect_concurrency=args.connect_concurrency)
    t_start = time.monotonic()
    fleet.start()
    last = [0.0]

    def progress(ready: int) -> None:
        if time.monotonic() - last[0] >= 10:
            last[0] = time.monotonic()
            print(f"  ramp: {ready} of {len(stations)} connected and booted", flush=True)

    ramped = fleet.wait_ready(120 + len(stations) / 50, progress)
    ramp = time.monotonic() - t_start
    go = fleet.go_at()
    c0, l0, t0 = served.cpu(), fleet.cpu_seconds(), time.time()
    peak, held_min = served.rss_mib(), connected(served)
    while time.time() < go + args.seconds and served.proc.poll() is None:
        time.sleep(min(5.0, go + args.seconds - time.time()))
        peak = max(peak, served.rss_mib())
    c1, l1, t1 = served.cpu(), fleet.cpu_seconds(), time.time()
    held, rss_held = connected(served), served.rss_mib()
    child_held = sum(rss_mib(c) for c in children(served.pid))
    out = fleet.finish()
    window = t1 - t0
    report(served, stations, args, out, ramp, ramped, window)
    per = (rss_held - rss_before) * 1024 / held if held > 0 else float("nan")
    print(f"connections held          : {held} at the end of the hold ({held_min} at its start) of {len(stations)}")
    print(f"server RSS                : {rss_before:.1f} MiB idle -> {rss_held:.1f} MiB held (peak {peak:.1f} MiB)")
    print(f"RSS per connection        : {per:.1f} KiB  (target <= 30 KiB)")
    print(f"projector child RSS       : {child_before:.1f} MiB -> {child_held:.1f} MiB")
    cpu = {k: 100 * (c1[k] - c0[k]) / window for k in c0}
    print(
        f"CPU at rest (hold)        : server {cpu['server']:.1f}%, projector {cpu['children']:.1f}%, load processes"
        f" {100 * (l1 - l0) / window:.1f}%, machine {cpu['machine']:.0f}% of {100 * (os.cpu_count() or 1)}%"
    )


def report(
    served: Served, stations: list[str], args: argparse.Namespace, out: Outcome, ramp: float, ramped: bool, w: float
) -> None:
    beats = out.calls("Heartbeat", 0, float("inf"))
    print(f"\n=== idle fleet: {len(stations)} chargers on cloudbay/{args.store}, held {w:.0f} s ===")
    print(f"machine                   : {os.cpu_count()} cores")
    print(f"open-file limit           : server {served.open_file_limit()}; load processes {raise_open_files()}")
    print(f"load                      : {args.processes} processes from {', '.join(sources_for(len(stations)))}")
    print(f"ramp (connect+boot+status): {ramp:.1f} s{'' if ramped else ' (not complete: timed out)'}")
    print(f"connected at some point   : {out.connected}; refused or failed: {sum(out.errors.values())}")
    for reason, n in out.errors.most_common():
        print(f"  {n:>7}  {reason}")
    print(f"heartbeat interval        : {args.heartbeat_interval} s (CLOUDBAY_HEARTBEAT_INTERVAL)")
    print(
        f"heartbeats answered       : {len(beats)}; p50 {pct(beats, 0.5):.1f} ms, p99 {pct(beats, 0.99):.1f} ms,"
        f" max {pct(beats, 1):.1f} ms"
    )
    boots = out.calls("BootNotification", 0, float("inf"))
    print(f"boot during the ramp      : p50 {pct(boots, 0.5):.1f} ms, p99 {pct(boots, 0.99):.1f} ms")
    warnings = [line for line in served.log.read_text(errors="replace").splitlines() if "WARNING" in line]
    for line in warnings[:5]:
        print(f"server log: {line}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chargers", type=int, default=20_000)
    p.add_argument("--seconds", type=float, default=300.0, help="how long the fleet is held once connected")
    p.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("--heartbeat-interval", type=int, default=60, help="CLOUDBAY_HEARTBEAT_INTERVAL of the server")
    p.add_argument("--processes", type=int, default=4, help="load generator processes")
    p.add_argument("--connect-concurrency", type=int, default=50, help="handshakes in flight per load process")
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    share = -(-args.chargers // args.processes) + 64
    if hard != resource.RLIM_INFINITY and share > hard:
        print(f"!! {share} sockets per load process exceed the hard open-file limit {hard}: use more --processes")
    if hard != resource.RLIM_INFINITY and args.chargers + 256 > hard:
        print(f"!! the server's hard open-file limit is {hard} (ulimit -Hn): {args.chargers} chargers will not all fit")
    stations = [f"IDLE-{i:05d}" for i in range(1, args.chargers + 1)]
    env = {
        "CLOUDBAY_HEARTBEAT_INTERVAL": str(args.heartbeat_interval),
        "CLOUDBAY_EXPECTED_CHARGERS": str(args.chargers),
    }
    print(f"whitelisting {args.chargers} chargers and starting cloudbay serve ({args.store}) ...", flush=True)
    with cloudbay(args.store, stations, env) as served:
        print(f"server PID {served.pid} on port {served.port}", flush=True)
        hold(served, stations, args)
    print("NOTE: server, PostgreSQL and the load processes share this machine; figures are indicative.")


if __name__ == "__main__":
    main()
