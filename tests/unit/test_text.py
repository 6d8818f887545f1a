"""The platform's text rule (cloudbay_domain.text) and the aggregates that apply it."""

from __future__ import annotations

import json

import pytest

from cloudbay_domain.charger import Charger
from cloudbay_domain.id_token import IdToken, TokenKind
from cloudbay_domain.text import InvalidText, check_text, clean_text, has_control_characters, storable_json_text
from cloudbay_domain.transaction import InvalidTransactionId, Transaction


@pytest.mark.parametrize("value", ["\x00", "a\x1fb", "\x7f", "x\x85", "\x9f"])
def test_control_characters_are_refused(value: str) -> None:
    assert has_control_characters(value)
    with pytest.raises(InvalidText):
        check_text(value)
    assert not has_control_characters(clean_text(value))


@pytest.mark.parametrize("value", ["", "Ω≈ç√", "☃☃", "blue card", "\xa0"])
def test_printable_text_is_accepted(value: str) -> None:
    assert check_text(value) == value


def test_json_text_never_holds_a_nul() -> None:
    text = storable_json_text({"k\x00": ["v\x00\x85"]})
    assert not has_control_characters(text) and json.loads(text) == {"k\x00": ["v\x00\x85"]}


def test_the_aggregates_refuse_control_characters() -> None:
    with pytest.raises(InvalidText):
        Charger.whitelist("CB-1", "fam\x00ily")
    with pytest.raises(InvalidText):
        IdToken.register("AA11", "ISO14443", "a@example.com", TokenKind.RFID, "x\x00y")
    with pytest.raises(InvalidTransactionId):
        Transaction.open("CB-1", "T\x00", 1, 1)
