"""Security profiles 1-3 over real TLS on a free port, with certificates made in the test, on SQLite and
PostgreSQL: Basic auth, wss://, client certificates, downgrades refused, failed logins rate limited and
recorded bounded, SecurityEventNotification stored, the REST endpoints."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from ocpp.v201 import call
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage, InvalidStatus

from adapters.auth import Role
from tests.support import LiveServer, station
from tests.tls_support import Issued, Pki, issue

PROBLEM = "application/problem+json"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.make(tmp_path / "pki")


@pytest.fixture
def tls_server(store_url: str, tmp_path: Path, pki: Pki) -> Iterator[LiveServer]:
    live = LiveServer(
        store_url, tmp_path / "data", tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.client_ca
    ).start()
    try:
        yield live
    finally:
        live.stop()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def charger(url: str, station_id: str, headers: dict[str, str] | None = None, context: Any = None) -> Any:
    options: dict[str, Any] = {"additional_headers": headers or {}, **({"ssl": context} if context else {})}
    return station(url, station_id, connect_options=options)


async def boots(url: str, station_id: str, headers: dict[str, str] | None = None, context: Any = None) -> bool:
    async with charger(url, station_id, headers, context) as cp:
        return (await cp.boot()).status == "Accepted"


async def refused(url: str, headers: dict[str, str] | None = None, context: Any = None) -> int:
    """The HTTP status the upgrade was refused with; fails when it was accepted."""
    options: dict[str, Any] = {"ssl": context} if context is not None else {}
    try:
        async with connect(url, subprotocols=["ocpp2.0.1"], additional_headers=headers or {}, **options):  # type: ignore[list-item]
            pass
    except InvalidStatus as e:
        return e.response.status_code
    raise AssertionError("the upgrade was accepted")


def configure(server: LiveServer, station_id: str, profile: int, password: str | None = None) -> str:
    server.whitelist(station_id)
    with server.http() as http:
        assert http.put(f"/api/v1/chargers/{station_id}/security", json={"profile": profile}).status_code == 200
        answer = http.post(f"/api/v1/chargers/{station_id}/password", json={"password": password} if password else {})
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        return str(answer.json()["password"])


def kinds(server: LiveServer, station_id: str) -> list[tuple[str, int]]:
    server.settle()
    with server.http() as http:
        items = http.get(f"/api/v1/chargers/{station_id}/security-events").json()["items"]
    return [(e["kind"], e["count"]) for e in items]


def test_profile_1_basic_auth_over_ws(tls_server: LiveServer) -> None:
    password = configure(tls_server, "P1-A", 1)
    assert 16 <= len(password) <= 40
    url = tls_server.ws_url("P1-A")

    async def scenario() -> None:
        assert await boots(url, "P1-A", basic("P1-A", password))
        assert await refused(url, basic("P1-A", password + "x")) == 401
        assert await refused(url) == 401
        assert await refused(url, basic("P1-B", password)) == 401  # the username is the station id
        assert await refused(url, {"Authorization": "Basic !!!"}) == 401

    asyncio.run(scenario())
    recorded = kinds(tls_server, "P1-A")
    assert recorded[:3] == [("InvalidBasicAuth", 1)] * 3 and len(recorded) == 3  # the 4th is only counted so far
    with tls_server.http() as http:
        security = http.get("/api/v1/chargers/P1-A/security").json()
        assert security["profile"] == 1 and security["password_set"] and security["configured"]
    raw = tls_server.runtime.log.recorder.select_notifications(0, 10_000)  # type: ignore[union-attr]
    assert not any(password.encode() in n.state for n in raw)  # only the hash is in the log


def test_profile_2_needs_wss_and_basic_auth(tls_server: LiveServer, pki: Pki) -> None:
    password = configure(tls_server, "P2-A", 2, "correct-horse-battery-1")
    trusting = pki.client_context()

    async def scenario() -> None:
        assert await boots(tls_server.wss_url("P2-A"), "P2-A", basic("P2-A", password), trusting)
        assert await refused(tls_server.wss_url("P2-A"), basic("P2-A", "wrong-password-12345"), trusting) == 401
        assert await refused(tls_server.ws_url("P2-A"), basic("P2-A", password)) == 403  # downgrade to ws://
        with httpx.Client(verify=trusting) as https:  # the REST API is served over HTTPS on the same port
            assert https.get(f"https://127.0.0.1:{tls_server.tls_port}/healthz").status_code == 200

    asyncio.run(scenario())
    assert kinds(tls_server, "P2-A") == [("InvalidBasicAuth", 1), ("DowngradeAttempt", 1)]


def test_profile_3_client_certificates(tls_server: LiveServer, pki: Pki) -> None:
    tls_server.whitelist("P3-A")
    with tls_server.http() as http:
        assert http.put("/api/v1/chargers/P3-A/security", json={"profile": 3}).status_code == 200
    url, now = tls_server.wss_url("P3-A"), dt.datetime.now(dt.UTC)
    foreign = issue("Another CA", ca=True)

    async def handshake_fails(context: ssl.SSLContext) -> None:
        with pytest.raises((ssl.SSLError, OSError, InvalidMessage, InvalidStatus)) as failure:
            async with connect(url, subprotocols=["ocpp2.0.1"], ssl=context):  # type: ignore[list-item]
                pass
        assert not isinstance(failure.value, InvalidStatus)  # refused by TLS, before any HTTP

    async def scenario() -> None:
        assert await boots(url, "P3-A", context=pki.client_context("P3-A"))  # no password needed
        await handshake_fails(pki.client_context("P3-A", issuer=foreign))
        expired = pki.client_context("P3-A", not_before=now - dt.timedelta(days=10), not_after=now - dt.timedelta(1))
        await handshake_fails(expired)
        assert await refused(url, context=pki.client_context("P3-OTHER")) == 403  # A00.FR.405
        assert await refused(url, context=pki.client_context()) == 403  # no client certificate
        assert await refused(tls_server.ws_url("P3-A")) == 403  # downgrade to ws://

    asyncio.run(scenario())
    assert kinds(tls_server, "P3-A") == [
        ("CertificateMismatch", 1),
        ("NoClientCertificate", 1),
        ("DowngradeAttempt", 1),
    ]


def test_failed_logins_are_rate_limited_and_recorded_bounded(tls_server: LiveServer) -> None:
    password = configure(tls_server, "RL-1", 1)
    url = tls_server.ws_url("RL-1")

    async def scenario() -> list[Any]:  # statuses, then (429, Retry-After)
        statuses: list[Any] = [await refused(url, basic("RL-1", f"guess-number-{n:04d}")) for n in range(10)]
        try:
            async with connect(url, subprotocols=["ocpp2.0.1"], additional_headers=basic("RL-1", password)):  # type: ignore[list-item]
                pass
        except InvalidStatus as e:  # blocked: even the right password waits
            statuses.append((e.response.status_code, int(e.response.headers["retry-after"])))
        return statuses

    statuses = asyncio.run(scenario())
    assert statuses[:10] == [401] * 10 and statuses[10][0] == 429 and 0 < statuses[10][1] <= 60
    assert kinds(tls_server, "RL-1") == [("InvalidBasicAuth", 1)] * 3 + [("RepeatedFailedLogins", 7)]


def test_security_event_notification_is_stored_and_listed(tls_server: LiveServer) -> None:
    tls_server.whitelist("SEN-1")

    async def scenario() -> None:
        async with charger(tls_server.ws_url("SEN-1"), "SEN-1") as cp:  # never configured: profile 0 as before
            for n in range(2):
                notice = call.SecurityEventNotification(
                    type="FirmwareUpdated", timestamp=f"2026-12-01T10:0{n}:00Z", tech_info=f"v{n}\x00\x1b[31m"
                )
                assert await cp.call(notice, suppress=False) is not None
            bad = call.SecurityEventNotification(type="Bad\x07Type", timestamp="2026-12-01T10:00:00Z")
            with pytest.raises(Exception, match="control characters"):
                await cp.call(bad, suppress=False)

    asyncio.run(scenario())
    tls_server.settle()
    with tls_server.http() as http:
        first = http.get("/api/v1/chargers/SEN-1/security-events?limit=1")
        assert first.status_code == 200, first.text
        page = first.json()
        event = page["items"][0]
        assert event["origin"] == "charger" and event["kind"] == "FirmwareUpdated"
        assert event["tech_info"] == "v0\ufffd\ufffd[31m" and event["occurred_at"].startswith("2026-12-01T10:00")
        second = http.get(page["_links"]["next"]["href"]).json()
        assert [e["tech_info"][:2] for e in second["items"]] == ["v1"] and "next" not in second["_links"]
        fleet = http.get("/api/v1/security-events").json()["items"]
        assert [e["station_id"] for e in fleet] == ["SEN-1", "SEN-1"]
        assert http.get("/api/v1/security-events?after=x").status_code == 400
        assert http.get("/api/v1/chargers/NOPE/security-events").status_code == 404
    with tls_server.http(Role.USER) as user:
        assert user.get("/api/v1/security-events").status_code == 403


def test_security_settings_refuse_bad_input(tls_server: LiveServer) -> None:
    tls_server.whitelist("CFG-1")
    with tls_server.http() as http:
        head = tls_server.head()
        unset = http.get("/api/v1/chargers/CFG-1/security").json()
        assert unset["profile"] == 0 and not unset["configured"] and not unset["password_set"]
        for body in ({"profile": 0}, {"profile": 4}, {"profile": "2"}, {"profile": 1, "extra": 1}, {}):
            answer = http.put("/api/v1/chargers/CFG-1/security", json=body)
            assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM, body
        for body in ({"password": "short"}, {"password": "x" * 41}, {"password": "with spaces in it ok?"}):
            assert http.post("/api/v1/chargers/CFG-1/password", json=body).status_code == 422, body
        assert http.put("/api/v1/chargers/NOPE/security", json={"profile": 2}).status_code == 404
        assert http.post("/api/v1/chargers/NOPE/password", json={}).status_code == 404
        assert tls_server.head() == head  # nothing was written
        lab = http.put("/api/v1/chargers/CFG-1/security", json={"profile": 0, "allow_unsecured": True}).json()
        assert lab["profile"] == 0 and lab["allow_unsecured"] and lab["configured"]
    with tls_server.http(Role.USER) as user:
        assert user.put("/api/v1/chargers/CFG-1/security", json={"profile": 2}).status_code == 404  # a stranger
    with tls_server.http(Role.MANUFACTURER) as line:
        assert line.post("/api/v1/chargers/CFG-1/password", json={}).status_code == 200


def forwarded(cert: Issued | None = None, proto: str = "https") -> dict[str, str]:
    """What a TLS-terminating proxy adds: the original scheme and the client certificate it received."""
    headers = {"X-Forwarded-Proto": proto}
    if cert is not None:
        headers["X-Client-Cert"] = quote(cert.cert.public_bytes(serialization.Encoding.PEM).decode())
    return headers


def test_behind_a_trusted_proxy_the_forwarded_certificate_is_verified_again(
    store_url: str, tmp_path: Path, pki: Pki
) -> None:
    proxied = LiveServer(store_url, tmp_path / "data", tls_client_ca=pki.client_ca, trusted_proxies=("127.0.0.1",))
    proxied.start()
    try:
        proxied.whitelist("PX-3")
        with proxied.http() as http:
            assert http.put("/api/v1/chargers/PX-3/security", json={"profile": 3}).status_code == 200
        url, now = proxied.ws_url("PX-3"), dt.datetime.now(dt.UTC)
        expired = issue("PX-3", pki.issuing, not_before=now - dt.timedelta(days=9), not_after=now - dt.timedelta(1))

        async def scenario() -> None:
            assert await boots(url, "PX-3", forwarded(issue("PX-3", pki.issuing)))
            assert await refused(url, forwarded(issue("PX-3", issue("Another CA", ca=True)))) == 403
            assert await refused(url, forwarded(expired)) == 403
            assert await refused(url, {"X-Client-Cert": "garbage", "X-Forwarded-Proto": "https"}) == 403
            assert await refused(url, forwarded(issue("PX-3", pki.issuing), proto="http")) == 403  # not TLS

        asyncio.run(scenario())
        assert kinds(proxied, "PX-3") == [("UntrustedCertificate", 1)] * 3  # the 4th is only counted
    finally:
        proxied.stop()


def test_forwarded_headers_from_anyone_else_are_ignored(tls_server: LiveServer, pki: Pki) -> None:
    tls_server.whitelist("PX-4")
    with tls_server.http() as http:
        assert http.put("/api/v1/chargers/PX-4/security", json={"profile": 3}).status_code == 200
    status = asyncio.run(refused(tls_server.ws_url("PX-4"), forwarded(issue("PX-4", pki.issuing))))
    assert status == 403 and kinds(tls_server, "PX-4") == [("DowngradeAttempt", 1)]
