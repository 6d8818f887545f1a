"""Pairing test helpers: a real SMTP server (aiosmtpd, STARTTLS required) that keeps what it receives, released
chargers with their codes, app users' clients, invitations read from the mail."""

from __future__ import annotations

import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from adapters.auth import Role
from cloudbay_domain.codes import DeviceCodes
from tests.manufacturing_support import batch
from tests.support import LiveServer, free_socket, wait_until
from tests.tls_support import Pki

TOKEN = re.compile(r"cloudbay://invitation\?token=(\S+)")


class Inbox:
    """aiosmtpd's handler: every message delivered, parsed, in arrival order."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.tls: list[bool] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self._lock:
            self.messages.append(message_from_bytes(content, policy=default))  # type: ignore[arg-type]
            self.tls.append(session.ssl is not None)
        return "250 OK"

    def to(self, email: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == email]

    def token_for(self, email: str) -> str:
        """The token of the newest invitation mailed to ``email`` (waiting for it a little)."""
        wait_until(lambda: self.to(email), timeout=5)
        body = self.to(email)[-1].get_body(("plain",))
        assert body is not None
        found = TOKEN.search(body.get_content())
        assert found, body
        return found.group(1)


@contextmanager
def smtp_server(directory: Path) -> Iterator[tuple[str, Path, Inbox]]:
    """A local SMTP server requiring STARTTLS: its URL, the CA file its certificate chains to, its inbox."""
    pki = Pki.make(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    inbox = Inbox()
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True)
    controller.start()
    try:
        yield f"smtp+starttls://127.0.0.1:{port}", pki.root_pem, inbox
    finally:
        controller.stop()


def release(server: LiveServer, *serials: str, batch_id: str = "PAIR-B1") -> dict[str, DeviceCodes]:
    """Import a batch of ``serials`` and release each (its box code from the label): their codes by serial."""
    with server.http() as http:
        assert http.post("/api/v1/production-batches", json=batch(batch_id, list(serials))).status_code == 201
    codes = {}
    for serial in serials:
        _, codes[serial] = server.runtime.pipeline.label(serial, "box", "png", "test")  # type: ignore[union-attr]
        server.runtime.pipeline.release(serial, codes[serial].box, "test", allow_unenrolled=True)  # type: ignore[union-attr]
    return codes


def app_user(server: LiveServer, email: str) -> httpx.Client:
    return server.http(Role.USER, email=email)


def pairing_body(codes: DeviceCodes, **override: str) -> dict[str, Any]:
    return {"charger_code": codes.charger_payload, "box_code": codes.box_payload, **override}


def pair(server: LiveServer, email: str, codes: DeviceCodes) -> httpx.Response:
    with app_user(server, email) as http:
        return http.post("/api/v1/pairings", json=pairing_body(codes))


def security_kinds(server: LiveServer, station_id: str) -> list[str]:
    server.settle()
    rows = server.runtime.security_events.list(station_id=station_id, after=None, limit=1000)  # type: ignore[union-attr]
    return [f"{row['kind']}: {row['tech_info']}" for row in rows]
