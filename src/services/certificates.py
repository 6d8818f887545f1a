"""Certificates of the platform's PKI: signing chargers' requests (A02/A03), delivering them, revoking them.

The cryptography is the signer's (a port: ``adapters.pki`` holds the keys, in files); this service records the
facts on the ``CertificateAuthority`` aggregate and talks to chargers through the ``ChargerLink``:
1. ``sign``: the charger's SignCertificate. A request of a type we do not issue, or one the signer refuses (its
   CSR unreadable, its signature wrong, a weak key, a subject that is not this station's), is recorded as
   refused and answered Rejected with the reason; a good one is issued and recorded at once.
2. ``deliver``: after the answer, CertificateSigned with the chain. The charger's answer is recorded; when it
   accepts, its manufactured device moves on to ``enrolled``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

from cloudbay_domain.certificates import CertificateAuthority, IssuedCertificate
from cloudbay_domain.charger import Charger
from cloudbay_domain.device import Device, DeviceState
from services.chargers import not_whitelisted
from services.errors import ServiceError
from services.ports import ChargerLink, InstallCertificate, LinkError, TriggerMessage
from services.store import EventLog

log = logging.getLogger("cloudbay.pki")
STATION_CERTIFICATE = "ChargingStationCertificate"
RENEW = "SignChargingStationCertificate"  # TriggerMessage's requestedMessage asking for a new CSR
CA_ID = CertificateAuthority.create_id()
CRL_REFRESH_SECONDS = 6 * 3600  # a CRL is made again at least this often (its nextUpdate is further out)


class AuthorityNotReady(ServiceError):
    """No certificate authority was created yet (``cloudbay ca init``), or its keys cannot be read."""


class RequestRefused(ServiceError):
    """A certificate signing request the authority will not sign; ``reason`` is the OCPP reasonCode sent."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class NothingToRevoke(ServiceError):
    """The charger holds no certificate that is still valid."""


@dataclass(frozen=True)
class Signed:
    certificate: IssuedCertificate
    chain_pem: str  # the leaf, then the issuing CA


class CertificateSigner(Protocol):
    """The keys' side of the PKI (``adapters.pki.authority.FileAuthority``)."""

    def sign_station_request(self, csr_pem: str, station_id: str) -> Signed:
        """Check the CSR and issue the station's certificate; ``RequestRefused`` or ``AuthorityNotReady``."""
        ...

    def sign_guest_request(self, csr_pem: str, station_id: str, id_token: str) -> Signed:
        """Check the app's CSR and issue a guest's certificate for ``station_id`` naming ``id_token``."""
        ...

    def crl(self, revoked: Sequence[tuple[str, datetime]], now: datetime) -> bytes:
        """A DER CRL signed by the issuing CA listing ``(serial hex, revoked at)``."""
        ...

    @property
    def renew_within(self) -> timedelta:
        """How close to its expiry a charger's certificate is renewed (the charger asked at its boot)."""
        ...


@dataclass(frozen=True)
class SignOutcome:
    status: str  # Accepted or Rejected
    reason: str = ""
    detail: str = ""
    signed: Signed | None = None


Runner = Callable[..., Awaitable[Any]]
R = TypeVar("R")


