"""``cloudbay ca``: create the platform's certificate authority, issue the CSMS server certificate.

Every certificate made here is recorded in the event log (serial, subject, not-after, fingerprint); the keys
stay in the CA directory (``CLOUDBAY_CA_DIR``, default ``$CLOUDBAY_DATA_DIR/ca``). See docs/security.md.
"""

from __future__ import annotations

from typing import Annotated

import typer

from adapters.cli.common import fail, settings
from adapters.pki.authority import AuthorityExists, FileAuthority
from adapters.pki.x509 import ALGORITHMS
from adapters.wiring import build_platform
from cloudbay_domain.certificates import IssuedCertificate
from services.certificates import AuthorityNotReady

ca = typer.Typer(
    help="The platform's certificate authority (root, issuing CA, server certificate).", no_args_is_help=True
)


def _record(certificates: list[IssuedCertificate]) -> None:
    with build_platform(settings()) as platform:
        for certificate in certificates:
            platform.certificates.record_issued(certificate, "cli")
            typer.echo(f"{certificate.kind}: serial {certificate.serial}, {certificate.subject}")
            typer.echo(f"  not after {certificate.not_after}, sha256 {certificate.fingerprint}")


@ca.command("init")
def init(
    key_type: Annotated[str, typer.Option("--key-type", help="ec (ECDSA P-256) or rsa (RSA 3072)")] = "ec",
) -> None:
    """Create the root CA and the issuing CA for chargers (keys encrypted with the CA passphrase)."""
    if key_type not in ALGORITHMS:
        raise fail(f"--key-type must be one of {', '.join(ALGORITHMS)}", 2)
    authority = FileAuthority(settings().pki)
    try:
        made = authority.init(key_type)
    except AuthorityExists as e:
        raise fail(str(e)) from None
    _record(made)
    typer.echo(f"created the certificate authority in {authority.directory.resolve()}")


@ca.command("server-cert")
def server_cert(
    host: Annotated[list[str], typer.Option("--host", help="a host name or address of the CSMS (repeatable)")],
    days: Annotated[int, typer.Option(help="validity in days", min=1, max=825)] = 397,
) -> None:
    """Issue the CSMS server certificate (for `serve --tls-cert/--tls-key`): server.pem and server-key.pem."""
    authority = FileAuthority(settings().pki)
    try:
        made = authority.server_certificate(host, days)
    except AuthorityNotReady as e:
        raise fail(f"{e} (CA directory {authority.directory.resolve()})") from None
    _record([made])
    typer.echo(
        f"--tls-cert {authority.path('server.pem').resolve()} --tls-key {authority.path('server-key.pem').resolve()}"
    )
