"""The platform's own app tokens (type Central, sent with remote starts) can never be registered as a card."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudbay_domain.id_token import TokenKind, app_id_token, is_app_token
from services.id_tokens import IdTokenAlreadyRegistered
from services.platform import Platform


@pytest.fixture
def platform() -> Platform:
    return Platform.from_env(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_another_users_app_token_cannot_be_registered_as_a_card(platform: Platform) -> None:
    victim_token = app_id_token("victim@example.com")
    for spelling in (victim_token, victim_token.lower(), f"  {victim_token} "):
        with pytest.raises(IdTokenAlreadyRegistered, match="cannot be registered"):
            platform.id_tokens.register(spelling, "ISO14443", "thief@example.com", TokenKind.RFID, operator=False)
    head = platform.log.recorder.max_notification_id() or 0
    assert head == 0  # nothing written


def test_ordinary_cards_that_start_with_app_are_still_cards(platform: Platform) -> None:
    for value in ("APP1234", "APPLE-CARD-0001", "APP" + "G" * 17, "APP" + "0" * 18):
        assert not is_app_token(value)
        platform.id_tokens.register(value, "ISO14443", "driver@example.com", TokenKind.RFID)


@given(st.emails())
def test_every_app_token_has_the_reserved_form(user: str) -> None:
    assert is_app_token(app_id_token(user))
