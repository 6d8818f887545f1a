"""`cloudbay serve --tls-*` as an operator starts it: wss:// and HTTPS on the TLS port beside ws:// and HTTP,
one process; a profile-3 charger connects with its client certificate, a bad certificate file stops the start."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import httpx

from tests import cli_support
from tests.e2e.servers import Served, base_env
from tests.support import free_socket, station
from tests.tls_support import Pki


def cloudbay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``serve`` as its own process (its start-up is what is tested), anything else in this one."""
    if args[:1] == ("serve",):
        return cli_support.cloudbay_process(env, *args, timeout=60)
    return cli_support.cloudbay(env, *args)


def test_serve_answers_wss_and_https_beside_the_plain_port(tmp_path: Path) -> None:
    pki = Pki.make(tmp_path / "pki")
    env = base_env(f"sqlite:///{tmp_path / 'cb.sqlite3'}", tmp_path / "data", CLOUDBAY_PROJECTIONS="inline")
    env["CLOUDBAY_TLS_CLIENT_CA"] = str(pki.client_ca)  # the setting and the options mix
    sock = free_socket()
    tls_port = sock.getsockname()[1]
    sock.close()
    added = cloudbay(env, "users", "add", "op@example.com", "--role", "operator")
    secret = added.stdout.split("client secret:")[1].split()[0]
    tls = ("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--tls-port", str(tls_port))
    served = Served(env, tmp_path / "serve.log", options=tls).start()
    try:
        https = f"https://127.0.0.1:{tls_port}"
        with httpx.Client(base_url=https, verify=pki.client_context()) as http:  # the REST API over HTTPS
            grant = {"grant_type": "client_credentials"}
            token = http.post("/oauth/token", data=grant, auth=("op@example.com", secret)).json()["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"
            assert http.post("/api/v1/chargers", json={"serial_number": "TLS-1"}).status_code == 201
            answer = http.put("/api/v1/chargers/TLS-1/security", json={"profile": 3})
            assert answer.status_code == 200, answer.text

        async def boot() -> str:
            options = {"ssl": pki.client_context("TLS-1")}
            async with station(f"wss://127.0.0.1:{tls_port}/ocpp/TLS-1", "TLS-1", connect_options=options) as cp:
                return str((await cp.boot()).status)

        assert asyncio.run(boot()) == "Accepted"
        assert httpx.get(f"{served.base}/healthz").status_code == 200  # the plain port still serves
    finally:
        served.stop()
    assert served.proc is not None and served.proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises it
    log = (tmp_path / "serve.log").read_text()
    assert "https://127.0.0.1" in log and log.index("Finished server process") < log.index("Application shutdown")


def test_serve_refuses_to_start_with_an_unusable_certificate(tmp_path: Path) -> None:
    env = {**os.environ, "CLOUDBAY_DATABASE_URL": f"sqlite:///{tmp_path / 'cb.sqlite3'}"}
    env["CLOUDBAY_DATA_DIR"] = str(tmp_path / "data")
    (tmp_path / "cert.pem").write_text("not a certificate")
    args = ("--tls-cert", str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "cert.pem"))
    bad = cloudbay(env, "serve", *args, "--projections", "inline")
    assert bad.returncode == 2 and "TLS certificate" in bad.stderr, bad.stderr
