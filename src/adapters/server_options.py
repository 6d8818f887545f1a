"""uvicorn's options that CloudBay's limits depend on (``cloudbay serve`` and the tests' LiveServer)."""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from adapters.settings import Settings


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, which leaves an upgrade that ``websockets`` refused while
    parsing it (a request line or header over 8 kB: 414, 431) unanswered with its socket open; here the
    refusal is sent and the socket closed."""

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.handshake_exc is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The WebSocket implementation and uvicorn's frame limit, equal to ``CLOUDBAY_OCPP_MAX_FRAME``."""
    return {"ws": WebSocketProtocol, "ws_max_size": settings.ocpp_max_frame}
