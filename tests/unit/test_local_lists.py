"""A charger's local list update (Full or Differential) and a charger's guest passes."""

from __future__ import annotations

from cloudbay_domain.guest_access import GuestAccess
from cloudbay_domain.id_token import is_guest_token
from services.local_lists import update
from services.ports import LocalListEntry


def entry(status: str) -> dict[str, str]:
    return {"type": "ISO14443", "status": status}


def test_a_list_not_known_to_be_held_is_sent_whole() -> None:
    request = update(3, None, {"B": entry("Accepted"), "A": entry("Blocked")})
    assert (request.version, request.update_type) == (3, "Full")
    assert [e.id_token for e in request.entries] == ["A", "B"]


def test_a_known_list_gets_only_its_changes_and_removals_without_status() -> None:
    held = {"A": entry("Accepted"), "B": entry("Accepted"), "C": entry("Accepted")}
    request = update(5, held, {"A": entry("Accepted"), "B": entry("Blocked"), "D": entry("Accepted")})
    assert request.update_type == "Differential"
    assert request.entries == (
        LocalListEntry("B", "ISO14443", "Blocked"),
        LocalListEntry("D", "ISO14443", "Accepted"),
        LocalListEntry("C", "ISO14443", None),
    )


def test_a_guest_keeps_one_token_until_revoked_then_gets_another() -> None:
    access = GuestAccess("CB-1")
    token = access.token_for("g@example.com")
    assert is_guest_token(token) and len(token) == 20
    access.issue("g@example.com", token, "a1")
    access.issue("g@example.com", access.token_for("g@example.com"), "a2")
    held = access.pass_of("g@example.com")
    assert held is not None and held.serials == ("a1", "a2") and access.admits(token)
    revoked = access.revoke("g@example.com", "left")
    assert revoked is not None and revoked.serials == ("a1", "a2")
    assert not access.admits(token) and access.revoke("g@example.com", "again") is None
    assert access.token_for("g@example.com") != token
