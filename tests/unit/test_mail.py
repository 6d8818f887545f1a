"""Outgoing mail: the SMTP URL's forms, STARTTLS required when asked for, the file outbox; the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from adapters.mail import Mail, MailError, MailSettingsError, Outbox, SmtpSender, SmtpServer, mail_sender
from adapters.settings import Settings, SettingsError
from tests.pairing_support import Inbox
from tests.support import free_socket

MAIL = Mail("sam@example.com", "Invitation to charger CB-0001", "cloudbay://invitation?token=abc.def\n")


def test_smtp_urls() -> None:
    assert SmtpServer.parse("smtp://mail.example.com") == SmtpServer("smtp", "mail.example.com", 25, None, None)
    assert SmtpServer.parse("smtp+starttls://u%40x:p%3Aw@mail.example.com").port == 587
    assert SmtpServer.parse("smtp+starttls://u%40x:p%3Aw@mail.example.com").user == "u@x"
    assert SmtpServer.parse("smtp+starttls://u%40x:p%3Aw@mail.example.com").password == "p:w"
    assert SmtpServer.parse("smtps://mail.example.com:2465").port == 2465
    for bad in ("http://mail.example.com", "smtp://", "smtp://mail.example.com:port"):
        with pytest.raises(MailSettingsError):
            SmtpServer.parse(bad)


def test_plain_smtp_delivers_and_starttls_is_required_when_asked_for() -> None:
    inbox, sock = Inbox(), free_socket()
    port = sock.getsockname()[1]
    sock.close()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)  # no TLS offered
    controller.start()
    try:
        SmtpSender(SmtpServer.parse(f"smtp://127.0.0.1:{port}"), "cloudbay@example.com").send(MAIL)
        assert inbox.token_for("sam@example.com") == "abc.def" and inbox.tls == [False]
        with pytest.raises(MailError, match="STARTTLS"):
            SmtpSender(SmtpServer.parse(f"smtp+starttls://127.0.0.1:{port}"), "cloudbay@example.com").send(MAIL)
        assert len(inbox.messages) == 1
    finally:
        controller.stop()


def test_the_outbox_keeps_each_mail_in_a_private_file(tmp_path: Path) -> None:
    box = mail_sender(None, "cloudbay@example.com", tmp_path / "outbox")
    assert isinstance(box, Outbox) and box.files() == []
    box.send(MAIL)
    box.send(Mail("dan@example.com", "second", "text\n"))
    first, second = box.files()
    assert first.stat().st_mode & 0o777 == 0o600
    assert box.read(first)["To"] == "sam@example.com" and box.read(second)["Subject"] == "second"


def test_pairing_and_mail_settings() -> None:
    settings = Settings.from_env({"CLOUDBAY_PAIRING_MAX_FAILURES": "3", "CLOUDBAY_SMTP_URL": "smtps://m.example.com"})
    assert settings.pairing_max_failures == 3 and settings.pairing_lock_seconds == 900
    assert settings.smtp_url == "smtps://m.example.com" and settings.mail_from == "cloudbay@localhost"
    for env in (
        {"CLOUDBAY_PAIRING_MAX_FAILURES": "0"},
        {"CLOUDBAY_PAIRING_LOCK_SECONDS": "-1"},
        {"CLOUDBAY_PAIRING_MAX_FAILURES": "many"},
        {"CLOUDBAY_SMTP_URL": "mail.example.com"},
    ):
        with pytest.raises(SettingsError):
            Settings.from_env(env)
