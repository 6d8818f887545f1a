"""Where CloudBay's time goes under the charging load: py-spy on the server and on its projector process.

The load of ``charging_load.py`` (K stations, Started, ``--samples`` Updated, Ended, closed loop) runs against
a fresh ``cloudbay serve``; once every station is in, ``py-spy record`` samples the server and, in parallel,
each of its children (the projector) for ``--seconds``. Printed per process: its CPU in the window, then the
frames with most samples, by their own time (``self``) and with what they call (``total``), busy samples only
(idle threads are left out). ``--flame DIR`` also keeps each profile as a speedscope JSON file there.
Needs ``py-spy`` (pip) and permission to trace a child process (root, or ptrace_scope 0).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from procstat import cpu_seconds
from rawload import Fleet
from serving import SRC, children, cloudbay


def record(pid: int, seconds: float, out: Path, gil: bool = False) -> subprocess.Popen[bytes]:
    command = ["py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200"]
    command += ["--format", "speedscope", "--output", str(out), "--nonblocking", *(["--gil"] if gil else [])]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


Top = list[tuple[str, int]]


def tops(path: Path, n: int) -> tuple[int, Top, Top, Top, Top]:
    """(busy samples, the threads with most samples, the top ``n`` frames by own samples, the top ``n`` by
    samples they appear in, the top ``n`` of CloudBay's own frames by samples they appear in)."""
    doc = json.loads(path.read_text())
    frames = [f"{f['name']} ({Path(f.get('file', '?')).name}:{f.get('line', '?')})" for f in doc["shared"]["frames"]]
    ours = {i for i, f in enumerate(doc["shared"]["frames"]) if str(SRC) in f.get("file", "")}
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    mine: Counter[str] = Counter()
    samples = 0
    threads: Counter[str] = Counter()
    for profile in doc["profiles"]:
        # 'Thread 7008 "store_0"': threads of one pool counted together
        thread = re.sub(r"[_-]\d+$", "_*", profile.get("name", "?").partition(" ")[2].partition(" ")[2].strip('"'))
        for stack, seconds in zip(profile["samples"], profile["weights"], strict=True):
            weight = round(1000 * seconds)  # in ms
            if not stack:
                continue
            samples += weight
            threads[thread] += weight
            own[frames[stack[-1]]] += weight
            for name in {frames[i] for i in stack}:
                total[name] += weight
            for name in {frames[i] for i in stack if i in ours}:
                mine[name] += weight
    return samples, threads.most_common(n), own.most_common(n), total.most_common(n), mine.most_common(n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stations", type=int, default=200)
    p.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("--seconds", type=float, default=10.0, help="how long py-spy samples")
    p.add_argument("--samples", type=int, default=5, help="TransactionEvent Updated per transaction")
    p.add_argument("--processes", type=int, default=2, help="load generator processes")
    p.add_argument("--top", type=int, default=25, help="frames printed per list")
    p.add_argument("--flame", type=Path, help="keep the speedscope profiles in this directory")
    p.add_argument(
        "--gil",
        action="store_true",
        help="only samples of the thread holding the GIL: CPU work, without the time a thread waits for the GIL",
    )
    args = p.parse_args()
    if shutil.which("py-spy") is None:
        sys.exit("py-spy is not installed: python3 -m pip install py-spy")
    stations = [f"LOAD-{i:05d}" for i in range(1, args.stations + 1)]
    tmp = tempfile.mkdtemp(prefix="cloudbay-profile-")
    try:
        profile(args, stations, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def profile(args: argparse.Namespace, stations: list[str], tmp: str) -> None:
    with cloudbay(args.store, stations) as served:
        fleet = Fleet(served.ws, stations, "transactions", args.processes, samples=args.samples, call_timeout=10.0)
        fleet.start()
        try:
            if not fleet.wait_ready(60 + len(stations) / 20):
                sys.exit(f"only {fleet.ready_count()} of {len(stations)} stations got ready")
            time.sleep(max(0.0, fleet.go_at(0.5) - time.time()) + 2)  # the load settles first
            pids = {"server": served.pid, **{f"child {c}": c for c in children(served.pid)}}
            cpu0, t0 = {k: cpu_seconds(pid) for k, pid in pids.items()}, time.time()
            out_of = {k: Path(tmp) / f"{pid}.json" for k, pid in pids.items()}
            spies = {k: (record(pid, args.seconds, out_of[k], args.gil), pid) for k, pid in pids.items()}
            for spy, _ in spies.values():
                spy.wait(timeout=args.seconds + 60)
            window = time.time() - t0
            cpu = {k: 100 * (cpu_seconds(pid) - cpu0[k]) / window for k, pid in pids.items()}
        finally:
            out = fleet.finish()
    calls = out.calls("TransactionEvent", t0, t0 + window)
    print(f"machine: {os.cpu_count()} cores; {args.stations} stations on {args.store}; window {window:.1f} s")
    print(f"TransactionEvent calls/s while profiled: {len(calls) / window:.0f} (py-spy slows what it samples)")
    for label, (spy, pid) in spies.items():
        path = Path(tmp) / f"{pid}.json"
        if not path.exists():
            why = spy.stderr.read().decode(errors="replace").strip()[:300] if spy.stderr else "?"
            print(f"\n{label}: no profile ({why})")
            continue
        samples, threads, own, total, mine = tops(path, args.top)
        print(f"\n== {label} (pid {pid}): CPU {cpu[label]:.0f} % of one core")
        for title, rows in (
            ("thread", threads),
            ("self", own),
            ("total", total),
            ("total, CloudBay's own frames", mine),
        ):
            print(f"-- by {title}")
            for name, n in rows:
                print(f"{100 * n / max(samples, 1):6.1f} %  {name}")
        if args.flame:
            args.flame.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, args.flame / f"{label.replace(' ', '-')}.speedscope.json")


if __name__ == "__main__":
    main()
