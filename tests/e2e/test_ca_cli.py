"""As an operator would: `cloudbay ca init` and `cloudbay ca server-cert`, the files they leave, what they record."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography import x509

from adapters.settings import Settings
from adapters.wiring import build_log
from cloudbay_domain.certificates import CertificateAuthority
from tests.e2e.test_cli_and_server import cloudbay


def test_ca_init_and_the_server_certificate(tmp_path: Path) -> None:
    env = {**os.environ, "CLOUDBAY_DATA_DIR": str(tmp_path / "data"), "CLOUDBAY_CA_PASSPHRASE": "from the env"}
    made = cloudbay(env, "ca", "init")
    assert "root: serial" in made.stdout and "issuing: serial" in made.stdout
    again = cloudbay(env, "ca", "init", check=False)
    assert again.returncode == 1 and "already" in again.stderr
    server = cloudbay(env, "ca", "server-cert", "--host", "csms.example.com", "--host", "127.0.0.1")
    ca_dir = tmp_path / "data" / "ca"
    assert f"--tls-cert {ca_dir / 'server.pem'}" in server.stdout
    assert not (ca_dir / "passphrase").exists()  # the passphrase came from the environment
    for path in ca_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    leaf = x509.load_pem_x509_certificates((ca_dir / "server.pem").read_bytes())[0]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["csms.example.com"]
    log = build_log(Settings.from_env(env))
    try:
        ca: CertificateAuthority = log.repository.get(CertificateAuthority.create_id())
        kinds = sorted(c["kind"] for c in ca.certificates.values())
        assert kinds == ["issuing", "root", "server"] and format(leaf.serial_number, "x") in ca.certificates
    finally:
        log.close()
