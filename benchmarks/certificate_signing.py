"""Benchmark: chargers' certificate signing requests signed and recorded, on SQLite and on PostgreSQL.

A fresh store and CA each (ECDSA P-256; a PostgreSQL database made and dropped here). Printed per store: CSRs
checked, signed and recorded per second by one thread and by 16 threads at once (as a production line enrolling
many chargers), the cost of ``is_revoked`` and ``certificate_for`` with every certificate recorded, and the time
to sign a CRL listing every one of them revoked. The CSRs are made before the clock starts.

    PYTHONPATH=src python3 benchmarks/certificate_signing.py [--requests 400] [--stores sqlite,postgres]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fresh_store import fresh_store

from adapters.pki.authority import FileAuthority
from adapters.pki.settings import CaSettings
from adapters.settings import Settings, StoreSettings
from adapters.wiring import build_log
from services.platform import Platform


def csr(station_id: str) -> str:
    name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CloudBay"), x509.NameAttribute(NameOID.COMMON_NAME, station_id)]
    )
    request = x509.CertificateSigningRequestBuilder().subject_name(name)
    signed = request.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    return signed.public_bytes(serialization.Encoding.PEM).decode()


def run(url: str, data_dir: Path, requests: int) -> dict[str, float]:
    ca = CaSettings(directory=data_dir / "ca", passphrase="benchmark")
    authority = FileAuthority(ca)
    authority.init()
    settings = Settings(store=StoreSettings(url), data_dir=data_dir, ca=ca)
    platform = Platform(build_log(settings), signer=authority)
    try:
        csrs = [(f"S-{n:05d}", csr(f"S-{n:05d}")) for n in range(2 * requests)]
        sign = platform.certificates.sign
        started = time.perf_counter()
        for station_id, pem in csrs[:requests]:
            assert sign(station_id, pem, None).status == "Accepted"
        one = requests / (time.perf_counter() - started)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=16) as pool:
            outcomes = list(pool.map(lambda item: sign(item[0], item[1], None), csrs[requests:]))
        many = requests / (time.perf_counter() - started)
        assert all(o.status == "Accepted" for o in outcomes)
        ca_state = platform.certificates.authority()
        serials = list(ca_state.certificates)
        started = time.perf_counter()
        for serial in serials[:200]:
            platform.certificates.is_revoked(serial)
        lookup_ms = (time.perf_counter() - started) / 200 * 1000
        now = datetime.now(UTC)
        started = time.perf_counter()
        der = authority.crl([(s, now) for s in serials], now)
        crl_ms = (time.perf_counter() - started) * 1000
        return {
            "one_thread": one,
            "sixteen_threads": many,
            "lookup_ms": lookup_ms,
            "crl_ms": crl_ms,
            "crl_bytes": len(der),
            "certificates": len(serials),
        }
    finally:
        platform.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    for store in args.stores.split(","):
        with fresh_store(store) as (url, tmp):
            r = run(url, tmp, args.requests)
        print(
            f"{store}: {r['one_thread']:.0f} CSRs signed and recorded/s (1 thread), {r['sixteen_threads']:.0f}/s"
            f" (16 threads); is_revoked {r['lookup_ms']:.2f} ms with {r['certificates']:.0f} certificates;"
            f" CRL of {r['certificates']:.0f} revoked: {r['crl_ms']:.0f} ms, {r['crl_bytes']:.0f} bytes"
        )


if __name__ == "__main__":
    main()
