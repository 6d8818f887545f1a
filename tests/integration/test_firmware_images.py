"""Firmware images over real HTTP, on SQLite and PostgreSQL: uploads signed by the platform or verified against a
vendor's certificate, the size limit, the expiring download links with byte ranges, and campaigns that install
an uploaded image."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from adapters.auth import Role
from adapters.firmware_settings import FirmwareSettings
from adapters.pki.firmware_signing import verify
from tests.support import LiveServer

IMAGES = "/api/v1/firmware-images"
BLOB = os.urandom(200_000)


def upload(http: httpx.Client, content: Any, **facts: str) -> httpx.Response:
    params = {"family": "home-22kw", "version": "2.5.0", **facts}
    return http.post(IMAGES, params=params, content=content, headers={"content-type": "application/octet-stream"})


@pytest.fixture
def small(store_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server whose uploads may have 300,000 bytes at most."""
    firmware = dataclasses.replace(FirmwareSettings.under(tmp_path / "data"), max_bytes=300_000)
    live = LiveServer(store_url, tmp_path / "data", firmware=firmware).start()
    assert live.runtime is not None
    live.runtime.authority.init()
    try:
        yield live
    finally:
        live.stop()


def test_an_upload_signed_by_the_platform_and_downloaded_in_two_ranges(small: LiveServer) -> None:
    with small.http() as http:
        created = upload(http, BLOB, minimum_version="2.0.0", release_notes="faster charging")
        assert created.status_code == 201, created.text
        image = created.json()
        digest = hashlib.sha256(BLOB).digest()
        assert (image["sha256"], image["size"], image["signed_by"]) == (digest.hex(), len(BLOB), "platform")
        assert created.headers["location"] == image["_links"]["self"]["href"]
        certificate = x509.load_pem_x509_certificate(image["signing_certificate"].encode())
        assert verify(certificate.public_key(), digest, base64.b64decode(image["signature"]))
        assert "PRIVATE" not in str(image)
        assert http.get(image["_links"]["self"]["href"]).json()["release_notes"] == "faster charging"
        again = upload(http, BLOB)
        assert again.status_code == 409
        small.settle()
        listed = http.get(IMAGES, params={"family": "home-22kw"}).json()["items"]
        assert [i["version"] for i in listed] == ["2.5.0"]
        assert http.get(IMAGES, params={"family": "other"}).json()["items"] == []
    links = small.platform.rollouts.links
    assert links is not None
    url = links.url(image["sha256"])
    with httpx.Client(timeout=10) as charger:  # no token: the link is the right to fetch
        first = charger.get(url, headers={"Range": "bytes=0-99999"})
        assert first.status_code == 206 and first.headers["content-range"] == f"bytes 0-99999/{len(BLOB)}"
        rest = charger.get(url, headers={"Range": f"bytes={len(first.content)}-"})
        assert rest.status_code == 206 and first.content + rest.content == BLOB
        assert charger.get(url, headers={"Range": "bytes=-10"}).content == BLOB[-10:]
        whole = charger.get(url)
        assert whole.status_code == 200 and whole.content == BLOB and whole.headers["accept-ranges"] == "bytes"
        beyond = charger.get(url, headers={"Range": f"bytes={len(BLOB)}-"})
        assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(BLOB)}"
        assert beyond.headers["content-type"] == "application/problem+json"
        tampered = url.replace("sig=", "sig=0")
        assert charger.get(tampered).status_code == 403
        other = url.replace(image["sha256"], "0" * 64)
        assert charger.get(other).status_code == 403  # a link is for one image only
        expired = links.url(image["sha256"], valid_seconds=1)
        time.sleep(2.1)
        refused = charger.get(expired)
        assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
        assert charger.get(url.split("?")[0]).status_code == 403


