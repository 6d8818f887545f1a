"""The projection worker: read models kept in a process of their own (``cloudbay project``).

One Python process has one GIL: a node busy answering chargers starves its projection threads, and read
models fall behind. ``cloudbay serve`` therefore starts this worker beside itself by default (and restarts
it if it dies); the serving process only watches the tracked positions (read-your-writes, /readyz) and tails
the event log for the live feed. ``--projections inline`` keeps everything in one process.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

from adapters.wiring import all_projections, build_log
from projections.db import ReadModelDB
from projections.follower import Follower
from adapters.settings import Settings

log = logging.getLogger("cloudbay.projector")

POLL_SECONDS = 0.15  # each poll is a transaction per projection: fewer, larger batches cost less CPU
RESTART_BACKOFF_SECONDS = 2.0


def run_projector(settings: Settings, parent_pid: int | None = None) -> None:
    """Keep every read model up to date until SIGTERM/SIGINT, or until the parent process is gone."""
    app = build_log(settings)
    db = ReadModelDB(settings.store)
    followers = [Follower(app, db, p, poll_interval=POLL_SECONDS) for p in all_projections(app)]
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for follower in followers:
        follower.start()
    log.info("projector keeping %s", ", ".join(f.projection.name for f in followers))
    try:
        while not stop.wait(1.0):
            if parent_pid is not None and os.getppid() != parent_pid:
                log.warning("the serving process is gone; projector stopping")
                break
    finally:
        for follower in followers:
            follower.stop()
        db.close()
        app.close()


class ProjectorProcess:
    """Starts ``cloudbay project`` as a child of the serving process, restarts it if it exits, stops it by PID."""

    def __init__(self, log_level: str = "info") -> None:
        self.log_level = log_level
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="projector-supervisor", daemon=True)

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        command = [
            sys.executable,
            "-m",
            "adapters.cli.main",
            "project",
            "--parent",
            str(os.getpid()),
            "--log-level",
            self.log_level,
        ]
        self.process = subprocess.Popen(command, env=os.environ.copy())
        log.info("projector started (PID %s)", self.process.pid)

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            process = self.process
            if process is not None and process.poll() is not None and not self._stopping.is_set():
                log.error("projector exited with %s; restarting", process.returncode)
                time.sleep(RESTART_BACKOFF_SECONDS)
                if not self._stopping.is_set():
                    self._spawn()
            self._stopping.wait(0.5)

    def stop(self) -> None:
        self._stopping.set()
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
