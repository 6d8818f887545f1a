"""Benchmark: TLS connections to `cloudbay serve`'s TLS port, on SQLite.

Chargers of security profile 3 (a client certificate each, made here with `cryptography`) connect over
`wss://`, complete the WebSocket upgrade and close, C at a time: printed are the handshakes per second and per
second of the server's CPU (one core's worth). The same for profile 2 (Basic auth, the password already proved
once: the remembered path). Then N profile-3 chargers connect and stay: printed are the connections held and
the server's memory per connection. The server runs as a subprocess on 127.0.0.1, stopped by its PID.

    PYTHONPATH=src python3 benchmarks/tls_handshakes.py [--chargers 300] [--handshakes 600] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' certificate helpers

from boot_heartbeat import OCPP201, cpu_seconds, rss_mib, stop, wait_healthy  # noqa: E402

from adapters.settings import Settings, StoreSettings  # noqa: E402
from adapters.station_passwords import hash_password  # noqa: E402
from adapters.wiring import build_platform  # noqa: E402
from tests.support import free_socket  # noqa: E402
from tests.tls_support import Pki  # noqa: E402

PASSWORD = "benchmark-password-0001"
TIMEOUT = 30.0


def prepare(url: str, data: Path, profile3: list[str], profile2: list[str]) -> None:
    platform = build_platform(Settings(store=StoreSettings(url), data_dir=data))
    hashed = hash_password(PASSWORD)
    try:
        for sid in profile3 + profile2:
            platform.chargers.whitelist(sid, "bench")
            platform.security.set_profile(sid, 3 if sid in profile3 else 2, False, "benchmark")
        for sid in profile2:
            platform.security.set_password(sid, hashed, "benchmark")
    finally:
        platform.close()


def free_port() -> int:
    sock = free_socket()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


async def open_one(url: str, context: ssl.SSLContext, headers: dict[str, str]) -> ClientConnection:
    return await connect(url, subprotocols=[OCPP201], ssl=context, additional_headers=headers, open_timeout=TIMEOUT)


async def handshakes(
    base: str, ids: list[str], contexts: dict[str, ssl.SSLContext], total: int, concurrency: int, basic: bool
) -> tuple[int, float]:
    """``total`` connect-upgrade-close cycles, ``concurrency`` at a time; (succeeded, seconds)."""
    done, queue = 0, asyncio.Queue[str]()
    for n in range(total):
        queue.put_nowait(ids[n % len(ids)])

    async def worker() -> None:
        nonlocal done
        while not queue.empty():
            sid = queue.get_nowait()
            token = base64.b64encode(f"{sid}:{PASSWORD}".encode()).decode()
            headers = {"Authorization": f"Basic {token}"} if basic else {}
            with contextlib.suppress(Exception):
                ws = await open_one(f"{base}/ocpp/{sid}", contexts[sid], headers)
                await ws.close()
                done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, time.perf_counter() - started


async def hold(base: str, ids: list[str], contexts: dict[str, ssl.SSLContext]) -> list[ClientConnection]:
    held: list[ClientConnection] = []
    for start in range(0, len(ids), 50):
        batch = ids[start : start + 50]
        results = await asyncio.gather(
            *(open_one(f"{base}/ocpp/{sid}", contexts[sid], {}) for sid in batch), return_exceptions=True
        )
        held += [r for r in results if isinstance(r, ClientConnection)]
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chargers", type=int, default=300, help="profile-3 chargers held open at once")
    parser.add_argument("--handshakes", type=int, default=600, help="connect-upgrade-close cycles per profile")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cloudbay-tls-bench-") as tmp:
        data = Path(tmp)
        pki = Pki.make(data / "pki")
        url = f"sqlite:///{data}/cloudbay.sqlite3"
        p3 = [f"TLS3-{n:05d}" for n in range(args.chargers)]
        p2 = [f"TLS2-{n:03d}" for n in range(20)]
        prepare(url, data, p3, p2)
        contexts = {sid: pki.client_context(sid) for sid in p3}
        trusting = pki.client_context()
        contexts.update(dict.fromkeys(p2, trusting))
        port, tls_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDBAY_")}
        env.update(CLOUDBAY_DATA_DIR=str(data), CLOUDBAY_DATABASE_URL=url, CLOUDBAY_PROJECTIONS="inline")
        tls = [
            "--tls-cert",
            str(pki.server_cert),
            "--tls-key",
            str(pki.server_key),
            "--tls-client-ca",
            str(pki.client_ca),
        ]
        command = [sys.executable, "-m", "adapters.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)]
        command += [*tls, "--tls-port", str(tls_port), "--log-level", "warning"]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_healthy(proc, port)
            base = f"wss://127.0.0.1:{tls_port}"
            for name, ids, basic in (
                ("profile 3 (client certificate)", p3, False),
                ("profile 2 (Basic, remembered)", p2, True),
            ):
                asyncio.run(handshakes(base, ids, contexts, len(ids), args.concurrency, basic))  # warm-up, first proofs
                cpu = cpu_seconds(proc.pid)
                ok, seconds = asyncio.run(handshakes(base, ids, contexts, args.handshakes, args.concurrency, basic))
                used = cpu_seconds(proc.pid) - cpu
                print(
                    f"{name}: {ok}/{args.handshakes} handshakes in {seconds:.2f} s = {ok / seconds:.0f}/s;"
                    f" server CPU {used:.2f} s = {ok / max(used, 1e-9):.0f} handshakes per CPU-second"
                )
            before = rss_mib(proc.pid)

            async def held_count() -> int:
                held = await hold(base, p3, contexts)
                count = len(held)
                await asyncio.sleep(1)
                after = rss_mib(proc.pid)
                per = (after - before) * 1024 / max(count, 1)
                print(f"profile 3 held: {count}/{len(p3)} connections; server RSS {before:.0f} -> {after:.0f} MiB")
                print(f"  {per:.0f} KiB per connection")
                await asyncio.gather(*(ws.close() for ws in held), return_exceptions=True)
                return count

            asyncio.run(held_count())
        finally:
            stop(proc)


if __name__ == "__main__":
    main()
