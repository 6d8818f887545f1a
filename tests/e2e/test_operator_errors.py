"""As an unlucky operator would: a database that does not answer, a CLI run from another directory, a setting
spelled wrong. Each is one clear line on stderr naming the setting, within seconds, and changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests import cli_support
from tests.cli_support import cloudbay_process as cloudbay
from tests.e2e.test_cli_and_server import env, served  # noqa: F401 - fixtures used below

CLOSED_PORT = "postgresql://postgres@127.0.0.1:1/x"


def run_in(cwd: Path, environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`cloudbay ARGS` run from ``cwd``, importing the code under test (PYTHONPATH made absolute)."""
    paths = [str(Path(p).resolve()) for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    environ = {**environ, "PYTHONPATH": os.pathsep.join(paths)} if paths else environ
    command = [sys.executable, "-m", "adapters.cli.main", *args]
    return subprocess.run(command, env=environ, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    "args",
    [("token", "ops@example.com"), ("chargers", "list"), ("chargers", "add", "CB-1"), ("users", "list"), ("replay",)],
)
def test_an_unreachable_database_is_one_clear_line_within_seconds(tmp_path: Path, args: tuple[str, ...]) -> None:
    environ = {**os.environ, "CLOUDBAY_DATABASE_URL": CLOSED_PORT, "CLOUDBAY_DATA_DIR": str(tmp_path)}
    started = time.monotonic()
    done = cli_support.cloudbay(environ, *args)  # in this process: the bound is the command's, not start-up's
    assert time.monotonic() - started < 8
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "CLOUDBAY_DATABASE_URL" in lines[0] and "127.0.0.1:1" in lines[0] and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("setting", "value"),
    [("CLOUDBAY_OCPP_CALL_TIMEOUT", "soon"), ("CLOUDBAY_HEARTBEAT_INTERVAL", "5m"), ("CLOUDBAY_DATABASE_URL", "x://")],
)
def test_a_malformed_setting_is_named(tmp_path: Path, setting: str, value: str) -> None:
    done = cloudbay({**os.environ, "CLOUDBAY_DATA_DIR": str(tmp_path), setting: value}, "chargers", "list", check=False)
    assert done.returncode == 2 and setting in done.stderr and "Traceback" not in done.stderr


def test_an_invalid_log_level_is_named(tmp_path: Path) -> None:
    done = cloudbay({**os.environ, "CLOUDBAY_DATA_DIR": str(tmp_path)}, "project", "--log-level", "loud", check=False)
    assert done.returncode == 2 and "--log-level" in done.stderr and "Traceback" not in done.stderr


def test_token_from_another_directory_never_mints_a_key_the_servers_do_not_know(
    env: dict[str, str],  # noqa: F811 - the fixture
    served: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    cloudbay(env, "users", "add", "ops@example.com", "--role", "operator")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    no_data_dir = {k: v for k, v in env.items() if k != "CLOUDBAY_DATA_DIR"}  # the relative default: ./var

    refused = run_in(elsewhere, no_data_dir, "token", "ops@example.com")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "CLOUDBAY_SIGNING_KEY" in refused.stderr and "Traceback" not in refused.stderr
    assert not (elsewhere / "var").exists()  # nothing created in the working directory

    deployment_key = str(Path(env["CLOUDBAY_DATA_DIR"]) / "signing-key.pem")
    issued = run_in(elsewhere, {**no_data_dir, "CLOUDBAY_SIGNING_KEY": deployment_key}, "token", "ops@example.com")
    assert issued.returncode == 0, issued.stderr
    answer = httpx.get(f"{served}/api/v1/users/me", headers={"Authorization": f"Bearer {issued.stdout.strip()}"})
    assert answer.status_code == 200


def test_signing_key_creates_the_deployment_key_once(tmp_path: Path) -> None:
    environ = {**os.environ, "CLOUDBAY_SIGNING_KEY": str(tmp_path / "keys" / "cloudbay.pem")}
    first, second = cloudbay(environ, "signing-key"), cloudbay(environ, "signing-key")
    assert first.stdout.startswith("created ") and second.stdout.startswith("found ")
    assert first.stdout.split("kid ")[1] == second.stdout.split("kid ")[1]
    assert (tmp_path / "keys" / "cloudbay.pem").stat().st_mode & 0o777 == 0o600
