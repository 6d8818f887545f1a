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

from adapters import gc_tuning
from adapters.settings import Settings
from adapters.webhooks.delivery import DeliveryWorker, delivery_worker
from adapters.wiring import all_projections, build_log
from projections.db import ReadModelDB
from projections.group import FollowerGroup

log = logging.getLogger("cloudbay.projector")

POLL_SECONDS = 0.15  # each poll reads the log once for all read models: fewer, larger batches cost less CPU
RESTART_BACKOFF_SECONDS = 2.0
PARENT_CHECK_SECONDS = 0.2  # how often the watchdog looks for the parent (one getppid call)
ORPHAN_GRACE_SECONDS = 3.0  # once the parent is gone: this long to stop cleanly, then the process exits anyway
SIGNAL_POLL_SECONDS = 0.2  # how soon the main thread sees a SIGTERM/SIGINT (its handler only records it)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def run_projector(settings: Settings, parent_pid: int | None = None) -> None:
    """Keep every read model up to date until SIGTERM/SIGINT, or until the parent process is gone.

    With ``parent_pid``, the process never outlives its parent by more than a few seconds, whatever it is
    doing (starting, or stuck in a call to a database that is gone): the kernel sends it SIGTERM when the
    parent dies (Linux), and a watchdog thread, started before anything touches the database, ends the
    process if a clean stop takes longer than ``ORPHAN_GRACE_SECONDS``.
    """
    stop = threading.Event()
    watchdog = None
    if parent_pid is not None:
        _terminate_with_parent()
        watchdog = ParentWatchdog(parent_pid, stop)
        if not watchdog.parent_alive():  # the parent died before the kernel was told to signal us
            log.warning("the serving process (PID %s) is gone; projector not starting", parent_pid)
            return
        watchdog.start()
    # Until the followers run, SIGTERM keeps its default action (end the process at once): start-up has
    # nothing to stop cleanly, and may be blocked in a database call that would never look at a flag.
    gc_tuning.tune()  # a long-running process's collector (adapters/gc_tuning.py)
    app = build_log(settings)
    try:
        db = ReadModelDB(settings.store)
    except BaseException:
        app.close()
        raise
    followers = FollowerGroup(app, db, all_projections(app), poll_interval=POLL_SECONDS)
    webhooks: DeliveryWorker | None = None

    signalled: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # no lock here: a handler runs in the main thread, which may hold ``stop``'s own lock at that moment
        # (inside ``stop.wait``); ``stop.set()`` here would wait for it forever
        signalled.append(signum)

    try:
        followers.start()
        webhooks = delivery_worker(settings, db)  # the webhook outbox is delivered where it is kept
        webhooks.start()
        # from now on SIGTERM/SIGINT stop the followers and close the stores (the supervisor's stop path)
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        if watchdog is not None:
            watchdog.started.set()
        log.info("projector keeping %s", ", ".join(p.name for p in followers.projections))
        gc_tuning.started()
        while not stop.wait(SIGNAL_POLL_SECONDS) and not signalled:
            if watchdog is not None and not watchdog.parent_alive():
                break  # the watchdog says so, and ends the process if this stop does not finish in time
    finally:
        stop.set()
        if webhooks is not None:
            webhooks.stop()
        followers.stop()
        db.close()
        app.close()


def _terminate_with_parent() -> None:
    """Ask the kernel for SIGTERM when the parent dies (Linux only; elsewhere the watchdog alone acts).

    The kernel sends it when the *thread* that started this process ends: ``ProjectorProcess`` starts it from
    the main thread or from its supervisor thread, both of which live as long as the serving process.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
    except (OSError, AttributeError) as e:
        log.warning("prctl(PR_SET_PDEATHSIG) unavailable: %s", e)


class ParentWatchdog(threading.Thread):
    """Ends the projector soon after its parent is gone, whatever the main thread is blocked in.

    Once the parent is gone: during start-up the process ends at once (nothing to stop cleanly); afterwards
    ``stop`` is set (the normal stop path) and, if the process is still there ``grace`` seconds later (a
    follower stuck in a call to a database that is gone, a pool that will not close), it ends with
    ``os._exit``. It uses no database and takes no lock the rest of the process holds.
    """

    def __init__(self, parent_pid: int, stop: threading.Event, grace: float = ORPHAN_GRACE_SECONDS) -> None:
        super().__init__(name="projector-parent-watchdog", daemon=True)
        self.parent_pid = parent_pid
        self.stop = stop
        self.grace = grace
        self.started = threading.Event()  # set by the main thread once start-up is over

    def parent_alive(self) -> bool:
        return os.getppid() == self.parent_pid  # an orphan is adopted by init or a subreaper

    def run(self) -> None:
        while self.parent_alive():
            time.sleep(PARENT_CHECK_SECONDS)
        if not self.started.is_set():
            log.warning("the serving process (PID %s) is gone during start-up; projector exiting", self.parent_pid)
            _exit_now(1)
        log.warning("the serving process (PID %s) is gone; projector stopping", self.parent_pid)
        # set from a thread of its own: whatever holds ``stop``'s lock cannot keep the grace timer from running
        threading.Thread(target=self.stop.set, name="projector-stop", daemon=True).start()
        time.sleep(self.grace)  # a clean stop ends the process before this returns
        log.error("projector did not stop within %.0f s of its parent's death; exiting", self.grace)
        _exit_now(1)


def _exit_now(code: int) -> None:
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:
            pass
    os._exit(code)


class ProjectorProcess:
    """Starts ``cloudbay project`` as a child of the serving process, restarts it if it exits, stops it by PID."""

    def __init__(self, log_level: str = "info") -> None:
        self.log_level = log_level
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="projector-supervisor", daemon=True)

    def alive(self) -> bool:
        """Whether the child runs now (for /readyz: a dead one is restarted after 2 s)."""
        process = self.process
        return process is not None and process.poll() is None

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
                process.wait(2)  # serve's SIGTERM is bounded (docs/operations.md): then the child is killed
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
