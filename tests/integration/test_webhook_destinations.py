"""Webhooks are sent to public addresses only (no SSRF): a URL whose host is, or resolves to, a loopback, private,
link-local, CGNAT or unique-local address is refused at registration (422), and the name is resolved and
checked again right before each delivery connects. Real HTTP, a real receiver on 127.0.0.1, both stores.
The resolver is the one part replaced, with fixed answers: this machine's DNS cannot be pointed anywhere."""

from __future__ import annotations

import time
from collections.abc import Iterator
from ipaddress import ip_address
from pathlib import Path

import pytest

from cloudbay_domain.destinations import Address
from tests.integration.test_webhooks import FAST, Receiver, deliveries, subscribe, visit
from tests.support import LiveServer, serving, wait_until

PROBLEM = "application/problem+json"
PUBLIC = ip_address("93.184.216.34")


class Dns:
    """Fixed answers by name, as a resolver that can be re-pointed (DNS rebinding)."""

    def __init__(self) -> None:
        self.names: dict[str, list[Address]] = {}

    def __call__(self, host: str, port: int) -> list[Address]:
        if host not in self.names:
            raise OSError(f"{host}: name not known")
        return self.names[host]


GUARDED = {**FAST, "webhook_allow_private": False}


def resolving(live: LiveServer) -> tuple[LiveServer, Dns]:
    """The server with its name resolution answered by a test ``Dns``."""
    assert live.runtime is not None
    dns = Dns()
    live.runtime.destinations.resolver = dns
    return live, dns


@pytest.fixture
def guarded(store_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Dns]]:
    with serving(store_url, tmp_path / "data", **GUARDED) as live:
        yield resolving(live)


@pytest.fixture(scope="module")
def shared_guarded(shared_store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Dns]]:
    """One guarded server for the refusals below: none of them registers anything."""
    with serving(shared_store_url, tmp_path_factory.mktemp("data"), **GUARDED) as live:
        yield resolving(live)


REFUSED = [
    ("http://127.0.0.1:9/hooks", "loopback"),
    ("http://127.1:9/hooks", "loopback"),
    ("http://2130706433:9/hooks", "loopback"),
    ("http://[::1]:9/hooks", "loopback"),
    ("http://localhost:9/hooks", "localhost"),
    ("http://hooks.localhost/", "localhost"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://10.1.2.3/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://192.168.1.10/", "private"),
    ("http://100.64.0.1/", "CGNAT"),
    ("http://[fd12:3456::1]/", "unique-local"),
    ("http://[::ffff:10.0.0.1]/", "private"),
    ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),  # NAT64 of 169.254.169.254
    ("http://0.0.0.0/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("https://metadata.example.test/", "resolves to 169.254.169.254"),
    ("https://intranet.example.test/", "resolves to 10.0.0.7"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_a_private_destination_is_refused_at_registration(
    shared_guarded: tuple[LiveServer, Dns], url: str, why: str
) -> None:
    server, dns = shared_guarded
    dns.names["metadata.example.test"] = [ip_address("169.254.169.254")]
    dns.names["intranet.example.test"] = [PUBLIC, ip_address("10.0.0.7")]  # one private address is enough
    with server.http() as api:
        answer = api.post("/api/v1/webhooks", json={"url": url, "events": ["charger.online"]})
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == PROBLEM
        assert why in answer.json()["detail"] and "destination is refused" in answer.json()["detail"]
        assert api.get("/api/v1/webhooks").json()["items"] == []


def test_public_destinations_are_registered(guarded: tuple[LiveServer, Dns]) -> None:
    server, dns = guarded
    dns.names["hooks.example.test"] = [PUBLIC]
    for url in ("https://hooks.example.test/in", f"https://{PUBLIC}/in", "https://not-yet.example.test/in"):
        subscribe(server, url, ["charger.online"])  # a name that does not resolve yet is checked at delivery


def test_a_name_re_pointed_at_a_private_address_after_registration_is_not_connected_to(
    guarded: tuple[LiveServer, Dns],
) -> None:
    server, dns = guarded
    receiver = Receiver().start()
    try:
        dns.names["rebind.example.test"] = [PUBLIC]
        hook = subscribe(server, f"http://rebind.example.test:{receiver.port}/hooks", ["charger.online"])
        dns.names["rebind.example.test"] = [ip_address("127.0.0.1")]  # where the receiver really listens
        server.whitelist("CB-DST-1")
        visit(server, "CB-DST-1")
        wait_until(lambda: [d["status"] for d in deliveries(server, hook)] == ["dead"], timeout=15)
        time.sleep(0.2)
    finally:
        receiver.stop()
    (row,) = deliveries(server, hook)
    assert "refused" in row["last_error"] and "127.0.0.1 is a loopback address" in row["last_error"]
    assert receiver.received == []


def test_redirects_are_not_followed(store_url: str, tmp_path: Path) -> None:
    """Even where private destinations are allowed: a 3xx is a failed attempt, its Location never visited."""
    target = Receiver().start()
    redirecting = Receiver(answers=[302, 302, 302]).start()
    server = LiveServer(store_url, tmp_path / "data", **FAST).start()
    try:
        redirecting.location = target.url
        hook = subscribe(server, redirecting.url, ["charger.online"])
        server.whitelist("CB-DST-2")
        visit(server, "CB-DST-2")
        wait_until(lambda: [d["status"] for d in deliveries(server, hook)] == ["dead"], timeout=15)
        (row,) = deliveries(server, hook)
    finally:
        server.stop()
        target.stop()
        redirecting.stop()
    assert row["last_error"] == "HTTP 302" and len(redirecting.received) == 3 and target.received == []
