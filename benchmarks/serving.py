"""The servers the benchmarks measure, each on a fresh store, on 127.0.0.1, stopped by its own PID.

- ``cloudbay(store, stations)``: ``cloudbay serve`` (as an operator starts it) on a fresh data dir and, for
  PostgreSQL, a fresh database (dropped afterwards), with the stations whitelisted first, many per save;
- ``reference(kind)``: ``benchmarks/reference_server.py`` (plain ``websockets`` + group commit into a fresh
  PostgreSQL database, or the ``ocpp`` library answering without storing).

Also what the benchmarks read about a process from /proc: CPU seconds, RSS, children, open-file limit.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from boot_heartbeat import drop_bench_database, stop, wait_healthy
from procstat import cpu_seconds, rss_mib

import adapters
from adapters.settings import Settings, StoreSettings
from adapters.storage import ensure_database
from adapters.wiring import build_log
from cloudbay_domain.charger import Charger

PG = "postgresql://postgres@127.0.0.1:5432"
SRC = Path(adapters.__file__).resolve().parents[1]  # the checkout whose code the parent runs: the server runs it too
HERE = Path(__file__).resolve().parent


@dataclass
class Served:
    label: str  # e.g. cloudbay/postgres, reference/postgres
    proc: subprocess.Popen[bytes]
    port: int
    url: str  # the store's URL ("" for a server that stores nothing)
    data: Path
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def rss_mib(self) -> float:
        return rss_mib(self.pid)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: the server process, its children (serve's projector), PostgreSQL, the machine."""
        return {
            "server": cpu_seconds(self.pid),
            "children": sum(cpu_seconds(c) for c in children(self.pid)),
            "postgres": postgres_cpu(),
            "machine": cpu_seconds(None),
        }

    def open_file_limit(self) -> str:
        """The server's 'Max open files' (soft / hard) from /proc."""
        with suppress(OSError):
            for line in Path(f"/proc/{self.pid}/limits").read_text().splitlines():
                if line.startswith("Max open files"):
                    soft, hard = line.split()[3:5]
                    return f"{soft} (hard {hard})"
        return "?"

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def children(pid: int) -> list[int]:
    with suppress(OSError, ValueError):
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def postgres_cpu() -> float:
    """CPU seconds of every live PostgreSQL process on this machine (others' included; exited backends missed)."""
    total = 0.0
    for proc in Path("/proc").glob("[0-9]*"):
        with suppress(OSError):
            if (proc / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(proc.name))
    return total


def child_env(**extra: str) -> dict[str, str]:
    """This environment without CLOUDBAY_* settings, running this checkout's code, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDBAY_")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**env, **extra}


def whitelist_many(url: str, data: Path, stations: list[str], batch: int = 1000) -> None:
    """Whitelist ``stations`` directly in the event log, ``batch`` chargers per save (one transaction each)."""
    log = build_log(Settings(store=StoreSettings(url), data_dir=data))
    try:
        for i in range(0, len(stations), batch):
            log.save(*(Charger.whitelist(sid, "bench") for sid in stations[i : i + batch]))
    finally:
        log.close()


@contextmanager
def fresh_store(store: str, label: str) -> Iterator[tuple[str, Path]]:
    """A temporary data dir and the store URL in it (sqlite) or of a new PostgreSQL database (dropped after)."""
    dbname = f"cloudbay_bench_{secrets.token_hex(4)}" if store == "postgres" else ""
    with tempfile.TemporaryDirectory(prefix=f"cloudbay-bench-{label.replace('/', '-')}-") as tmp:
        data = Path(tmp)
        url = f"{PG}/{dbname}" if dbname else f"sqlite:///{data}/cloudbay.sqlite3"
        try:
            if dbname:
                ensure_database(StoreSettings(url))
            yield url, data
        finally:
            if dbname:
                drop_bench_database(label, dbname)


@contextmanager
def cloudbay(
    store: str, stations: list[str], env: dict[str, str] | None = None, log_level: str = "warning"
) -> Iterator[Served]:
    """``cloudbay serve`` on a fresh ``store`` (sqlite or postgres) with ``stations`` whitelisted."""
    label = f"cloudbay/{store}"
    with fresh_store(store, label) as (url, data):
        whitelist_many(url, data, stations)
        port, log = free_port(), data / "server.log"
        settings = {"CLOUDBAY_DATA_DIR": str(data), "CLOUDBAY_DATABASE_URL": url, **(env or {})}
        command = [sys.executable, "-m", "adapters.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)]
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*command, "--log-level", log_level], env=child_env(**settings), stdout=out, stderr=out
            )
        served = Served(label, proc, port, url, data, log)
        try:
            wait_healthy(proc, port, timeout=120)
            yield served
        finally:
            stop(proc)


@contextmanager
def reference(kind: str = "postgres") -> Iterator[Served]:
    """The reference server: ``postgres`` (websockets + group commit into a fresh database) or ``ocpp`` (the
    ``ocpp`` library's ChargePoint, storing nothing)."""
    label = "reference/postgres" if kind == "postgres" else "ocpp-library/none"
    with fresh_store("postgres" if kind == "postgres" else "none", label) as (url, data):
        port, log = free_port(), data / "server.log"
        command = [sys.executable, str(HERE / "reference_server.py"), "--port", str(port)]
        command += ["--database", url] if kind == "postgres" else ["--ocpp-library"]
        with open(log, "wb") as out:
            proc = subprocess.Popen(command, env=child_env(), stdout=out, stderr=out)
        served = Served(label, proc, port, url if kind == "postgres" else "", data, log)
        try:
            deadline = time.monotonic() + 30
            while not listening(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{label} did not start:\n{served.log_tail()}")
                time.sleep(0.1)
            yield served
        finally:
            stop(proc)
