"""A running RPC connection: our own CALLs matched to their answers, CALLs handled in order by a worker that
never blocks the reader, after-handlers as tasks, and a clean end when the socket closes."""

from __future__ import annotations

import asyncio
import decimal
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp.charge_point import snake_to_camel_case
from ocpp.v201 import call, call_result
from ocpp.v201.datatypes import ComponentType, GetVariableDataType, VariableType
from ocpp.v201.enums import Action

from adapters.ocpp import rpc as ocpp_rpc
from adapters.ocpp.rpc import (
    CallErrorReceived,
    ConnectionLost,
    MalformedAnswer,
    RpcConnection,
    after,
    handles,
)
from adapters.ocpp.rpc_schema import camel_case

NOW = "2024-01-01T00:00:00Z"
BOOT = {"chargingStation": {"model": "M1", "vendorName": "V"}, "reason": "PowerUp"}
VARIABLES = {
    "getVariableResult": [
        {
            "attributeStatus": "Accepted",
            "attributeValue": "300",
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"},
        }
    ]
}


class QueueConnection:
    """A socket in memory: the test feeds frames (or an exception, which closes it) and reads what was sent."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[str | BaseException] = asyncio.Queue()
        self.outgoing: asyncio.Queue[list[Any]] = asyncio.Queue()
        self.sent: list[list[Any]] = []

    async def recv(self) -> str:
        item = await self.incoming.get()
        if isinstance(item, BaseException):
            raise item
        return item

    async def send(self, text: str) -> None:
        frame = json.loads(text)
        self.sent.append(frame)
        self.outgoing.put_nowait(frame)

    def feed(self, frame: Any) -> None:
        self.incoming.put_nowait(frame if isinstance(frame, str) else json.dumps(frame))

    def close(self) -> None:
        self.incoming.put_nowait(ConnectionError("closed by the charger"))

    async def next_sent(self, timeout: float = 2) -> list[Any]:
        return await asyncio.wait_for(self.outgoing.get(), timeout)


def get_variables() -> call.GetVariables:
    data = GetVariableDataType(
        component=ComponentType(name="OCPPCommCtrlr"), variable=VariableType(name="HeartbeatInterval")
    )
    return call.GetVariables(get_variable_data=[data])


class Station(RpcConnection):
    validate_responses = True

    def __init__(self, connection: QueueConnection) -> None:
        super().__init__("CP1", connection)
        self.conn = connection
        self.gate = asyncio.Event()
        self.gate.set()
        self.handled: list[str] = []
        self.cancelled: list[str] = []
        self.variables: Any = None
        self.after_saw: list[list[list[Any]]] = []

    @handles(Action.heartbeat)
    async def on_heartbeat(self, call_unique_id: str, **_: Any) -> Any:
        self.handled.append(call_unique_id)
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled.append(f"handler {call_unique_id}")
            raise
        return call_result.Heartbeat(current_time=NOW)

    @handles(Action.boot_notification)
    async def on_boot(self, **_: Any) -> Any:
        self.variables = await self.call(get_variables(), timeout=2)  # a handler calling the charger
        return call_result.BootNotification(current_time=NOW, interval=300, status="Accepted")

    @after(Action.boot_notification)
    def after_boot(self, **_: Any) -> None:
        self.after_saw.append(list(self.conn.sent))
        raise RuntimeError("after-handler bug")

    @handles(Action.status_notification)
    def on_status(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @after(Action.status_notification)
    async def after_status(self, **_: Any) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append("after")
            raise


def run(test: Callable[[QueueConnection, Station], Awaitable[None]], cls: type[Station] = Station) -> Station:
    """Serve a Station on a QueueConnection while ``test`` runs, then close it: start() re-raises the close."""

    async def main() -> Station:
        conn = QueueConnection()
        cp = cls(conn)
        served = asyncio.create_task(cp.start())
        await test(conn, cp)
        conn.close()
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(served, 2)
        return cp

    return asyncio.run(main())


STATUS = {"timestamp": NOW, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}


# --- our CALLs ----------------------------------------------------------------------------------


def test_each_call_gets_a_fresh_uuid4_and_its_own_answer() -> None:
    async def test(conn: QueueConnection, cp: Station) -> None:
        ids = []
        for _ in range(2):
            pending = asyncio.create_task(cp.call(get_variables(), timeout=2))
            frame = await conn.next_sent()
            assert frame[0] == 2 and frame[2] == "GetVariables"
            wanted = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
            assert frame[3] == {"getVariableData": [wanted]}
            conn.feed([3, frame[1], VARIABLES])
            result = await pending
            assert isinstance(result, call_result.GetVariables)
            assert result.get_variable_result[0]["attribute_value"] == "300"
            ids.append(frame[1])
        assert ids[0] != ids[1] and all(uuid.UUID(i).version == 4 for i in ids)

    run(test)


def test_a_second_call_waits_until_the_first_is_answered() -> None:
    async def test(conn: QueueConnection, cp: Station) -> None:
        first = asyncio.create_task(cp.call(get_variables(), timeout=2))
        second = asyncio.create_task(cp.call(call.GetLocalListVersion(), timeout=2))
        one = await conn.next_sent()
        await asyncio.sleep(0.05)
        assert conn.outgoing.empty()  # one outstanding CALL per connection
        conn.feed([3, one[1], VARIABLES])
        two = await conn.next_sent()
        assert two[2] == "GetLocalListVersion" and two[1] != one[1]
        conn.feed([3, two[1], {"versionNumber": 7}])
        assert isinstance(await first, call_result.GetVariables)
        assert (await second).version_number == 7

    run(test)


def test_answers_with_another_id_or_without_a_call_are_dropped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cloudbay.ocpp")

    async def test(conn: QueueConnection, cp: Station) -> None:
        conn.feed([3, "nobody-asked", VARIABLES])
        pending = asyncio.create_task(cp.call(get_variables(), timeout=2))
        frame = await conn.next_sent()
        conn.feed([3, "another-id", VARIABLES])
        conn.feed([4, "another-id", "GenericError", "", {}])
        conn.feed([3, frame[1], VARIABLES])
        assert isinstance(await pending, call_result.GetVariables)
        assert conn.sent == [frame]  # nothing was answered

    run(test)
    dropped = [r for r in caplog.records if "no CALL of ours is waiting" in r.getMessage()]
    assert len(dropped) == 3 and all(r.levelno == logging.WARNING for r in dropped)


def test_a_late_answer_after_a_timeout_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cloudbay.ocpp")

    async def test(conn: QueueConnection, cp: Station) -> None:
        with pytest.raises(TimeoutError):
            await cp.call(get_variables(), timeout=0.05)
        late = (await conn.next_sent())[1]
        conn.feed([3, late, VARIABLES])
        await asyncio.sleep(0.02)
        assert cp._pending is None
        pending = asyncio.create_task(cp.call(call.GetLocalListVersion(), timeout=2))
        frame = await conn.next_sent()
        conn.feed([3, late, VARIABLES])  # late again, while another CALL waits: still not taken for it
        conn.feed([3, frame[1], {"versionNumber": 1}])
        assert (await pending).version_number == 1

    run(test)
    assert sum("no CALL of ours is waiting" in r.getMessage() for r in caplog.records) == 2


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("SecurityError", "SecurityError"),
        ("OccurenceConstraintViolation", "OccurrenceConstraintViolation"),
        ("FormationViolation", "FormatViolation"),
    ],
)
def test_a_call_error_raises_call_error_received(code: str, expected: str) -> None:
    async def test(conn: QueueConnection, cp: Station) -> None:
        pending = asyncio.create_task(cp.call(get_variables(), timeout=2))
        frame = await conn.next_sent()
        conn.feed([4, frame[1], code, "no way", {"why": "locked"}])
        with pytest.raises(CallErrorReceived) as info:
            await pending
        assert (info.value.code, info.value.description, info.value.details) == (expected, "no way", {"why": "locked"})

    run(test)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"getVariableResult": [{**VARIABLES["getVariableResult"][0], "attributeStatus": "Bogus"}]},
        {"getVariableResult": "300"},
        {**VARIABLES, "extra": 1},
    ],
)
def test_a_call_result_violating_the_response_schema_is_malformed(payload: dict[str, Any]) -> None:
    async def test(conn: QueueConnection, cp: Station) -> None:
        pending = asyncio.create_task(cp.call(get_variables(), timeout=2))
        frame = await conn.next_sent()
        conn.feed([3, frame[1], payload])
        with pytest.raises(MalformedAnswer) as info:
            await pending
        assert isinstance(info.value.cause, str) and info.value.cause

    run(test)


def deep(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth):
        value = {"x": value}
    return value


@pytest.mark.parametrize(
    "answer",
    [
        lambda uid: json.dumps([3, uid, {"versionNumber": 1, "customData": {"vendorId": "V", "x": deep(70)}}]),
        lambda uid: f'[3, "{uid}", ' + "[" * 50_000 + "]" * 50_000 + "]",  # too deep for the JSON decoder
        lambda uid: f'[3,"{uid}",{{"versionNumber": 1',  # not JSON
        lambda uid: f'[3,"{uid}",{{"versionNumber": NaN}}]',  # not JSON either
        lambda uid: json.dumps([3, uid, [1]]),
        lambda uid: json.dumps([3, uid, {"versionNumber": 1}, "extra"]),
        lambda uid: json.dumps([4, uid, "GenericError", "no details"]),
        lambda uid: json.dumps([3, uid, {"versionNumber": 1e300}]),  # an integer to the schema, not a 32-bit one
    ],
)
def test_an_unusable_answer_to_our_call_fails_it_at_once(answer: Callable[[str], str]) -> None:
    async def test(conn: QueueConnection, cp: Station) -> None:
        pending = asyncio.create_task(cp.call(call.GetLocalListVersion(), timeout=30))
        frame = await conn.next_sent()
        conn.feed(answer(frame[1]))
        with pytest.raises(MalformedAnswer) as info:
            await asyncio.wait_for(pending, 2)  # not the call's own 30 s
        assert info.value.cause
        assert conn.outgoing.empty()  # an answer is never answered, however broken

    run(test)


def test_an_unparsable_frame_that_answers_no_call_of_ours_is_answered_as_before() -> None:
    async def test(conn: QueueConnection, cp: Station) -> None:
        conn.feed('[3,"nobody-asked",{')
        assert (await conn.next_sent())[:3] == [4, "-1", "RpcFrameworkError"]

    run(test)


def test_a_call_error_code_outside_the_twelve_is_taken_as_generic_error() -> None:
    async def test(conn: QueueConnection, cp: Station) -> None:
        pending = asyncio.create_task(cp.call(get_variables(), timeout=2))
        frame = await conn.next_sent()
        conn.feed([4, frame[1], "x" * 500, "d" * 5000, {}])
        with pytest.raises(CallErrorReceived) as info:
            await pending
        assert info.value.code == "GenericError" and len(info.value.description) <= 200

    run(test)


def test_the_connection_closing_during_a_call_raises_connection_lost() -> None:
    async def main() -> None:
        conn = QueueConnection()
        cp = Station(conn)
        served = asyncio.create_task(cp.start())
        first = asyncio.create_task(cp.call(get_variables(), timeout=2))
        waiting = asyncio.create_task(cp.call(call.GetLocalListVersion(), timeout=2))
        await conn.next_sent()
        conn.close()
        with pytest.raises(ConnectionError, match="closed by the charger"):
            await served
        for pending in (first, waiting):
            with pytest.raises(ConnectionLost):
                await pending
        with pytest.raises(ConnectionLost):
            await cp.call(get_variables(), timeout=2)
        assert len(conn.sent) == 1

    asyncio.run(main())


def test_a_call_that_cannot_be_sent_raises_connection_lost() -> None:
    class Broken(QueueConnection):
        async def send(self, text: str) -> None:
            raise OSError("socket gone")

    async def main() -> None:
        cp = Station(Broken())
        with pytest.raises(ConnectionLost) as info:
            await cp.call(get_variables(), timeout=2)
        assert isinstance(info.value.__cause__, OSError) and cp._pending is None

    asyncio.run(main())


def test_call_refuses_what_is_not_a_201_call_payload() -> None:
    async def main() -> None:
        cp = Station(QueueConnection())
        for payload in ({"a": 1}, call_result.Heartbeat(current_time=NOW), call.GetVariables):
            with pytest.raises(TypeError):
                await cp.call(payload, timeout=1)

    asyncio.run(main())


# --- the reader and the worker ------------------------------------------------------------------


def test_a_handler_can_call_the_charger_without_deadlock() -> None:
    async def test(conn: QueueConnection, cp: Station) -> None:
        conn.feed([2, "boot", "BootNotification", BOOT])
        ours = await conn.next_sent()
        assert ours[0] == 2 and ours[2] == "GetVariables"
        conn.feed([3, ours[1], VARIABLES])
        assert await conn.next_sent() == [3, "boot", {"currentTime": NOW, "interval": 300, "status": "Accepted"}]
        assert isinstance(cp.variables, call_result.GetVariables)

    run(test)


def test_answers_are_routed_while_the_worker_is_busy() -> None:
    async def test(conn: QueueConnection, cp: Station) -> None:
        cp.gate.clear()
        conn.feed([2, "slow", "Heartbeat", {}])
        pending = asyncio.create_task(cp.call(get_variables(), timeout=2))
        frame = await conn.next_sent()
        conn.feed([3, frame[1], VARIABLES])
        assert isinstance(await pending, call_result.GetVariables)
        assert cp.handled == ["slow"]  # still in its handler
        cp.gate.set()
        assert await conn.next_sent() == [3, "slow", {"currentTime": NOW}]

    run(test)


def test_calls_are_handled_one_after_another_in_arrival_order_with_bounded_buffering() -> None:
    async def test(conn: QueueConnection, cp: Station) -> None:
        cp.gate.clear()
        for i in range(10):
            conn.feed([2, f"h{i}", "Heartbeat", {}])
        await asyncio.sleep(0.05)
        assert cp.handled == ["h0"] and conn.sent == []
        # one frame in the handler, INBOX_SIZE queued, one held by the waiting reader: the rest stay unread
        assert conn.incoming.qsize() == 10 - 1 - ocpp_rpc.INBOX_SIZE - 1
        cp.gate.set()
        answers = [await conn.next_sent() for _ in range(10)]
        assert [a[1] for a in answers] == [f"h{i}" for i in range(10)] == cp.handled

    run(test)


def test_start_uses_an_overridden_route_message_for_every_frame() -> None:
    class Counting(Station):
        frames = 0

        async def route_message(self, raw: str | bytes) -> None:
            self.frames += 1
            await super().route_message(raw)

    async def test(conn: QueueConnection, cp: Station) -> None:
        conn.feed([2, "h", "Heartbeat", {}])
        conn.feed([3, "unsolicited", {}])
        conn.feed("garbage")
        assert (await conn.next_sent())[:2] == [3, "h"]
        assert (await conn.next_sent())[:3] == [4, "-1", "RpcFrameworkError"]
        assert isinstance(cp, Counting) and cp.frames == 3

    run(test, cls=Counting)


def test_a_failing_send_ends_start_with_that_error() -> None:
    class Broken(QueueConnection):
        async def send(self, text: str) -> None:
            raise OSError("socket gone")

    async def main() -> None:
        conn = Broken()
        cp = Station(conn)
        conn.feed([2, "h", "Heartbeat", {}])
        with pytest.raises(OSError, match="socket gone"):
            await asyncio.wait_for(cp.start(), 2)
        with pytest.raises(RuntimeError):
            await cp.start()  # a connection is served once

    asyncio.run(main())


# --- after-handlers -----------------------------------------------------------------------------


def test_after_runs_after_the_answer_and_its_failure_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cloudbay.ocpp")

    async def test(conn: QueueConnection, cp: Station) -> None:
        conn.feed([2, "boot", "BootNotification", BOOT])
        ours = await conn.next_sent()
        conn.feed([3, ours[1], VARIABLES])
        await conn.next_sent()
        conn.feed([2, "h", "Heartbeat", {}])
        assert await conn.next_sent() == [3, "h", {"currentTime": NOW}]  # the connection goes on
        assert cp.after_saw and cp.after_saw[0][-1][:2] == [3, "boot"]

    run(test)
    failed = [r for r in caplog.records if "after-handler for BootNotification failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is not None


def test_the_end_of_the_connection_cancels_the_worker_and_after_tasks() -> None:
    async def test(conn: QueueConnection, cp: Station) -> None:
        conn.feed([2, "s", "StatusNotification", STATUS])
        assert await conn.next_sent() == [3, "s", {}]
        cp.gate.clear()
        conn.feed([2, "h", "Heartbeat", {}])
        await asyncio.sleep(0.02)
        assert cp.handled == ["h"] and cp.cancelled == []

    cp = run(test)
    assert sorted(cp.cancelled) == ["after", "handler h"]
    assert not cp._after_tasks


# --- handler declaration ------------------------------------------------------------------------


class AuthorizeMixin:
    """Handlers may live in a mixin that is not itself a connection."""

    @handles(Action.authorize)
    def on_authorize(self, id_token: dict[str, Any], **_: Any) -> Any:
        return {"id_token_info": {"status": "Accepted" if id_token["id_token"] == "ok" else "Invalid"}}


class Base(AuthorizeMixin, RpcConnection):
    @handles("Heartbeat")
    def on_heartbeat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time=NOW)

    @handles(Action.data_transfer, skip_schema_validation=True)
    def on_data_transfer(self, **kwargs: Any) -> Any:
        return {"status": "Accepted", "data": sorted(kwargs), "amount": decimal.Decimal("1.25")}


class Undecorated(Base):
    def on_heartbeat(self, **_: Any) -> Any:  # a redefinition without @handles drops the route
        return call_result.Heartbeat(current_time="never")


class Renamed(Base):
    @handles(Action.heartbeat)
    def beat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time="2025-01-01T00:00:00Z")


def answers(cls: type[RpcConnection], *frames: Any) -> list[Any]:
    async def main() -> list[Any]:
        conn = QueueConnection()
        cp = cls("CP1", conn)
        for frame in frames:
            await cp.route_message(json.dumps(frame))
        return conn.sent

    return asyncio.run(main())


def test_handlers_are_inherited_from_bases_and_mixins() -> None:
    authorize = [2, "a", "Authorize", {"idToken": {"idToken": "ok", "type": "Central"}}]
    sent = answers(Base, authorize, [2, "h", "Heartbeat", {}])
    assert sent == [[3, "a", {"idTokenInfo": {"status": "Accepted"}}], [3, "h", {"currentTime": NOW}]]


def test_a_subclass_overrides_or_drops_a_handler() -> None:
    assert answers(Undecorated, [2, "h", "Heartbeat", {}])[0][2] == "NotSupported"
    assert answers(Renamed, [2, "h", "Heartbeat", {}]) == [[3, "h", {"currentTime": "2025-01-01T00:00:00Z"}]]
    assert "Authorize" in Undecorated._on_routes and "Heartbeat" not in Undecorated._on_routes


def test_skip_schema_validation_lets_any_object_reach_the_handler() -> None:
    sent = answers(Base, [2, "d", "DataTransfer", {"notInSchema": 1, "vendorId": "V"}])
    assert sent == [[3, "d", {"status": "Accepted", "data": ["not_in_schema", "vendor_id"], "amount": 1.25}]]


def test_handles_refuses_names_that_are_not_201_actions() -> None:
    with pytest.raises(ValueError):
        handles("StartTransaction")
    with pytest.raises(ValueError):
        after("Bogus")


def test_a_failing_frame_error_hook_is_logged_and_the_answer_stands(caplog: pytest.LogCaptureFixture) -> None:
    class Hooked(Base):
        async def on_frame_error(self, code: str, message_id: str) -> None:
            raise RuntimeError("hook bug")

    caplog.set_level(logging.WARNING, logger="cloudbay.ocpp")
    sent = answers(Hooked, [2, "m", "FooBar", {}])
    assert sent[0][:3] == [4, "m", "NotImplemented"]
    assert any("on_frame_error hook failed" in r.getMessage() for r in caplog.records)


keys = st.sampled_from(["soc", "ocpp_csms_url", "evse_id", "v2x_charging", "responder_url", "soc_limit_reached"])
keys |= st.text(alphabet="abc_vx2gsoc", min_size=1, max_size=14)
nested = st.recursive(
    st.integers(), lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4)
)


@settings(max_examples=150, deadline=None, database=None)
@given(nested)
def test_cached_camel_case_equals_the_library(payload: Any) -> None:
    assert camel_case(payload) == snake_to_camel_case(payload)
