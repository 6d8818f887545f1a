"""uvicorn's options that CloudBay's limits depend on (``cloudbay serve`` and the tests' LiveServer)."""

from __future__ import annotations

import ssl
from asyncio import BaseTransport
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from adapters.ocpp.inbox import Gate, Inbox
from adapters.settings import Settings

DRAIN_SECONDS = 5.0  # after a close for a protocol error, how long the rest of the client's data is read


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, lighter per connection (its queue of ASGI events an ``Inbox``, its
    writable Event a ``Gate``, the upgrade's request and response dropped once accepted), with these fixes:

    * an upgrade that ``websockets`` refused while parsing it (a request line or header over 8 kB: 414,
      431) was left unanswered with its socket open; here the refusal is sent and the socket closed;
    * on a TLS connection the scope gets ASGI's ``tls`` extension (uvicorn gives none): the client certificate
      the TLS layer verified (``client_cert_chain``, PEM; empty when the client sent none), the TLS version and
      the cipher suite, for the security profiles (``adapters/ocpp/admission.py``);
    * a frame the parser refuses (over ``ws_max_size``: 1009) was answered with the close frame and an
      immediate close of the socket while the client was still sending, so the kernel reset the connection
      and the client often never read the close frame. Here the socket is half-closed after the close frame
      and the rest of the client's data is read and dropped until the client closes (at most
      ``DRAIN_SECONDS``), as RFC 6455 (7.1.1) asks: the client reads 1009.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]  # its put_nowait/get/empty, in a fraction of the memory
        self.writable = Gate()  # type: ignore[assignment]  # likewise for the Event
        self.writable.set()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            # the upgrade's request and response (their headers) are never read again: not kept for the
            # connection's life (memory per charger, ``benchmarks/connection_memory.py``)
            self.request = self.response = None  # type: ignore[assignment]

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # the upgrade was accepted: the connection's TLS facts, as ASGI's TLS extension says
            tls = tls_extension(self.transport)
            if tls is not None:
                scope["extensions"]["tls"] = tls  # type: ignore[index]

    def data_received(self, data: bytes) -> None:
        if self.close_sent and self.conn.parser_exc is not None:
            return  # draining after our close for a protocol error: dropped unread
        super().data_received(data)

    def handle_parser_exception(self) -> None:
        assert self.conn.close_sent is not None
        code, reason = self.conn.close_sent.code, self.conn.close_sent.reason
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.close_timer = self.loop.call_later(DRAIN_SECONDS, self.transport.close)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.handshake_exc is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()


def tls_extension(transport: BaseTransport) -> dict[str, Any] | None:
    """ASGI's TLS extension for a connection (None over plain TCP). Only a certificate the TLS layer verified
    against the client CA is ever here: with ``CERT_OPTIONAL`` one that fails verification fails the handshake."""
    tls: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
    if tls is None:
        return None
    der = tls.getpeercert(binary_form=True)
    cipher = tls.cipher()
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": tls.version(),
        "cipher_suite": cipher[0] if cipher else None,
    }


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The WebSocket implementation and uvicorn's frame limit, equal to ``CLOUDBAY_OCPP_MAX_FRAME``."""
    return {"ws": WebSocketProtocol, "ws_max_size": settings.ocpp_max_frame}
