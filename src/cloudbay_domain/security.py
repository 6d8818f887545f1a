"""OCPP 2.0.1 security (part A00/A04): a charger's configured security profile, its Basic-auth password hash,
and the security events of the fleet.

``ChargerSecurity`` lives beside the ``Charger`` aggregate (same station id), so an operator's change of profile
never races the charger's own OCPP reports for one aggregate version. A charger without one was never configured:
it connects as it always has (profile 0, no authentication), which keeps chargers whitelisted before security
profiles existed working; an operator sets a profile to end that.

Each ``SecurityEvent`` is an aggregate of its own (created once, never changed): recording one appends a single
event and needs no load, however many a charger has. Repeated failed logins are recorded bounded (see
``adapters/ocpp/login_limits.py``): a ``count`` with the first and last time they happened.

Profiles:
- 0: ``ws://`` (or ``wss://``), no authentication: only when an operator allows it explicitly, for labs;
- 1: ``ws://`` with HTTP Basic auth (username = station id, password per charger);
- 2: ``wss://`` (TLS, server certificate) with HTTP Basic auth;
- 3: ``wss://`` with a client certificate from the platform's issuing CA whose CN is the station id.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.text import clean_text

PROFILES = (0, 1, 2, 3)
MAX_TECH_INFO = 255  # OCPP's techInfo is string[0..255]
MAX_EVENT_TYPE = 50  # OCPP's SecurityEventNotification type is string[0..50]


class SecurityError(ValueError):
    """A security setting the rules do not allow."""


class Origin(str, enum.Enum):
    CHARGER = "charger"  # a SecurityEventNotification the charger sent
    PLATFORM = "platform"  # something the platform refused or noticed


class PlatformEvent(str, enum.Enum):
    """The platform's own security events (recorded on the charger whose station id was used)."""

    INVALID_BASIC_AUTH = "InvalidBasicAuth"  # a wrong or missing password, a wrong username
    REPEATED_FAILED_LOGINS = "RepeatedFailedLogins"  # failures beyond the threshold, counted in one event
    DOWNGRADE_ATTEMPT = "DowngradeAttempt"  # a connection below the configured profile (ws:// for 2 or 3)
    NO_CLIENT_CERTIFICATE = "NoClientCertificate"  # profile 3 without a verified client certificate
    CERTIFICATE_MISMATCH = "CertificateMismatch"  # a verified client certificate whose CN is another station's
    UNTRUSTED_CERTIFICATE = "UntrustedCertificate"  # one a trusted proxy forwarded: another CA, expired, unreadable
    REVOKED_CERTIFICATE = "RevokedCertificate"  # a verified client certificate naming the station, revoked by our CA


def check_profile(profile: int, allow_unsecured: bool) -> None:
    if profile not in PROFILES:
        raise SecurityError(f"profile must be one of {', '.join(map(str, PROFILES))}")
    if profile == 0 and not allow_unsecured:
        raise SecurityError("profile 0 (no authentication) needs allow_unsecured: true (labs only)")


class ChargerSecurity(Aggregate):
    """A charger's configured security profile and the argon2id hash of its Basic-auth password."""

    @staticmethod
    def create_id(station_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:security:{station_id}")

    class Started(Aggregate.Created):
        station_id: str

    @event(Started)
    def __init__(self, station_id: str) -> None:
        self.station_id = station_id
        self.profile = 0
        self.allow_unsecured = True  # until configured: today's behaviour (see the module's docstring)
        self.password_hash: str | None = None

    class ProfileSet(Aggregate.Event):
        profile: int
        allow_unsecured: bool
        by: str

    def set_profile(self, profile: int, allow_unsecured: bool, by: str) -> None:
        check_profile(profile, allow_unsecured)
        self._profile_set(profile=profile, allow_unsecured=allow_unsecured and profile == 0, by=by)

    @event(ProfileSet)
    def _profile_set(self, profile: int, allow_unsecured: bool, by: str) -> None:
        self.profile, self.allow_unsecured = profile, allow_unsecured

    class PasswordSet(Aggregate.Event):
        """A new Basic-auth password: only its slow hash is recorded, never the password."""

        password_hash: str
        by: str

    @event(PasswordSet)
    def set_password(self, password_hash: str, by: str) -> None:
        self.password_hash = password_hash


class SecurityEvent(Aggregate):
    """One security event of one charger (A04): sent by the charger, or the platform's own."""

    class Recorded(Aggregate.Created):
        station_id: str
        origin: str
        kind: str
        occurred_at: str
        tech_info: str | None
        count: int
        first_at: str
        last_at: str

    @event(Recorded)
    def __init__(
        self,
        station_id: str,
        origin: str,
        kind: str,
        occurred_at: str,
        tech_info: str | None,
        count: int,
        first_at: str,
        last_at: str,
    ) -> None:
        self.station_id, self.origin, self.kind = station_id, origin, kind
        self.occurred_at, self.tech_info, self.count = occurred_at, tech_info, count
        self.first_at, self.last_at = first_at, last_at


@dataclass(frozen=True)
class Notice:
    """What a security event says, before it is recorded for a station."""

    origin: Origin
    kind: str
    at: datetime
    tech_info: str | None = None
    count: int = 1
    first_at: datetime | None = None


def security_event(station_id: str, notice: Notice) -> SecurityEvent:
    """A new security event; the charger's free text is kept with its control characters replaced, bounded."""
    info = clean_text(notice.tech_info)[:MAX_TECH_INFO] if notice.tech_info is not None else None
    return SecurityEvent(
        station_id=station_id,
        origin=notice.origin.value,
        kind=clean_text(notice.kind)[:MAX_EVENT_TYPE],
        occurred_at=notice.at.isoformat(),
        tech_info=info,
        count=max(1, notice.count),
        first_at=(notice.first_at or notice.at).isoformat(),
        last_at=notice.at.isoformat(),
    )
