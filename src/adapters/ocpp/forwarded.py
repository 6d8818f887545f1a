"""Who the peer of an OCPP connection is: the TLS facts of its own connection, or those a trusted
TLS-terminating proxy forwarded (docs/security.md, "Behind a TLS proxy").

Only from an address in ``CLOUDBAY_TRUSTED_PROXIES`` are the proxy's headers read: ``X-Forwarded-Proto: https``
(or ``wss``) makes the connection count as ``wss://``, and ``X-Client-Cert`` carries the client certificate the
proxy received (PEM, URL-encoded, as nginx's ``$ssl_client_escaped_cert``). The certificate is verified here
again, whatever the proxy says: issued directly by a CA of ``CLOUDBAY_TLS_CLIENT_CA`` and valid now. From any
other address the headers are ignored, so a client cannot claim TLS or a certificate it does not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from starlette.websockets import WebSocket

PROTO_HEADER, CERT_HEADER = "x-forwarded-proto", "x-client-cert"


@dataclass(frozen=True)
class Peer:
    scheme: str  # "ws" or "wss"
    cert_pem: str | None  # a verified client certificate
    cert_error: str | None = None  # why a forwarded certificate was not accepted


class Forwarding:
    """Reads a connection's peer; ``trusted`` are the proxies' addresses, ``client_ca`` the CA bundle."""

    def __init__(self, trusted: tuple[str, ...], client_ca: Path | None) -> None:
        self.trusted = frozenset(trusted)
        self.cas = x509.load_pem_x509_certificates(client_ca.read_bytes()) if trusted and client_ca else []

    def peer(self, websocket: WebSocket) -> Peer:
        host = websocket.client.host if websocket.client else None
        if host is None or host not in self.trusted:
            # TLS is what the transport says (the extension ``server_options`` sets), never the scope's scheme,
            # which uvicorn's proxy-header handling rewrites from X-Forwarded-Proto for its own allowed addresses
            tls = websocket.scope.get("extensions", {}).get("tls")
            chain = (tls or {}).get("client_cert_chain") or []
            return Peer("wss" if tls is not None else "ws", chain[0] if chain else None)
        scheme = "wss" if websocket.headers.get(PROTO_HEADER, "").lower() in ("https", "wss") else "ws"
        forwarded = websocket.headers.get(CERT_HEADER)
        if not forwarded:
            return Peer(scheme, None)
        pem = unquote(forwarded)
        error = self.verify(pem)
        return Peer(scheme, None if error else pem, error)

    def verify(self, pem: str) -> str | None:
        """None when ``pem`` is a certificate issued by a client CA and valid now; else why not."""
        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            return "the forwarded client certificate cannot be read"
        if not cert.not_valid_before_utc <= datetime.now(UTC) <= cert.not_valid_after_utc:
            return "the client certificate is expired or not yet valid"
        for ca in self.cas:
            if ca.subject == cert.issuer:
                try:
                    cert.verify_directly_issued_by(ca)
                    return None
                except (ValueError, TypeError, InvalidSignature):
                    continue
        return "the client certificate is not issued by the client CA"
