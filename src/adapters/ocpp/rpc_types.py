"""What the RPC layer needs of a connection, and how our own CALLs can fail."""

from __future__ import annotations

from typing import Any, Protocol


class Connection(Protocol):
    """What a WebSocket wrapper provides: ``recv`` raises once the socket is closed."""

    async def recv(self) -> str: ...

    async def send(self, text: str) -> None: ...


class CallErrorReceived(Exception):
    """The charger answered our CALL with a CALLERROR (the code in its 2.0.1 spelling)."""

    def __init__(self, code: str, description: str, details: dict[str, Any]) -> None:
        super().__init__(f"{code}: {description}")
        self.code, self.description, self.details = code, description, details


class MalformedAnswer(Exception):
    """The charger's CALLRESULT does not match the action's response schema: nothing in it can be trusted."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class ConnectionLost(Exception):
    """The connection ended (or could not send) while our CALL waited for its answer."""


__all__ = ["CallErrorReceived", "Connection", "ConnectionLost", "MalformedAnswer"]
