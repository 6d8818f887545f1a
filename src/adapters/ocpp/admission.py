"""Security profiles at the upgrade (OCPP 2.0.1 A00): a connection below the charger's configured profile is
refused before the WebSocket opens, never accepted as a lower profile.

- profile 2 or 3 over ``ws://``: 403 (a downgrade attempt);
- profile 3 without a verified client certificate, or with one whose CN is not the station id: 403
  (A00.FR.405). A certificate the TLS layer cannot verify (another CA, expired, not yet valid) fails the TLS
  handshake itself: no HTTP request is ever read, so it is refused before any station id is known (through a
  trusted proxy, ``forwarded`` verifies the certificate again: 403, ``UntrustedCertificate``);
- a client certificate our CA revoked (``Certificates.is_revoked``), whatever the profile: 403
  (``RevokedCertificate``); one another CA issued (an operator's own client CA) is not in our list and passes;
- profile 1 or 2 without the right Basic-auth credentials (username = station id): 401 with
  ``WWW-Authenticate``; a verified client certificate naming the station is accepted instead (a higher profile);
- a station id with too many refusals in a row: 429 with ``Retry-After`` (``login_limits``).
Each refusal is logged and recorded as a platform security event, bounded per station id.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
from typing import TYPE_CHECKING, NoReturn

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from starlette.websockets import WebSocket

from adapters.ocpp.time import utcnow
from cloudbay_domain.security import Notice, PlatformEvent
from services.security import SecurityConfig

if TYPE_CHECKING:
    from adapters.wiring import Runtime

log = logging.getLogger("cloudbay.security")
CHALLENGE = {"WWW-Authenticate": 'Basic realm="cloudbay", charset="UTF-8"'}


class Refused(Exception):
    """The upgrade is refused with ``status`` and a reason (logged, and sent as the HTTP body)."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


def common_name(pem: str | None) -> str | None:
    """The CN of a verified client certificate (None without one)."""
    if pem is None:
        return None
    names = x509.load_pem_x509_certificate(pem.encode()).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, colon, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (username, password) if colon else None


async def check_profile(websocket: WebSocket, runtime: Runtime, config: SecurityConfig) -> None:
    """Refuse (``Refused``) a connection below the charger's configured security profile."""
    station_id = config.station_id
    if config.profile == 0 and config.allow_unsecured:
        return
    peer = runtime.forwarding.peer(websocket)
    scheme, cn = peer.scheme, common_name(peer.cert_pem)
    if config.profile >= 2 and scheme != "wss":
        await _refuse(
            runtime, station_id, 403, PlatformEvent.DOWNGRADE_ATTEMPT, f"profile {config.profile} needs wss://"
        )
    if cn == station_id and scheme == "wss" and peer.cert_pem is not None:
        await _refuse_if_revoked(runtime, station_id, peer.cert_pem)
        return await _record(runtime, station_id, runtime.logins.succeeded(station_id, utcnow()))
    if config.profile == 3 and peer.cert_error:  # forwarded by a trusted proxy, but not ours or not valid
        await _refuse(runtime, station_id, 403, PlatformEvent.UNTRUSTED_CERTIFICATE, f"profile 3: {peer.cert_error}")
    if config.profile == 3:
        kind = PlatformEvent.NO_CLIENT_CERTIFICATE if cn is None else PlatformEvent.CERTIFICATE_MISMATCH
        detail = "a client certificate is required" if cn is None else f"the client certificate names {cn!r}"
        await _refuse(runtime, station_id, 403, kind, f"profile 3: {detail}"[:200])
    await _check_password(websocket, runtime, config)


async def _refuse_if_revoked(runtime: Runtime, station_id: str, pem: str) -> None:
    """Refuse a client certificate our CA revoked. Most are not: one store read. A revoked serial is confirmed
    ours by fingerprint, so a certificate of another CA that happens to share the serial still passes."""
    platform, cert = runtime.platform, x509.load_pem_x509_certificate(pem.encode())
    if not await platform.run(platform.certificates.is_revoked, cert.serial_number):
        return
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    if await platform.run(platform.certificates.certificate_for, fingerprint) is None:
        return
    why = f"the client certificate {cert.serial_number:x} was revoked"
    await _refuse(runtime, station_id, 403, PlatformEvent.REVOKED_CERTIFICATE, why)


async def _check_password(websocket: WebSocket, runtime: Runtime, config: SecurityConfig) -> None:
    station_id, now = config.station_id, utcnow()
    left = runtime.logins.blocked(station_id, now, PlatformEvent.INVALID_BASIC_AUTH.value)
    if left:
        headers = {"Retry-After": str(math.ceil(left))}
        raise Refused(429, f"too many failed logins for {station_id}; retry later", headers)
    credentials = basic_credentials(websocket.headers.get("authorization"))
    if credentials is None or credentials[0] != station_id or config.password_hash is None:
        why = "no Basic-auth credentials" if credentials is None else "wrong credentials"
        await _refuse(runtime, station_id, 401, PlatformEvent.INVALID_BASIC_AUTH, why, CHALLENGE)
    if not await runtime.passwords.check(station_id, config.password_hash, credentials[1]):
        await _refuse(runtime, station_id, 401, PlatformEvent.INVALID_BASIC_AUTH, "wrong credentials", CHALLENGE)
    await _record(runtime, station_id, runtime.logins.succeeded(station_id, now))


async def _refuse(
    runtime: Runtime, station_id: str, status: int, kind: PlatformEvent, why: str, headers: dict[str, str] | None = None
) -> NoReturn:
    await _record(runtime, station_id, runtime.logins.failed(station_id, kind.value, utcnow(), why))
    raise Refused(status, why, headers)


async def _record(runtime: Runtime, station_id: str, notices: list[Notice]) -> None:
    platform = runtime.platform
    for r in notices:
        log.warning("security event %s of %s (count %d): %s", r.kind, station_id, r.count, r.tech_info)
        try:
            await platform.run(platform.security.record, station_id, r)
        except Exception as e:  # the refusal stands; the log line above keeps the event
            log.error("could not record the security event %s of %s: %s", r.kind, station_id, e)