class Certificates:
    def __init__(self, log: EventLog, signer: CertificateSigner | None, link: ChargerLink, run: Runner) -> None:
        self.log, self.signer, self.link, self.run = log, signer, link, run
        self._crl: tuple[tuple[str, ...], float, bytes] | None = None
        self._crl_lock = threading.Lock()
        # one aggregate takes every fact: this process's writers take turns instead of racing for its version
        self._write_lock = threading.Lock()
        self._held: CertificateAuthority | None = None
        self._read_lock = threading.Lock()

    def authority(self) -> CertificateAuthority:
        """The authority as stored (a copy of its own: it may be changed and saved)."""
        ca: CertificateAuthority | None = self.log.load_or_none(CA_ID)
        return ca if ca is not None else CertificateAuthority()

    def _read(self, query: Callable[[CertificateAuthority], R]) -> R:
        """``query`` on this process's copy of the authority, first brought up to date with the events recorded
        since (by any node): a lookup costs one small store read, not a replay or a copy."""
        with self._read_lock:
            held = self._held
            for stored in self.log.events.get(CA_ID, gt=held.version if held is not None else None):
                held = cast(Any, stored).mutate(held)
            self._held = held
            return query(held if held is not None else CertificateAuthority())

    def _record(self, command: Callable[[CertificateAuthority], Any], *others: Any) -> Any:
        def attempt() -> tuple[Any, list[Any]]:
            ca = self.authority()
            return command(ca), [ca, *others]

        with self._write_lock:
            return self.log.retrying(attempt, "the certificate authority")

    def record_with(self, command: Callable[[CertificateAuthority], list[Any]]) -> None:
        """Facts on the authority and on other aggregates, saved together: ``command`` changes the authority and
        answers the other aggregates it changed (loaded inside it: a conflict re-runs it whole)."""

        def attempt() -> tuple[None, list[Any]]:
            ca = self.authority()
            return None, [ca, *command(ca)]

        with self._write_lock:
            self.log.retrying(attempt, "the certificate authority")

    def record_issued(self, certificate: IssuedCertificate, by: str) -> None:
        """A certificate made outside a charger's request (the CAs, the server's), recorded as issued."""
        self._record(lambda ca: ca.issue(certificate, by))

    # --- enrolment ---------------------------------------------------------------------------

    def sign(self, station_id: str, csr_pem: str, certificate_type: str | None) -> SignOutcome:
        """The station's SignCertificate: issued and recorded, or refused and recorded (nothing issued)."""
        try:
            if (certificate_type or STATION_CERTIFICATE) != STATION_CERTIFICATE:
                raise RequestRefused("UnsupportedType", f"this platform signs no {certificate_type}")
            if self.signer is None:
                raise AuthorityNotReady("no certificate authority is configured")
            signed = self.signer.sign_station_request(csr_pem, station_id)
        except (RequestRefused, AuthorityNotReady) as e:
            reason, detail = (e.reason if isinstance(e, RequestRefused) else "NoAuthority"), str(e)
            log.warning("certificate signing request of %s refused: %s: %s", station_id, reason, detail)
            self._record(lambda ca: ca.refuse_signing(station_id, certificate_type, reason, detail[:500]))
            return SignOutcome("Rejected", reason, detail)
        self.record_issued(signed.certificate, f"station:{station_id}")
        log.info("issued certificate %s to %s", signed.certificate.serial, station_id)
        return SignOutcome("Accepted", signed=signed)

    async def deliver(self, station_id: str, signed: Signed) -> str:
        """Send CertificateSigned and record the charger's answer; Accepted moves its device to ``enrolled``."""
        try:
            request = InstallCertificate(signed.chain_pem, STATION_CERTIFICATE)
            status = (await self.link.request(station_id, request)).status
        except LinkError as e:
            status = e.reason
        await self.run(self._installed, station_id, signed.certificate.serial, status)
        return status

    def _installed(self, station_id: str, serial: str, status: str) -> None:
        device: Device | None = self.log.load_or_none(Device.create_id(station_id))
        enrol = status == "Accepted" and device is not None and device.state is DeviceState.MANUFACTURED
        if enrol:
            assert device is not None
            device.move(DeviceState.ENROLLED, "enrolment", f"certificate {serial} installed")
        self._record(lambda ca: ca.record_installation(serial, station_id, status), *([device] if enrol else []))

    async def renew_if_due(self, station_id: str) -> str | None:
        """After a boot: a charger whose certificate expires soon is asked to renew it (TriggerMessage
        SignChargingStationCertificate); its answer is recorded. Never raises: a failure is logged."""
        try:
            if self.signer is None:
                return None
            within, now = self.signer.renew_within, datetime.now(UTC)
            due = await self.run(self._read, lambda ca: ca.renewal_due(station_id, now, within))
            if due is None:
                return None
            try:
                status = (await self.link.request(station_id, TriggerMessage(RENEW))).status
            except LinkError as e:
                status = e.reason
            await self.run(self._record, lambda ca: ca.request_renewal(due.serial, station_id, status))
            log.info("asked %s to renew certificate %s: %s", station_id, due.serial, status)
            return status
        except Exception:
            log.exception("certificate renewal check of %s failed", station_id)
            return None

    # --- revocation and lookups ----------------------------------------------------------------

    def _check_charger(self, station_id: str) -> None:
        if Charger.create_id(station_id) not in self.log.repository:
            raise not_whitelisted(station_id)

    def certificates_of(self, station_id: str) -> list[tuple[IssuedCertificate, bool]]:
        """The station's certificates, oldest first, each with whether it is revoked."""
        self._check_charger(station_id)
        return self._read(lambda ca: [(c, c.serial in ca.revoked) for c in ca.of_station(station_id)])

    def revoke(self, station_id: str, by: str, reason: str = "", must_hold: bool = True) -> list[IssuedCertificate]:
        """Revoke every still valid certificate of the station: ``NothingToRevoke`` when it holds none (with
        ``must_hold``; otherwise nothing is written and none are answered)."""
        self._check_charger(station_id)
        now = datetime.now(UTC)
        if not must_hold and not self._read(lambda ca: ca.current_of_station(station_id, now)):
            return []

        def revoke(ca: CertificateAuthority) -> list[IssuedCertificate]:
            current = ca.current_of_station(station_id, now)
            if not current:
                raise NothingToRevoke(f"charger {station_id} holds no valid certificate")
            for certificate in current:
                ca.revoke(certificate.serial, now, by, reason)
            return current

        revoked: list[IssuedCertificate] = self._record(revoke)
        log.warning("revoked %s of %s", ", ".join(c.serial for c in revoked), station_id)
        return revoked

    def is_revoked(self, serial: str | int) -> bool:
        key = format(serial, "x") if isinstance(serial, int) else serial.lower()
        return self._read(lambda ca: key in ca.revoked)

    def certificate_for(self, fingerprint: str) -> IssuedCertificate | None:
        """The certificate with this SHA-256 fingerprint (hex), if this authority issued it."""
        key = fingerprint.lower().replace(":", "")

        def find(ca: CertificateAuthority) -> IssuedCertificate | None:
            serial = ca.by_fingerprint.get(key)
            return ca.certificate(serial) if serial is not None else None

        return self._read(find)

    def crl_der(self) -> bytes:
        """The CRL: made again when a certificate was revoked since, or every ``CRL_REFRESH_SECONDS``."""
        if self.signer is None:
            raise AuthorityNotReady("no certificate authority is configured")
        revoked = self._read(lambda ca: dict(ca.revoked))
        key = tuple(sorted(revoked))
        now = datetime.now(UTC)
        with self._crl_lock:
            if self._crl is None or self._crl[0] != key or now.timestamp() - self._crl[1] > CRL_REFRESH_SECONDS:
                entries = [(s, datetime.fromisoformat(at)) for s, at in sorted(revoked.items())]
                self._crl = (key, now.timestamp(), self.signer.crl(entries, now))
            return self._crl[2]
