"""Ownership in tests: a charger paired to a user (and its co-owners and guests), as the pairing would."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from cloudbay_domain.membership import MemberRole
from cloudbay_domain.ownership import Ownership
from tests.support import LiveServer


def pair(
    server: LiveServer,
    station_id: str,
    owner: str = "user@example.com",
    *,
    co_owners: Iterable[str] = (),
    guests: Iterable[str] = (),
) -> None:
    """``owner`` owns ``station_id`` (paired when not yet), and each of ``co_owners`` and ``guests`` accepted an
    invitation; then the charger's members listener runs and the read models catch up."""
    platform = server.platform
    ownership: Ownership = platform.log.load_or_none(Ownership.create_id(station_id)) or Ownership(station_id)
    now = datetime.now(UTC)
    if not ownership.paired:
        ownership.pair(owner, now)
    invited = [(email, MemberRole.CO_OWNER) for email in co_owners] + [(e, MemberRole.GUEST) for e in guests]
    for email, role in invited:
        hashed = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
        ownership.invite(ownership.owner or owner, email, role, hashed, now + timedelta(days=1))
        ownership.accept(hashed, email, now)
    platform.log.save(ownership)
    platform.members_changed(station_id)
    server.settle()


def remove_member(server: LiveServer, station_id: str, member: str) -> None:
    """``member`` is removed from the charger by its owner (a revoked co-owner or guest)."""
    platform = server.platform
    ownership: Ownership = platform.log.load(Ownership.create_id(station_id), LookupError(station_id))  # type: ignore[arg-type]
    ownership.remove(ownership.owner or "", member)
    platform.log.save(ownership)
    platform.members_changed(station_id)
    server.settle()
