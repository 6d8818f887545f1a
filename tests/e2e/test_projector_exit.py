"""`cloudbay project` never outlives its parent (`cloudbay serve`) by more than a few seconds.

Whatever the projector is doing when its parent dies: keeping healthy read models, failing against a
database that was dropped, stuck in a database call, or still starting against a database it cannot reach.
Each test starts a real parent process, which starts the projector and sleeps; the test SIGKILLs the
parent (no chance to stop its child) and waits for the child to be gone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.settings import StoreSettings
from adapters.storage import drop_database, ensure_database
from tests.pg_template import PG_BASE
from tests.support import fresh_store

GONE_WITHIN = 10.0  # generous: the projector exits in about a second; before the fix it took 20 s or more

PARENT = """
import os, subprocess, sys, time
child = subprocess.Popen(
    [sys.executable, "-m", "adapters.cli.main", "project", "--parent", str(os.getpid()), "--log-level", "info"]
)
print(child.pid, flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, not yet reaped by init, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid: int, timeout: float) -> float | None:
    """Seconds until ``pid`` is gone, or None if it is still there after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not alive(pid):
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def kill_if_alive(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def orphan_projector(
    database_url: str,
    data_dir: Path,
    *,
    started: bool = True,
    before_kill: Callable[[], None] | None = None,
    settle: float = 1.0,
    to_child: Callable[[int], None] | None = None,
) -> tuple[float | None, str]:
    """Start parent + projector; with ``started``, wait until the projector keeps its read models; after
    ``settle`` s (and ``before_kill``) SIGKILL the parent. Returns how long the projector took to go (None:
    still there after GONE_WITHIN) and its stderr. With ``to_child``, that is called with the projector's PID
    instead, and the parent is left running."""
    env = {**os.environ, "CLOUDBAY_DATABASE_URL": database_url, "CLOUDBAY_DATA_DIR": str(data_dir)}
    stderr_path = data_dir.parent / f"projector-{uuid.uuid4().hex[:6]}.log"
    with stderr_path.open("wb") as stderr:
        parent = subprocess.Popen(
            [sys.executable, "-c", PARENT], env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    child: int | None = None
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        deadline = time.monotonic() + 15
        while started and "projector keeping" not in stderr_path.read_text(errors="replace"):
            assert alive(child) and time.monotonic() < deadline, stderr_path.read_text(errors="replace")
            time.sleep(0.05)
        time.sleep(settle)
        if to_child is not None:
            to_child(child)
            return wait_gone(child, GONE_WITHIN), stderr_path.read_text(errors="replace")
        if before_kill is not None:
            before_kill()
            time.sleep(0.5)  # let the followers run into it
        assert parent.poll() is None, "the parent must still be running when the test kills it"
        os.kill(parent.pid, signal.SIGKILL)  # only the processes this test started, by PID
        parent.wait(5)
        return wait_gone(child, GONE_WITHIN), stderr_path.read_text(errors="replace")
    finally:
        if child is not None:
            kill_if_alive(child)
        if parent.poll() is None:
            parent.kill()
            parent.wait(5)
        if parent.stdout is not None:
            parent.stdout.close()


def assert_gone(took: float | None, stderr: str) -> None:
    assert took is not None, f"the projector outlived its parent by more than {GONE_WITHIN} s:\n{stderr[-3000:]}"


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    with fresh_store("postgres", tmp_path) as url:
        yield url


def test_exits_with_its_parent_on_a_healthy_database(store_url: str, tmp_path: Path) -> None:
    took, stderr = orphan_projector(store_url, tmp_path / "data")
    assert_gone(took, stderr)
    assert "Traceback" not in stderr


def test_exits_with_its_parent_after_its_database_was_dropped(tmp_path: Path) -> None:
    url = f"{PG_BASE}/cloudbay_test_{uuid.uuid4().hex[:12]}"
    ensure_database(StoreSettings(url))
    try:
        took, stderr = orphan_projector(url, tmp_path / "data", before_kill=lambda: drop_database(StoreSettings(url)))
    finally:
        drop_database(StoreSettings(url))
    assert_gone(took, stderr)


def test_exits_with_its_parent_while_a_follower_is_stuck_in_a_database_call(pg_url: str, tmp_path: Path) -> None:
    with psycopg.connect(pg_url) as blocker:
        blocker.execute(
            "CREATE TABLE IF NOT EXISTS rm_tracking (projection TEXT PRIMARY KEY, position BIGINT NOT NULL)"
        )
        blocker.commit()

        def lock() -> None:  # every follower's next transaction waits for this lock, without end
            blocker.execute("LOCK TABLE rm_tracking IN ACCESS EXCLUSIVE MODE")

        took, stderr = orphan_projector(pg_url, tmp_path / "data", before_kill=lock)
        blocker.rollback()
    assert_gone(took, stderr)


def test_exits_with_its_parent_while_start_up_is_stuck_in_a_database_call(pg_url: str, tmp_path: Path) -> None:
    with psycopg.connect(pg_url) as blocker:
        blocker.execute(
            "CREATE TABLE IF NOT EXISTS rm_tracking (projection TEXT PRIMARY KEY, position BIGINT NOT NULL)"
        )
        blocker.commit()
        blocker.execute("LOCK TABLE rm_tracking IN ACCESS EXCLUSIVE MODE")  # start-up (prepare) waits for it
        took, stderr = orphan_projector(pg_url, tmp_path / "data", started=False, settle=2.0)
        blocker.rollback()
    assert_gone(took, stderr)
    assert "projector keeping" not in stderr  # it was indeed still starting


def test_exits_with_its_parent_when_the_database_port_is_closed(tmp_path: Path) -> None:
    took, stderr = orphan_projector("postgresql://postgres@127.0.0.1:1/x", tmp_path / "data", started=False)
    assert_gone(took, stderr)


def test_exits_with_its_parent_while_connecting_to_a_server_that_never_answers(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does), never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/x"
        took, stderr = orphan_projector(url, tmp_path / "data", started=False, settle=2.0)
    assert_gone(took, stderr)
    assert "projector keeping" not in stderr  # it was indeed still connecting


def test_a_burst_of_sigterms_stops_it_cleanly(tmp_path: Path) -> None:
    """SIGTERMs in a burst (serve's stop and the kernel's parent-death signal can both arrive): it stops.

    Before, the handler set the stop flag (a ``threading.Event``): a second signal arriving while the first
    handler held the flag's lock deadlocked the process, and its watchdog waited on the same lock, so it never
    exited (seen once, in a stack dump of a projector left over from the outage tests). The window is a few
    bytecodes wide, so this burst seldom hit it; the handler now only records the signal."""

    def burst(child: int) -> None:
        for _ in range(500):  # the projector this test's parent started, by its PID
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                return

    took, stderr = orphan_projector(f"sqlite:///{tmp_path / 'cb.sqlite3'}", tmp_path / "data", settle=0, to_child=burst)
    assert_gone(took, stderr)
