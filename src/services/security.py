"""Chargers' security: configured profiles, Basic-auth password hashes, security events (A00, A04)."""

from __future__ import annotations

from dataclasses import dataclass

from cloudbay_domain.security import ChargerSecurity, Notice, SecurityEvent, check_profile, security_event
from services.chargers import Chargers, not_whitelisted
from services.store import EventLog


@dataclass(frozen=True)
class SecurityConfig:
    """What the upgrade policy needs to know of a charger (``configured`` False: never set, today's default)."""

    station_id: str
    profile: int
    allow_unsecured: bool
    password_hash: str | None
    configured: bool
    version: int

    @property
    def password_set(self) -> bool:
        return self.password_hash is not None


def _config(station_id: str, security: ChargerSecurity | None) -> SecurityConfig:
    if security is None:
        return SecurityConfig(station_id, 0, True, None, configured=False, version=0)
    return SecurityConfig(
        station_id,
        security.profile,
        security.allow_unsecured,
        security.password_hash,
        configured=True,
        version=security.version,
    )


class Security:
    """Commands and lookups of ``ChargerSecurity`` and ``SecurityEvent``."""

    def __init__(self, log: EventLog, chargers: Chargers) -> None:
        self.log, self.chargers = log, chargers

    def config(self, station_id: str) -> SecurityConfig:
        """The charger's security configuration (``ChargerNotWhitelisted`` for an unknown station id)."""
        if not self.chargers.exists(station_id):
            raise not_whitelisted(station_id)
        return self._stored(station_id)

    def admission(self, station_id: str) -> SecurityConfig | None:
        """What a connecting charger is checked against, in one store call: None if it may not connect (not
        whitelisted, or a scrapped device), else its security configuration."""
        return self._stored(station_id) if self.chargers.is_whitelisted(station_id) else None

    def _stored(self, station_id: str) -> SecurityConfig:
        return _config(station_id, self.log.load_or_none(ChargerSecurity.create_id(station_id)))

    def set_profile(self, station_id: str, profile: int, allow_unsecured: bool, by: str) -> SecurityConfig:
        check_profile(profile, allow_unsecured)  # refused before anything is loaded
        return self._change(station_id, lambda s: s.set_profile(profile, allow_unsecured, by))

    def set_password(self, station_id: str, password_hash: str, by: str) -> SecurityConfig:
        return self._change(station_id, lambda s: s.set_password(password_hash, by))

    def _change(self, station_id: str, command: object) -> SecurityConfig:
        if not self.chargers.exists(station_id):
            raise not_whitelisted(station_id)
        aggregate_id = ChargerSecurity.create_id(station_id)

        def attempt() -> tuple[SecurityConfig, list[ChargerSecurity]]:
            security = self.log.load_or_none(aggregate_id) or ChargerSecurity(station_id)
            command(security)  # type: ignore[operator]
            return _config(station_id, security), [security]

        return self.log.retrying(attempt, f"the security of charger {station_id}")

    def record(self, station_id: str, notice: Notice) -> SecurityEvent:
        """Record one security event of a whitelisted charger (one new aggregate: no load, no race)."""
        if not self.chargers.exists(station_id):
            raise not_whitelisted(station_id)
        recorded = security_event(station_id, notice)
        self.log.committer.save(recorded)
        return recorded
