"""What the benchmarks read about a process (or the machine) from /proc: CPU seconds and resident memory."""

from __future__ import annotations

import os
from pathlib import Path


def rss_mib(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024.0
    except (OSError, IndexError):
        return 0.0


def cpu_seconds(pid: int | None) -> float:
    """CPU seconds used by a process (all threads); busy seconds of the whole machine if pid is None."""
    try:
        if pid is None:
            t = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            return (sum(t) - t[3] - t[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0
