"""uvicorn's options that CloudBay's limits depend on (``cloudbay serve`` and the tests' LiveServer)."""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from adapters.settings import Settings

DRAIN_SECONDS = 5.0  # after a close for a protocol error, how long the rest of the client's data is read


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, with two fixes:

    * an upgrade that ``websockets`` refused while parsing it (a request line or header over 8 kB: 414,
      431) was left unanswered with its socket open; here the refusal is sent and the socket closed;
    * a frame the parser refuses (over ``ws_max_size``: 1009) was answered with the close frame and an
      immediate close of the socket while the client was still sending, so the kernel reset the connection
      and the client often never read the close frame. Here the socket is half-closed after the close frame
      and the rest of the client's data is read and dropped until the client closes (at most
      ``DRAIN_SECONDS``), as RFC 6455 (7.1.1) asks: the client reads 1009.
    """

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


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The WebSocket implementation and uvicorn's frame limit, equal to ``CLOUDBAY_OCPP_MAX_FRAME``."""
    return {"ws": WebSocketProtocol, "ws_max_size": settings.ocpp_max_frame}
