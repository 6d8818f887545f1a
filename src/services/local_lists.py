"""Each charger's own local authorization list (D01): the cards of its owners and co-owners, and its guests'
id tokens.

A user's cards (``LocalAuthList``, every id token with its status and its user) go to the chargers the user
owns or co-owns, and only to those; a guest's id token (``GuestAccess``) goes to the one charger it was issued
for. ``members`` answers a charger's members and their roles (``owner``, ``co-owner``, ``guest``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cloudbay_domain.charger import Charger, LocalEntries
from cloudbay_domain.guest_access import GUEST_TOKEN_TYPE, GuestAccess
from cloudbay_domain.id_token import is_guest_token
from services.id_tokens import IdTokens
from services.ports import LocalListEntry, SendLocalList
from services.store import EventLog

NOT_ENABLED = "NotEnabled"  # SendLocalList's reasonCode when the charger's local list is disabled
CARD_HOLDERS = frozenset({"owner", "co-owner"})  # whose cards a charger's list holds
Members = Callable[[str], Mapping[str, str]]  # station id -> {subject: role}


def no_members(station_id: str) -> Mapping[str, str]:
    return {}


class LocalLists:
    def __init__(self, log: EventLog, id_tokens: IdTokens, members: Members = no_members) -> None:
        self.log, self.id_tokens, self.members = log, id_tokens, members

    def entries_for(self, station_id: str) -> LocalEntries:
        """The list ``station_id`` should hold: id token -> {"type", "status"}."""
        holders = {subject for subject, role in self.members(station_id).items() if role in CARD_HOLDERS}
        entries: LocalEntries = {}
        if holders:
            for value, entry in self.id_tokens.local_auth_list().entries.items():
                if not is_guest_token(value) and self._user_of(value, entry) in holders:
                    entries[value] = {"type": entry["type"], "status": entry["status"]}
        access: GuestAccess | None = self.log.load_or_none(GuestAccess.create_id(station_id))
        for held in access.standing().values() if access is not None else ():
            entries[held.token] = {"type": GUEST_TOKEN_TYPE, "status": "Accepted"}
        return entries

    def _user_of(self, value: str, entry: Mapping[str, str]) -> str:
        """Whose token: the list records it; an entry recorded before it did names no user, the token does."""
        return entry.get("user") or self.id_tokens.get(value).user


def update(version: int, held: LocalEntries | None, wanted: LocalEntries) -> SendLocalList:
    """The SendLocalList that takes a charger from ``held`` (None: not known) to ``wanted``: Differential
    (the changed entries; a removed one without its status) when what the charger holds is known, else Full."""
    if held is None or not held:
        entries = tuple(LocalListEntry(v, e["type"], e["status"]) for v, e in sorted(wanted.items()))
        return SendLocalList(version, "Full", entries)
    changed = [LocalListEntry(v, e["type"], e["status"]) for v, e in sorted(wanted.items()) if held.get(v) != e]
    removed = [LocalListEntry(v, e["type"], None) for v, e in sorted(held.items()) if v not in wanted]
    return SendLocalList(version, "Differential", (*changed, *removed))


def refused_for_good(charger: Charger, wanted: LocalEntries) -> bool:
    """This list was refused with a recorded reason (enabling the local list failed): not resent until it
    changes."""
    answer = charger.local_list_answer
    return answer is not None and answer[1].startswith(f"{NOT_ENABLED};") and charger.local_list_tried == wanted
