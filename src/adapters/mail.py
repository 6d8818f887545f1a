"""Outgoing mail (invitations): SMTP to a configured server, or a file outbox an operator reads.

``CLOUDBAY_SMTP_URL`` chooses the server:
- ``smtp://[user:password@]host[:port]`` — plain SMTP (port 25), upgraded with STARTTLS when the server offers it;
- ``smtp+starttls://...`` — STARTTLS required (port 587), refused when the server does not offer it;
- ``smtps://...`` — TLS from the first byte (port 465).
Certificates are checked against the system's CAs, or ``CLOUDBAY_SMTP_CA`` (a PEM file) when set. Without a URL,
mail goes to the outbox: one ``.eml`` file per message in ``$CLOUDBAY_DATA_DIR/outbox`` (``cloudbay outbox``).

Sending blocks (``smtplib``): call it from a worker thread.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from adapters.manufacturing import write_private_file

SMTP_TIMEOUT = 10.0
SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class MailError(Exception):
    """The message could not be handed to the mail server (nothing was sent)."""


class MailSettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str


class MailSender(Protocol):
    def send(self, mail: Mail) -> None: ...


def message(mail: Mail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, mail.to, mail.subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "cloudbay")
    msg.set_content(mail.text)
    return msg


@dataclass(frozen=True)
class SmtpServer:
    scheme: str
    host: str
    port: int
    user: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise MailSettingsError("CLOUDBAY_SMTP_URL must be smtp://, smtp+starttls:// or smtps://host[:port]")
        try:
            port = parts.port or SCHEMES[parts.scheme]
        except ValueError:
            raise MailSettingsError("CLOUDBAY_SMTP_URL: the port must be a number") from None
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return cls(parts.scheme, parts.hostname, port, user, password)


class SmtpSender:
    """Hands each message to the SMTP server (STARTTLS or TLS as the URL says), one connection per message."""

    def __init__(self, server: SmtpServer, sender: str, ca_file: Path | None = None) -> None:
        self.server, self.sender = server, sender
        self.context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)

    def _connect(self) -> smtplib.SMTP:
        s = self.server
        if s.scheme == "smtps":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=SMTP_TIMEOUT, context=self.context)
        smtp = smtplib.SMTP(s.host, s.port, timeout=SMTP_TIMEOUT)
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=self.context)
            smtp.ehlo()
        elif s.scheme == "smtp+starttls":
            smtp.close()
            raise MailError(f"the mail server {s.host}:{s.port} does not offer STARTTLS")
        return smtp

    def send(self, mail: Mail) -> None:
        try:
            with self._connect() as smtp:
                if self.server.user is not None:
                    smtp.login(self.server.user, self.server.password or "")
                smtp.send_message(message(mail, self.sender))
        except MailError:
            raise
        except (OSError, smtplib.SMTPException) as e:
            raise MailError(f"the mail server {self.server.host}:{self.server.port} refused: {e}") from None


class Outbox:
    """The embedded default: each message a file (mode 0600, it carries a token), newest last by name."""

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory, self.sender = directory, sender

    def send(self, mail: Mail) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        try:
            write_private_file(path, message(mail, self.sender).as_string(), replace=True)
        except OSError as e:
            raise MailError(f"cannot write to the outbox {self.directory}: {e}") from None

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("*.eml")) if self.directory.is_dir() else []

    @staticmethod
    def read(path: Path) -> EmailMessage:
        with path.open("rb") as f:
            parsed: EmailMessage = BytesParser(policy=default).parse(f)  # type: ignore[assignment]
            return parsed


def mail_sender(smtp_url: str | None, sender: str, outbox: Path, ca_file: Path | None = None) -> MailSender:
    if smtp_url:
        return SmtpSender(SmtpServer.parse(smtp_url), sender, ca_file)
    return Outbox(outbox, sender)
