"""The RPC layer's hooks for metrics and logs: ``observe_call`` after every answered frame, and the CALL's
message id in ``adapters.log_context.message_id_var`` while its handler runs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from adapters.log_context import message_id_var
from adapters.metrics import action_label
from adapters.ocpp.rpc import RpcConnection, handles


class Sink:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def recv(self) -> str:
        raise ConnectionError

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))


class Observed(RpcConnection):
    def __init__(self) -> None:
        super().__init__("CB-OBS", Sink())
        self.observed: list[tuple[str | None, str, float]] = []
        self.ids_seen: list[str | None] = []

    def observe_call(self, action: str | None, result: str, seconds: float) -> None:
        self.observed.append((action, result, seconds))

    @handles(Action.heartbeat)
    async def on_heartbeat(self, **_: Any) -> Any:
        self.ids_seen.append(message_id_var.get())
        return call_result.Heartbeat(current_time="2026-11-25T10:00:00Z")

    @handles(Action.authorize)
    async def on_authorize(self, **_: Any) -> Any:
        raise RuntimeError("boom")


def test_every_answered_frame_is_observed_with_its_result_and_the_message_id_is_in_the_log_context() -> None:
    conn = Observed()

    async def scenario() -> None:
        for frame in (
            '[2, "m-1", "Heartbeat", {}]',
            '[2, "m-1", "Heartbeat", {}]',  # a duplicate: replayed, not handled again, not observed
            '[2, "m-2", "Authorize", {"idToken": {"idToken": "A", "type": "ISO14443"}}]',
            '[2, "m-3", "StatusNotification", {}]',
            '[2, "m-4", "NoSuchAction", {}]',
            "not json",
        ):
            await conn.route_message(frame)

    asyncio.run(scenario())
    assert conn.ids_seen == ["m-1"] and message_id_var.get() is None
    assert [(a, r) for a, r, _ in conn.observed] == [
        ("Heartbeat", "accepted"),
        ("Authorize", "InternalError"),
        ("StatusNotification", "NotSupported"),
        ("NoSuchAction", "NotImplemented"),
        (None, "RpcFrameworkError"),
    ]
    assert all(seconds >= 0 for _, _, seconds in conn.observed)
    assert action_label("NoSuchAction") == action_label(None) == "other"
    assert action_label("Heartbeat") == "Heartbeat"
