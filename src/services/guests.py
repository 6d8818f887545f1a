"""Guest mode: a guest's short-lived client certificate for one charger, and the id token it names there.

``issue`` signs the app's CSR for a guest of the charger (a member with the role ``guest``): the certificate
(CN = the guest's id token on that charger, the station id as a SAN URI), the ``GuestAccess`` pass, the guest's
id token (registered to the guest, so a transaction the charger reports with it is charged to the guest) and the
local authorization list are saved together with the authority's record of the certificate. Asked again while
the guest stays a guest, it issues a new certificate naming the same token (a renewal).

``revoke_departed`` is called after each committed membership change of a charger: every guest who is no longer
a guest there loses the pass; their certificates are revoked (listed in the CRL) and their token removed (taken
off the charger's local list at its next sync).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from cloudbay_domain.certificates import CertificateAuthority
from cloudbay_domain.guest_access import GUEST_TOKEN_TYPE, GuestAccess
from cloudbay_domain.id_token import IdToken, TokenKind
from services.certificates import AuthorityNotReady, Certificates, Signed
from services.errors import ServiceError
from services.id_tokens import IdTokens
from services.local_lists import Members
from services.store import EventLog

log = logging.getLogger("cloudbay.guests")
GUEST = "guest"


class NotAGuest(ServiceError):
    """The caller is a member of the charger, but not a guest: guest certificates are for guests."""


class Guests:
    def __init__(self, log: EventLog, id_tokens: IdTokens, certificates: Certificates, members: Members) -> None:
        self.log, self.id_tokens, self.certificates, self.members = log, id_tokens, certificates, members

    def access(self, station_id: str) -> GuestAccess:
        held: GuestAccess | None = self.log.load_or_none(GuestAccess.create_id(station_id))
        return held if held is not None else GuestAccess(station_id)

    def issue(self, station_id: str, guest: str, csr_pem: str) -> tuple[Signed, str]:
        """The guest's certificate (and chain) for ``station_id`` and the id token it names."""
        if self.members(station_id).get(guest) != GUEST:
            raise NotAGuest(f"only a guest of charger {station_id} is given a guest certificate for it")
        signer = self.certificates.signer
        if signer is None:
            raise AuthorityNotReady("no certificate authority is configured")
        token = self.access(station_id).token_for(guest)
        signed = signer.sign_guest_request(csr_pem, station_id, token)  # RequestRefused: nothing is recorded

        def record(ca: CertificateAuthority) -> list[Any]:
            ca.issue(signed.certificate, f"guest:{guest}")
            access = self.access(station_id)
            access.issue(guest, token, signed.certificate.serial)
            existing: IdToken | None = self.log.load_or_none(IdToken.create_id(token))
            if existing is not None:
                return [access]
            id_token = IdToken.register(token, GUEST_TOKEN_TYPE, guest, TokenKind.GUEST, f"guest on {station_id}")
            auth_list = self.id_tokens.local_auth_list()
            auth_list.change(id_token)
            return [access, id_token, auth_list]

        self.certificates.record_with(record)
        log.info("issued guest certificate %s for %s", signed.certificate.serial, station_id)
        return signed, token

    def revoke_departed(self, station_id: str, by: str = "platform") -> list[str]:
        """Revoke the passes of the charger's guests who are guests there no more; their subjects."""
        members = self.members(station_id)
        departed = [g for g in self.access(station_id).standing() if members.get(g) != GUEST]
        for guest in departed:
            self.revoke(station_id, guest, by, "no longer a guest of the charger")
        return departed

    def revoke(self, station_id: str, guest: str, by: str, reason: str) -> bool:
        """Revoke the guest's pass on the charger, their certificates and their id token (False: no pass)."""
        revoked: list[bool] = []

        def record(ca: CertificateAuthority) -> list[Any]:
            access = self.access(station_id)
            held = access.revoke(guest, reason)
            revoked[:] = [held is not None]
            if held is None:
                return []
            now = datetime.now(UTC)
            for serial in held.serials:
                ca.revoke(serial, now, by, reason)
            changed: list[Any] = [access]
            token: IdToken | None = self.log.load_or_none(IdToken.create_id(held.token))
            if token is not None:
                token.remove()
                auth_list = self.id_tokens.local_auth_list()
                auth_list.change(token)
                changed += [token, auth_list]
            return changed

        self.certificates.record_with(record)
        if revoked[0]:
            log.warning("revoked the guest pass of %s on %s: %s", guest, station_id, reason)
        return revoked[0]
