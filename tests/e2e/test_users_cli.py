"""As an operator would: `cloudbay --version`, and `cloudbay users list|remove|rotate-secret` against a served
platform whose tokens they revoke (within the node's user cache TTL, set short here)."""

from __future__ import annotations

import os
import time
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from tests.cli_support import cloudbay_process
from tests.e2e.test_cli_and_server import cloudbay, served  # noqa: F401 - `served` is a fixture used below
from tests.support import wait_until

CACHE_SECONDS = 0.5


@pytest.fixture
def env(store_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CLOUDBAY_DATABASE_URL": store_url,
        "CLOUDBAY_DATA_DIR": str(tmp_path / "data"),
        "CLOUDBAY_USER_CACHE_SECONDS": str(CACHE_SECONDS),
    }


def test_version(tmp_path: Path) -> None:
    done = cloudbay_process({**os.environ, "CLOUDBAY_DATA_DIR": str(tmp_path)}, "--version")  # as installed
    assert done.returncode == 0
    assert done.stdout.strip() == f"cloudbay {metadata.version('cloudbay')}"


def status_of(base: str, token: str) -> int:
    return httpx.get(f"{base}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def grant(base: str, email: str, secret: str) -> httpx.Response:
    data = {"grant_type": "client_credentials"}
    return httpx.post(f"{base}/oauth/token", data=data, auth=(email, secret), timeout=10)


def test_list_rotate_and_remove_users(env: dict[str, str], served: str) -> None:  # noqa: F811 - the fixture
    cloudbay(env, "users", "add", "ops@example.com", "--role", "operator")
    cloudbay(env, "users", "add", "driver@example.com")
    old_token = cloudbay(env, "token", "driver@example.com").stdout.strip()
    assert status_of(served, old_token) == 200

    def listed(*args: str) -> str:
        return cloudbay(env, "users", "list", *args).stdout

    wait_until(lambda: "driver@example.com" in listed(), timeout=10)  # the projector catches up
    lines = sorted(line.split("\t")[:3] for line in listed().splitlines())
    assert lines == [["driver@example.com", "user", "active"], ["ops@example.com", "operator", "active"]]

    rotated = cloudbay(env, "users", "rotate-secret", "Driver@example.com")
    secret = rotated.stdout.split("client secret:")[1].strip()
    started = time.monotonic()
    wait_until(lambda: status_of(served, old_token) == 401, timeout=5)
    assert time.monotonic() - started < CACHE_SECONDS + 2
    new = grant(served, "driver@example.com", secret)
    assert new.status_code == 200
    new_token = new.json()["access_token"]
    assert status_of(served, new_token) == 200

    removed = cloudbay(env, "users", "remove", "driver@example.com")
    assert "removed driver@example.com" in removed.stdout
    wait_until(lambda: status_of(served, new_token) == 401, timeout=5)
    assert grant(served, "driver@example.com", secret).status_code == 401
    wait_until(lambda: "driver@example.com" not in listed(), timeout=10)
    assert "driver@example.com\tuser\tremoved" in listed("--status", "removed")

    again = cloudbay(env, "users", "remove", "driver@example.com", check=False)
    assert again.returncode == 1 and "was removed" in again.stderr
    assert cloudbay(env, "users", "rotate-secret", "nobody@example.com", check=False).returncode == 1
    assert cloudbay(env, "token", "driver@example.com", check=False).returncode == 1  # no token for a removed user
