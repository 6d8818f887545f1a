"""The ASGI app on the plain port and, with a server certificate, on the TLS port beside it (``wss://`` and
HTTPS): two uvicorn servers in one event loop sharing one app, so one Runtime holds every charger session.

The plain server runs the lifespan (it builds the Runtime) and handles the signals; the TLS server starts once
the Runtime is up and is shut down before it is closed. With a client CA the TLS port asks for a client
certificate and verifies it (``CERT_OPTIONAL``: a client without one still connects, for profile 2); the
verified certificate reaches the OCPP endpoint in ASGI's ``tls`` scope extension (``server_options``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import uvicorn

from adapters.server_options import uvicorn_options
from adapters.settings import Settings, SettingsError

SECURE_START_TIMEOUT = 10.0


def tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's ssl options for the TLS port."""
    return {
        "ssl_certfile": str(settings.tls_cert),
        "ssl_keyfile": str(settings.tls_key),
        "ssl_ca_certs": str(settings.tls_client_ca) if settings.tls_client_ca else None,
        "ssl_cert_reqs": ssl.CERT_OPTIONAL if settings.tls_client_ca else ssl.CERT_NONE,
    }


class SecureServer(uvicorn.Server):
    """The TLS port's server: no lifespan of its own, no signal handlers (the plain server has them)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Servers(uvicorn.Server):
    """The plain port's server, which runs the TLS port's server (if any) for as long as it runs itself."""

    def __init__(self, config: uvicorn.Config, secure: SecureServer | None = None, secure_sockets: Any = None):
        super().__init__(config)
        self.secure, self.secure_sockets = secure, secure_sockets
        self._secure_task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    def request_exit(self) -> None:
        """Stop now rather than at the next tick (call it on the server's loop)."""
        self.should_exit = True
        if self._wake is not None:
            self._wake.set()

    async def main_loop(self) -> None:
        """uvicorn's ticks (every 0.1 s), woken at once by ``request_exit``."""
        self._wake = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.secure is None or self.should_exit:
            return
        self._secure_task = asyncio.create_task(self.secure.serve(self.secure_sockets))
        deadline = asyncio.get_running_loop().time() + SECURE_START_TIMEOUT
        while not self.secure.started and not self._secure_task.done():
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.01)
        if not self.secure.started:
            self.should_exit = True  # the TLS port could not be served: stop rather than serve half

    async def on_tick(self, counter: int) -> bool:
        if self._secure_task is not None and self._secure_task.done():
            return True  # the TLS server ended by itself
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.secure is not None and self._secure_task is not None:
            self.secure.should_exit = True
            with contextlib.suppress(Exception):
                await self._secure_task  # its sessions end (and are recorded) before the Runtime closes
        if self.server_state.connections or self.server_state.tasks:
            await super().shutdown(sockets)  # asks each connection to end and waits for them
            return
        # idle: nothing to ask or wait for (uvicorn would still wait a fixed tenth of a second)
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()


def build_servers(
    app: Any, settings: Settings, *, secure_sockets: list[socket.socket] | None = None, **options: Any
) -> Servers:
    """The plain server (``options`` are uvicorn's: host, port, log level, ...) and, when ``settings`` has a
    TLS certificate, the TLS server on ``settings.tls_port`` (or ``secure_sockets``) with the same options."""
    common = {**options, **uvicorn_options(settings)}
    plain = uvicorn.Config(app, **common)
    if settings.tls_cert is None:
        return Servers(plain)
    secure_config = uvicorn.Config(
        app, **{**common, "lifespan": "off", "port": settings.tls_port, **tls_options(settings)}
    )
    try:
        secure_config.load()  # a missing or malformed certificate or key is an error at start
    except (OSError, ssl.SSLError) as e:
        raise SettingsError(f"the TLS certificate, key or client CA cannot be used: {e}") from None
    return Servers(plain, SecureServer(secure_config), secure_sockets)
