"""The PKI without a server: CSR checks, the CA files and their modes, issued certificates, CRLs, the facts."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from adapters.pki import x509 as pki
from adapters.pki.authority import AuthorityExists, FileAuthority
from adapters.pki.settings import CaSettings
from adapters.settings import Settings, SettingsError
from cloudbay_domain.certificates import CertificateAuthority, CertificateError, IssuedCertificate
from services.certificates import AuthorityNotReady, RequestRefused
from tests.pki_support import PASSPHRASE, badly_signed_csr, chain_of, csr_pem, weak_rsa_csr


def refusal(pem: str, station_id: str = "CB-1") -> str:
    with pytest.raises(RequestRefused) as caught:
        pki.check_csr(pem, station_id, "CloudBay")
    return caught.value.reason


def test_good_requests_pass() -> None:
    for key in (ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP384R1())):
        assert pki.check_csr(csr_pem("CB-1", key=key), "CB-1", "CloudBay").is_signature_valid
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert pki.check_csr(csr_pem("CB-1", key=rsa_key), "CB-1", "CloudBay")


def test_bad_requests_are_refused_with_their_reason() -> None:
    assert refusal(csr_pem("CB-2")) == "InvalidSubject"
    assert refusal(csr_pem(None)) == "InvalidSubject"
    assert refusal(csr_pem("CB-1", org=None)) == "InvalidSubject"
    assert refusal(csr_pem("CB-1", org="Someone Else")) == "InvalidSubject"
    assert refusal(weak_rsa_csr("CB-1")) == "UnsupportedKey"
    assert refusal(csr_pem("CB-1", key=ec.generate_private_key(ec.SECP256K1()))) == "UnsupportedKey"
    assert refusal(csr_pem("CB-1", key=ed25519.Ed25519PrivateKey.generate())) == "UnsupportedKey"
    assert refusal(badly_signed_csr("CB-1")) == "InvalidCSR"
    assert refusal("garbage") == "InvalidCSR"
    assert refusal("\x00" * 10) == "InvalidCSR"
    assert refusal(csr_pem("CB-1") * 20) == "InvalidCSR"  # longer than SignCertificate allows


@pytest.fixture
def authority(tmp_path: Path) -> FileAuthority:
    ca = FileAuthority(CaSettings(directory=tmp_path / "ca", passphrase=PASSPHRASE, leaf_days=30))
    made = ca.init()
    assert [c.kind for c in made] == ["root", "issuing"]
    return ca


def test_the_ca_files_are_private_and_the_keys_encrypted(authority: FileAuthority) -> None:
    assert stat.S_IMODE(authority.directory.stat().st_mode) == 0o700
    for path in authority.directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for name in ("root-key.pem", "issuing-key.pem"):
        assert authority.path(name).read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(AuthorityExists):
        authority.init()
    wrong = FileAuthority(CaSettings(directory=authority.directory, passphrase="wrong"))
    with pytest.raises(AuthorityNotReady):
        wrong.sign_station_request(csr_pem("CB-1"), "CB-1")
    with pytest.raises(AuthorityNotReady):
        FileAuthority(CaSettings(directory=authority.directory.parent / "none")).chain_pem()


def test_a_passphrase_file_is_made_when_none_is_given(tmp_path: Path) -> None:
    ca = FileAuthority(CaSettings(directory=tmp_path / "ca", organisation="Acme"))
    ca.init("rsa")
    assert stat.S_IMODE((tmp_path / "ca" / "passphrase").stat().st_mode) == 0o600
    signed = ca.sign_station_request(csr_pem("CB-1", org="Acme"), "CB-1")
    assert signed.certificate.subject == "CN=CB-1,O=Acme"


def test_issued_certificates_chain_to_the_root(authority: FileAuthority) -> None:
    signed = authority.sign_station_request(csr_pem("CB-1"), "CB-1")
    leaf, issuing = chain_of(signed.chain_pem)
    root = x509.load_pem_x509_certificate(authority.path("root.pem").read_bytes())
    leaf.verify_directly_issued_by(issuing)
    issuing.verify_directly_issued_by(root)
    assert chain_of(authority.chain_pem().decode()) == [issuing, root]
    assert chain_of(authority.path("chain.pem").read_text()) == [issuing, root]
    assert timedelta(days=29) < leaf.not_valid_after_utc - datetime.now(UTC) <= timedelta(days=30)
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert signed.certificate.serial == format(leaf.serial_number, "x") and signed.certificate.station_id == "CB-1"
    other = authority.sign_station_request(csr_pem("CB-1"), "CB-1")
    assert other.certificate.serial != signed.certificate.serial


def test_the_server_certificate_names_its_hosts(authority: FileAuthority) -> None:
    made = authority.server_certificate(["csms.example.com", "127.0.0.1"])
    server, issuing = chain_of(authority.path("server.pem").read_text())
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["csms.example.com"]
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert made.kind == "server" and made.station_id is None
    assert not authority.path("server-key.pem").read_text().startswith("-----BEGIN ENCRYPTED")


def test_the_crl_lists_revoked_serials(authority: FileAuthority) -> None:
    now = datetime.now(UTC)
    crl = x509.load_der_x509_crl(authority.crl([("abc", now)], now))
    issuing = x509.load_pem_x509_certificate(authority.path("issuing.pem").read_bytes())
    assert crl.is_signature_valid(issuing.public_key())  # type: ignore[arg-type]
    assert [r.serial_number for r in crl] == [0xABC] and crl.next_update_utc is not None


def test_the_authority_records_facts_only() -> None:
    ca = CertificateAuthority()
    leaf = IssuedCertificate("ab", "CN=CB-1,O=CloudBay", "2020-01-01T00:00:00+00:00", "f1", "charging-station", "CB-1")
    new = IssuedCertificate("cd", "CN=CB-1,O=CloudBay", "2999-01-01T00:00:00+00:00", "f2", "charging-station", "CB-1")
    ca.issue(leaf, "x")
    ca.issue(new, "x")
    with pytest.raises(CertificateError):
        ca.issue(new, "x")
    now = datetime.now(UTC)
    assert ca.current_of_station("CB-1", now) == [new]  # the expired one is not current
    ca.revoke("cd", now, "op", "stolen")
    ca.revoke("cd", now, "op", "again")  # no second event
    assert ca.current_of_station("CB-1", now) == [] and list(ca.revoked) == ["cd"]
    assert len([e for e in ca.collect_events() if isinstance(e, CertificateAuthority.CertificateRevoked)]) == 1
    with pytest.raises(CertificateError):
        ca.revoke("ee", now, "op", "")


def test_ca_settings_come_from_the_environment(tmp_path: Path) -> None:
    env = {"CLOUDBAY_DATA_DIR": str(tmp_path), "CLOUDBAY_CA_ORGANISATION": "Acme", "CLOUDBAY_CA_LEAF_DAYS": "90"}
    ca = Settings.from_env(env).pki
    assert ca.directory == tmp_path / "ca" and ca.organisation == "Acme" and ca.leaf_days == 90
    assert ca.passphrase_path == tmp_path / "ca" / "passphrase" and ca.passphrase is None
    secret = Settings.from_env({**env, "CLOUDBAY_CA_PASSPHRASE": "s3cret"})
    assert secret.pki.passphrase == "s3cret" and "s3cret" not in repr(secret)
    for bad in ("0", "x", "9999"):
        with pytest.raises(SettingsError):
            Settings.from_env({**env, "CLOUDBAY_CA_LEAF_DAYS": bad})


def test_renewal_is_due_within_the_window_of_the_newest_valid_certificate() -> None:
    ca = CertificateAuthority()
    now = datetime.now(UTC)
    window = timedelta(days=30)
    assert ca.renewal_due("CB-1", now, window) is None  # never enrolled: nothing to renew
    soon = IssuedCertificate("a1", "CN=CB-1", (now + timedelta(days=10)).isoformat(), "f1", "charging-station", "CB-1")
    ca.issue(soon, "x")
    assert ca.renewal_due("CB-1", now, window) == soon
    later = IssuedCertificate(
        "a2", "CN=CB-1", (now + timedelta(days=300)).isoformat(), "f2", "charging-station", "CB-1"
    )
    ca.issue(later, "x")
    assert ca.renewal_due("CB-1", now, window) is None  # renewed already
    ca.revoke("a2", now, "op", "")
    assert ca.renewal_due("CB-1", now, window) == soon
    assert Settings.from_env({"CLOUDBAY_CA_RENEW_DAYS": "7"}).pki.renew_days == 7
    with pytest.raises(SettingsError):
        Settings.from_env({"CLOUDBAY_CA_RENEW_DAYS": "-1"})
