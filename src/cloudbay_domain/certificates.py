"""The platform's certificate authority as facts: every certificate it issued, revoked, or refused to issue.

One ``CertificateAuthority`` aggregate records the public side of the PKI: for each certificate its serial (hex),
subject, not-after time, SHA-256 fingerprint, kind (root, issuing, server, charging-station) and the station it
was issued to, if any; each revocation; each certificate signing request that was refused and why; and each
charger's answer to the certificate it was sent. Private keys never reach it: they live in files (see
``adapters.pki``), and only what a certificate already shows to anyone is recorded here.

One aggregate keeps the revocation list and the fingerprint index in one place (a CRL needs every revoked
serial, a TLS check looks a certificate up by fingerprint). Issuing is rare (a charger renews yearly), so its
history stays small for a long time; a snapshot bounds its loading cost when it grows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

ROOT, ISSUING, SERVER, CHARGING_STATION = "root", "issuing", "server", "charging-station"
GUEST = "guest"  # a guest's client certificate for one charger (its pass is kept by ``GuestAccess``)
KINDS = (ROOT, ISSUING, SERVER, CHARGING_STATION, GUEST)


class CertificateError(Exception):
    """A certificate fact the authority refuses (an unknown kind, a serial issued twice)."""


@dataclass(frozen=True)
class IssuedCertificate:
    """What the log keeps of one certificate: nothing that is not printed in the certificate itself."""

    serial: str  # lower-case hex, no leading zeros
    subject: str  # RFC 4514
    not_after: str  # ISO 8601, UTC
    fingerprint: str  # SHA-256 of the DER, lower-case hex
    kind: str
    station_id: str | None = None

    def expired_at(self, now: datetime) -> bool:
        return datetime.fromisoformat(self.not_after) <= now


class CertificateAuthority(Aggregate):
    """The one authority of a deployment; ``create_id()`` names it."""

    @staticmethod
    def create_id() -> UUID:
        return uuid5(NAMESPACE_URL, "cloudbay:certificate-authority")

    class Started(Aggregate.Created):
        pass

    @event(Started)
    def __init__(self) -> None:
        self.certificates: dict[str, dict[str, Any]] = {}  # serial -> IssuedCertificate fields
        self.by_fingerprint: dict[str, str] = {}
        self.by_station: dict[str, list[str]] = {}
        self.revoked: dict[str, str] = {}  # serial -> when (ISO 8601)
        self.installed: dict[str, str] = {}  # serial -> the charger's answer to CertificateSigned

    # --- issuing ------------------------------------------------------------------------------

    class CertificateIssued(Aggregate.Event):
        serial: str
        subject: str
        not_after: str
        fingerprint: str
        kind: str
        station_id: str | None
        by: str

    def issue(self, certificate: IssuedCertificate, by: str) -> None:
        if certificate.kind not in KINDS:
            raise CertificateError(f"unknown certificate kind {certificate.kind!r}")
        if certificate.serial in self.certificates:
            raise CertificateError(f"serial {certificate.serial} was issued already")
        self._issued(**asdict(certificate), by=by)

    @event(CertificateIssued)
    def _issued(
        self, serial: str, subject: str, not_after: str, fingerprint: str, kind: str, station_id: str | None, by: str
    ) -> None:
        fields = dict(serial=serial, subject=subject, not_after=not_after, fingerprint=fingerprint, kind=kind)
        self.certificates[serial] = {**fields, "station_id": station_id}
        self.by_fingerprint[fingerprint] = serial
        if station_id is not None:
            self.by_station.setdefault(station_id, []).append(serial)

    # --- the charger's side -------------------------------------------------------------------

    class SigningRefused(Aggregate.Event):
        """A charger's certificate signing request was refused (``reason`` is the reasonCode it was sent)."""

        station_id: str
        certificate_type: str | None
        reason: str
        detail: str

    @event(SigningRefused)
    def refuse_signing(self, station_id: str, certificate_type: str | None, reason: str, detail: str) -> None:
        pass

    class CertificateInstalled(Aggregate.Event):
        """The charger's answer to CertificateSigned for ``serial`` (Accepted, Rejected, Offline, ...)."""

        serial: str
        station_id: str
        status: str

    @event(CertificateInstalled)
    def record_installation(self, serial: str, station_id: str, status: str) -> None:
        self.installed[serial] = status

    class RenewalRequested(Aggregate.Event):
        """The charger was asked to renew ``serial`` (TriggerMessage SignChargingStationCertificate): its answer."""

        serial: str
        station_id: str
        status: str

    @event(RenewalRequested)
    def request_renewal(self, serial: str, station_id: str, status: str) -> None:
        pass

    def renewal_due(self, station_id: str, now: datetime, within: timedelta) -> IssuedCertificate | None:
        """The station's newest valid certificate when it expires within ``within`` (None: none, or not due)."""
        current = self.current_of_station(station_id, now)
        if not current:
            return None
        newest = max(current, key=lambda c: c.not_after)
        return newest if datetime.fromisoformat(newest.not_after) - now <= within else None

    # --- revocation ---------------------------------------------------------------------------

    class CertificateRevoked(Aggregate.Event):
        serial: str
        station_id: str | None
        revoked_at: str
        by: str
        reason: str

    def revoke(self, serial: str, revoked_at: datetime, by: str, reason: str) -> None:
        if serial not in self.certificates:
            raise CertificateError(f"no certificate with serial {serial} was issued here")
        if serial not in self.revoked:
            station_id = self.certificates[serial]["station_id"]
            self._revoked(serial=serial, station_id=station_id, revoked_at=revoked_at.isoformat(), by=by, reason=reason)

    @event(CertificateRevoked)
    def _revoked(self, serial: str, station_id: str | None, revoked_at: str, by: str, reason: str) -> None:
        self.revoked[serial] = revoked_at

    # --- queries ------------------------------------------------------------------------------

    def certificate(self, serial: str) -> IssuedCertificate | None:
        fields = self.certificates.get(serial)
        return IssuedCertificate(**fields) if fields is not None else None

    def of_station(self, station_id: str) -> list[IssuedCertificate]:
        return [IssuedCertificate(**self.certificates[s]) for s in self.by_station.get(station_id, [])]

    def current_of_station(self, station_id: str, now: datetime) -> list[IssuedCertificate]:
        """The station's certificates that are neither revoked nor expired."""
        return [c for c in self.of_station(station_id) if c.serial not in self.revoked and not c.expired_at(now)]