def test_over_the_size_limit_declared_or_streamed(small: LiveServer) -> None:
    big = os.urandom(300_001)
    with small.http() as http:
        declared = upload(http, big)
        assert declared.status_code == 413 and declared.headers["content-type"] == "application/problem+json"

        def chunks() -> Iterator[bytes]:  # no Content-Length: refused once the body grows over the limit
            for start in range(0, len(big), 50_000):
                yield big[start : start + 50_000]

        streamed = upload(http, chunks())
        assert streamed.status_code == 413
        assert upload(http, b"").status_code == 422
        assert http.post(IMAGES, content=BLOB).status_code == 422  # no family, no version
        assert upload(http, BLOB, version="1\x01").status_code in (400, 422)
    directory = small.settings.firmware_files.directory
    assert [p for p in directory.iterdir()] == []  # nothing kept of the refused uploads
    with small.http(Role.USER) as user:
        assert upload(user, BLOB).status_code == 403
        assert user.get(IMAGES).status_code == 403


@pytest.fixture
def vendor(store_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, ec.EllipticCurvePrivateKey]]:
    """A server that takes only images signed by the vendor (its certificate configured)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Vendor firmware")])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=30)).sign(key, hashes.SHA256())
    )  # fmt: skip
    path = tmp_path / "vendor.pem"
    path.write_bytes(certificate.public_bytes(Encoding.PEM))
    firmware = dataclasses.replace(FirmwareSettings.under(tmp_path / "data"), vendor_certificate=path)
    live = LiveServer(store_url, tmp_path / "data", firmware=firmware).start()
    try:
        yield live, key
    finally:
        live.stop()


def test_vendor_signatures_verified_and_bad_or_missing_ones_refused(
    vendor: tuple[LiveServer, ec.EllipticCurvePrivateKey],
) -> None:
    server, key = vendor
    good = base64.b64encode(key.sign(BLOB, ec.ECDSA(hashes.SHA256()))).decode()
    bad = base64.b64encode(key.sign(BLOB + b"x", ec.ECDSA(hashes.SHA256()))).decode()
    with server.http() as http:
        missing = upload(http, BLOB)
        assert missing.status_code == 422 and "vendor's signature" in missing.json()["detail"]
        wrong = upload(http, BLOB, signature=bad)
        assert wrong.status_code == 422 and "does not verify" in wrong.json()["detail"]
        assert upload(http, BLOB, signature="not base64!").status_code == 422
        accepted = upload(http, BLOB, signature=good)
        assert accepted.status_code == 201, accepted.text
        assert (accepted.json()["signed_by"], accepted.json()["signature"]) == ("vendor", good)
        assert "Vendor firmware" in str(
            x509.load_pem_x509_certificate(accepted.json()["signing_certificate"].encode()).subject
        )


def test_a_multipart_upload_streams_its_image_part_and_keeps_the_size_limit(small: LiveServer) -> None:
    with small.http() as http:
        form = {"family": "home-22kw", "version": "3.0.0", "minimum_version": "2.0.0", "release_notes": "notes"}
        created = http.post(IMAGES, data=form, files={"image": ("fw.bin", BLOB, "application/octet-stream")})
        assert created.status_code == 201, created.text
        image = created.json()
        assert (image["sha256"], image["size"], image["version"]) == (hashlib.sha256(BLOB).hexdigest(), len(BLOB),
                                                                      "3.0.0")  # fmt: skip
        assert (image["minimum_version"], image["release_notes"]) == ("2.0.0", "notes")
        big = {"image": ("fw.bin", os.urandom(300_001), "application/octet-stream")}
        over = http.post(IMAGES, data={**form, "version": "3.0.1"}, files=big)
        assert over.status_code == 413, over.text
        nameless = http.post(IMAGES, files={"image": ("fw.bin", BLOB, "application/octet-stream")})
        assert nameless.status_code == 422
        assert len(list(small.settings.firmware_files.directory.iterdir())) == 1  # only the accepted image
        assert upload(http, BLOB[:1000], version="3.1.0").status_code == 201
        small.settle()
        page = http.get(IMAGES, params={"limit": 1}).json()
        assert [i["version"] for i in page["items"]] == ["3.1.0"]
        rest = http.get(page["_links"]["next"]["href"]).json()
        assert [i["version"] for i in rest["items"]] == ["3.0.0"] and "next" not in rest["_links"]
