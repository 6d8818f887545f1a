from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from adapters.pki.authority import FileAuthority
from adapters.pki.settings import CaSettings
from tests.manufacturing_support import BLOCK, batch
from tests.pki_support import PASSPHRASE
from tests.support import LiveServer, fresh_store, serving

STORES = ["sqlite", "postgres"]

logging.getLogger("ocpp").setLevel(logging.CRITICAL)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Spread the end-to-end tests (a few seconds each: real processes, restarts, outages) evenly over the run.

    pytest-xdist hands each worker consecutive tests; in file order, one worker got every end-to-end test and
    ran on for two minutes after the others had finished. The other tests keep their order (a module's shared
    server serves its tests one after another)."""
    slow = [item for item in items if item.path.parent.name == "e2e"]
    if not slow or len(slow) == len(items):
        return
    rest = [item for item in items if item.path.parent.name != "e2e"]
    spread: list[pytest.Item] = []
    for k, item in enumerate(slow):
        spread.extend(rest[len(spread) - k : (k * len(rest)) // len(slow)])
        spread.append(item)
    spread.extend(rest[len(spread) - len(slow) :])
    items[:] = spread


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every storage test runs on the embedded SQLite store and on PostgreSQL (a fresh database each)."""
    with fresh_store(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=STORES)
def shared_store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One store of each kind for a module's tests that only probe refusals."""
    with fresh_store(request.param, tmp_path_factory.mktemp("store")) as url:
        yield url


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    with serving(store_url, tmp_path / "data") as live:
        yield live


@pytest.fixture(scope="module")
def shared_server(shared_store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the tests of a module that only probe refusals: none of them writes (most check it), so
    they need no fresh platform each."""
    with serving(shared_store_url, tmp_path_factory.mktemp("data")) as live:
        yield live


LINE = {"mac_block": "02:00:00:00:00:00/24"}  # a production line's server: a locally administered /24 to hand out


@pytest.fixture
def line(store_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    with serving(store_url, tmp_path / "data", **LINE) as live:
        yield live


@pytest.fixture(scope="module")
def shared_line(shared_store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(shared_store_url, tmp_path_factory.mktemp("data"), **LINE) as live:
        yield live


@pytest.fixture
def pki(store_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A production line's server with its certificate authority made (keys under a passphrase), and a batch of
    two devices (EN-1, EN-2) of the family home-22kw."""
    # certificates of 20 days, renewed within 30: a charger is asked to renew at its next boot
    ca = CaSettings(directory=tmp_path / "data" / "ca", passphrase=PASSPHRASE, leaf_days=20, renew_days=30)
    FileAuthority(ca).init()
    live = LiveServer(store_url, tmp_path / "data", mac_block=BLOCK, ca=ca).start()
    try:
        with live.http() as http:
            assert http.post("/api/v1/production-batches", json=batch("B1", ["EN-1", "EN-2"])).status_code == 201
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_url(rsa_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """An external issuer's JWKS (as Keycloak or Cognito serve it), on a real HTTP server on 127.0.0.1."""
    jwk = {**RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True), "kid": "ext-1", "use": "sig"}
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
