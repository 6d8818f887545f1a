"""The `cloudbay` command for tests: run in this process (fast, the same code path as the installed command
after start-up), or as a real process where start-up itself, signals or the outer guard are what is tested."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Run with exactly ``env`` as the process environment, and the old one back afterwards."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def cloudbay(env: Mapping[str, str], *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """``cloudbay ARGS`` with ``env``, in this process: its exit code, standard output and standard error as a
    process would have them (an uncaught exception is exit code 1 with its traceback on standard error)."""
    from adapters.cli.main import app

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with environment(env), redirect_stdout(out), redirect_stderr(err):
        try:
            app(args=list(args), prog_name="cloudbay")
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except Exception:
            traceback.print_exc()
            code = 1
    result = subprocess.CompletedProcess(["cloudbay", *args], code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise subprocess.CalledProcessError(code, result.args, result.stdout, result.stderr)
    return result


def cloudbay_process(
    env: Mapping[str, str], *args: str, check: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``cloudbay ARGS`` as its own process, exactly as an operator runs it."""
    command = [sys.executable, "-m", "adapters.cli.main", *args]
    return subprocess.run(command, env=dict(env), capture_output=True, text=True, timeout=timeout, check=check)
