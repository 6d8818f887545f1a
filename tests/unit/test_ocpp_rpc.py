"""The OCPP-J RPC layer answers every frame the way OCPP 2.0.1 Part 4 says."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator
from ocpp.exceptions import (
    FormationViolationError,
    OccurenceConstraintViolationError,
    SecurityError,
)
from ocpp.messages import Call
from ocpp.v201 import call, call_result
from ocpp.v201.datatypes import ComponentType, GetVariableDataType, VariableType
from ocpp.v201.enums import Action

from adapters.ocpp import rpc as ocpp_rpc
from adapters.ocpp import rpc_schema
from adapters.ocpp.rpc import OCPP201_ERROR_CODES, CallErrorReceived, RpcConnection, after, handles

NOW = "2024-01-01T00:00:00Z"
BOOT = {"chargingStation": {"model": "M1", "vendorName": "V"}, "reason": "PowerUp"}


class MemoryConnection:
    """Stands in for a websocket: records every frame sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def recv(self) -> str:
        raise ConnectionError("nothing to receive")

    async def send(self, text: str) -> None:
        self.sent.append(text)


class DemoChargePoint(RpcConnection):
    validate_responses = True

    def __init__(self, station_id: str, connection: MemoryConnection) -> None:
        super().__init__(station_id, connection)
        self._connection: MemoryConnection = connection
        self.heartbeats = 0
        self.after_boot: list[tuple[dict[str, Any], int]] = []
        self.frame_errors: list[tuple[str, str]] = []

    async def on_frame_error(self, code: str, message_id: str) -> None:
        self.frame_errors.append((code, message_id))

    @handles(Action.heartbeat)
    def on_heartbeat(self, **kwargs: Any) -> call_result.Heartbeat:
        self.heartbeats += 1
        return call_result.Heartbeat(current_time=NOW)

    @handles(Action.boot_notification)
    async def on_boot(self, charging_station: dict[str, Any], reason: str, **kwargs: Any) -> Any:
        return call_result.BootNotification(current_time=NOW, interval=300, status="Accepted")

    @after(Action.boot_notification)
    async def after_boot_notification(self, **kwargs: Any) -> None:
        self.after_boot.append((kwargs, len(self._connection.sent)))

    @handles(Action.status_notification)
    def on_status(self, **kwargs: Any) -> Any:
        raise RuntimeError("db password is hunter2")

    @handles(Action.authorize)
    def on_authorize(self, id_token: dict[str, Any], **kwargs: Any) -> Any:
        kind = id_token["id_token"]
        if kind == "security":
            raise SecurityError(description="nope", details={"cause": "bad", "msg": Call("1", "X", {})})
        if kind == "formation":
            raise FormationViolationError()
        raise OccurenceConstraintViolationError(details={"cause": "need more"})

    @handles(Action.firmware_status_notification)
    def on_firmware(self, **kwargs: Any) -> Any:
        return call_result.FirmwareStatusNotification(custom_data={"no": "vendorId"})

    @after(Action.notify_event)
    def after_notify_event(self, **kwargs: Any) -> None:
        """An @after without a @handles: the action stays unsupported."""


def drive(*frames: Any, cls: type[DemoChargePoint] = DemoChargePoint) -> tuple[DemoChargePoint, list[Any]]:
    """Route frames (dumped unless already text) through a fresh charge point."""

    async def main() -> DemoChargePoint:
        cp = cls("CP1", MemoryConnection())
        for frame in frames:
            await cp.route_message(frame if isinstance(frame, (str, bytes)) else json.dumps(frame))
        await asyncio.sleep(0)  # let @after tasks run
        return cp

    cp = asyncio.run(main())
    return cp, [json.loads(text) for text in cp._connection.sent]


def assert_error(frame: list[Any], uid: str, code: str) -> None:
    assert len(frame) == 5 and frame[:3] == [4, uid, code]
    assert isinstance(frame[3], str) and isinstance(frame[4], dict)


def only_error(*frames: Any) -> tuple[DemoChargePoint, list[Any]]:
    cp, sent = drive(*frames)
    assert len(sent) == 1
    return cp, sent[0]


# --- frame level --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ['[2, "m1", "Heartbeat"', "not json", '{"a": 1}', "42", "[]", "\xff", b"\xff\xfe", "[" * 5000],
)
def test_broken_frames_get_rpc_framework_error_with_unknown_id(raw: Any) -> None:
    cp, frame = only_error(raw)
    assert_error(frame, "-1", "RpcFrameworkError")
    assert "cause" in frame[4]
    assert cp.frame_errors == [("RpcFrameworkError", "-1")]


@pytest.mark.parametrize("uid", [42, None, ["a"], "x" * 37])
def test_unusable_message_id_gets_rpc_framework_error(uid: Any) -> None:
    _, frame = only_error([2, uid, "Heartbeat", {}])
    assert_error(frame, "-1", "RpcFrameworkError")


def test_message_id_of_36_chars_is_fine() -> None:
    _, sent = drive([2, "x" * 36, "Heartbeat", {}])
    assert sent == [[3, "x" * 36, {"currentTime": NOW}]]


@pytest.mark.parametrize("frame", [[2, "m1"], [2, "m1", "Heartbeat"], [2, "m1", 7, {}], [2, "m1", "Heartbeat", {}, 1]])
def test_call_with_wrong_elements_gets_rpc_framework_error_with_its_id(frame: list[Any]) -> None:
    _, answer = only_error(frame)
    assert_error(answer, "m1", "RpcFrameworkError")


@pytest.mark.parametrize("kind", [5, 6, "2", 2.0, True, None, 0])
def test_unknown_message_type_gets_message_type_not_supported(kind: Any) -> None:
    cp, frame = only_error([kind, "m1", "Heartbeat", {}])
    assert_error(frame, "m1", "MessageTypeNotSupported")
    assert cp.frame_errors == [("MessageTypeNotSupported", "m1")]


@pytest.mark.parametrize("frame", [[5], [6, 99], [7, "y" * 40]])
def test_unknown_message_type_without_readable_id_uses_minus_one(frame: list[Any]) -> None:
    _, answer = only_error(frame)
    assert_error(answer, "-1", "MessageTypeNotSupported")


# --- action level -------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["StartTransaction", "FooBar", ""])
def test_action_unknown_to_ocpp_201_is_not_implemented(action: str) -> None:
    cp, frame = only_error([2, "m1", action, {}])
    assert_error(frame, "m1", "NotImplemented")
    assert cp.frame_errors == [("NotImplemented", "m1")]


@pytest.mark.parametrize("action", ["MeterValues", "NotifyEvent"])
def test_ocpp_201_action_without_on_handler_is_not_supported(action: str) -> None:
    _, frame = only_error([2, "m1", action, {}])
    assert_error(frame, "m1", "NotSupported")


@pytest.mark.parametrize("payload", [[], "x", 1, None])
def test_payload_that_is_not_an_object_is_format_violation(payload: Any) -> None:
    _, frame = only_error([2, "m1", "Heartbeat", payload])
    assert_error(frame, "m1", "FormatViolation")


# --- schema -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        ("BootNotification", {"chargingStation": BOOT["chargingStation"]}, "OccurrenceConstraintViolation"),
        ("Heartbeat", {"foo": 1}, "FormatViolation"),
        ("BootNotification", {**BOOT, "reason": 5}, "TypeConstraintViolation"),
        (
            "BootNotification",
            {**BOOT, "chargingStation": {"model": "M" * 21, "vendorName": "V"}},
            "TypeConstraintViolation",
        ),
        ("BootNotification", {**BOOT, "reason": "Bogus"}, "PropertyConstraintViolation"),
    ],
)
def test_schema_violations_use_201_codes(action: str, payload: dict[str, Any], code: str) -> None:
    cp, frame = only_error([2, "m1", action, payload])
    assert_error(frame, "m1", code)
    assert set(frame[4]) == {"cause"} and isinstance(frame[4]["cause"], str)
    assert cp.frame_errors == [(code, "m1")]


@pytest.mark.parametrize(
    ("schema", "payload", "code"),
    [
        ({"properties": {"n": {"type": "integer", "minimum": 0}}}, {"n": -1}, "PropertyConstraintViolation"),
        ({"properties": {"n": {"type": "integer", "maximum": 9}}}, {"n": 10}, "PropertyConstraintViolation"),
        ({"properties": {"xs": {"uniqueItems": True}}}, {"xs": [1, 1]}, "FormatViolation"),
    ],
)
def test_other_schema_keywords(
    monkeypatch: pytest.MonkeyPatch, schema: dict[str, Any], payload: dict[str, Any], code: str
) -> None:
    monkeypatch.setattr(rpc_schema, "get_validator", lambda *args: Draft4Validator(schema))
    monkeypatch.setattr(rpc_schema, "compiled", rpc_schema.compiled.__wrapped__)  # compile the patched schema
    _, frame = only_error([2, "m1", "Heartbeat", payload])
    assert_error(frame, "m1", code)


def test_legacy_occurrence_spelling_is_never_sent() -> None:
    _, sent = drive(
        [2, "a", "BootNotification", {"reason": "PowerUp"}],
        [2, "b", "Authorize", {"idToken": {"idToken": "occurrence", "type": "Central"}}],
    )
    assert [frame[2] for frame in sent] == ["OccurrenceConstraintViolation"] * 2


# --- handlers -----------------------------------------------------------------------------------


def test_valid_calls_get_call_results_and_after_runs_after_the_answer() -> None:
    cp, sent = drive([2, "h", "Heartbeat", {}], [2, "b", "BootNotification", BOOT])
    assert sent == [
        [3, "h", {"currentTime": NOW}],
        [3, "b", {"currentTime": NOW, "interval": 300, "status": "Accepted"}],
    ]
    assert cp.after_boot == [({"charging_station": {"model": "M1", "vendor_name": "V"}, "reason": "PowerUp"}, 2)]


@pytest.mark.parametrize(
    ("token", "code"),
    [("security", "SecurityError"), ("formation", "FormatViolation"), ("occurrence", "OccurrenceConstraintViolation")],
)
def test_handler_ocpp_errors_keep_their_code(token: str, code: str) -> None:
    cp, frame = only_error([2, "m1", "Authorize", {"idToken": {"idToken": token, "type": "Central"}}])
    assert_error(frame, "m1", code)
    assert cp.frame_errors == []  # a handler answered, not the RPC layer


def test_handler_error_details_are_json_only() -> None:
    _, frame = only_error([2, "m1", "Authorize", {"idToken": {"idToken": "security", "type": "Central"}}])
    assert frame == [4, "m1", "SecurityError", "nope", {"cause": "bad"}]


def test_crashing_handler_is_internal_error_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="cloudbay.ocpp")
    payload = {"timestamp": NOW, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
    cp, frame = only_error([2, "m1", "StatusNotification", payload])
    assert_error(frame, "m1", "InternalError")
    assert frame[4] == {} and "hunter2" not in json.dumps(frame)
    errors = [r for r in caplog.records if r.name == "cloudbay.ocpp" and r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert cp.frame_errors == []


def test_protocol_errors_log_one_warning_line_without_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="cloudbay.ocpp")
    drive("nope\n[", [2, "m1", "Heartbeat", {"x": "a\nb"}])
    records = [r for r in caplog.records if r.name == "cloudbay.ocpp"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in records)


def test_responses_are_only_validated_when_asked() -> None:
    class Lenient(DemoChargePoint):
        validate_responses = False

    frame = [2, "m1", "FirmwareStatusNotification", {"status": "Installed"}]
    _, strict = drive(frame)
    _, lenient = drive(frame, cls=Lenient)
    assert_error(strict[0], "m1", "InternalError")
    assert lenient == [[3, "m1", {"customData": {"no": "vendorId"}}]]


# --- duplicates ---------------------------------------------------------------------------------


def test_duplicate_call_id_is_answered_from_cache_without_rerunning_the_handler() -> None:
    cp, _ = drive([2, "dup", "Heartbeat", {}], [2, "dup", "Heartbeat", {}])
    assert cp.heartbeats == 1
    first, second = cp._connection.sent
    assert first == second == json.dumps([3, "dup", {"currentTime": NOW}], separators=(",", ":"))


def test_duplicate_of_an_error_answer_is_replayed_too() -> None:
    cp, sent = drive([2, "e", "MeterValues", {}], [2, "e", "MeterValues", {}])
    assert sent[0] == sent[1] and sent[0][2] == "NotSupported"


def test_answer_cache_is_bounded() -> None:
    frames = [[2, f"id{i}", "Heartbeat", {}] for i in range(ocpp_rpc.RpcConnection.answer_cache_size + 1)]
    cp, _ = drive(*frames, [2, "id0", "Heartbeat", {}], [2, f"id{len(frames) - 1}", "Heartbeat", {}])
    assert cp.heartbeats == len(frames) + 1


# --- responses from the charger -----------------------------------------------------------------


def get_variables() -> call.GetVariables:
    data = GetVariableDataType(
        component=ComponentType(name="OCPPCommCtrlr"), variable=VariableType(name="HeartbeatInterval")
    )
    return call.GetVariables(get_variable_data=[data])


async def csms_call(answer: list[Any]) -> tuple[Any, DemoChargePoint]:
    """Make a CSMS call and answer it with ``answer``, its id ``"csms-1"`` replaced by the call's own id."""
    conn = MemoryConnection()
    cp = DemoChargePoint("CP1", conn)
    task = asyncio.ensure_future(cp.call(get_variables(), timeout=5))
    while not conn.sent:
        await asyncio.sleep(0.001)
    kind, uid, action = json.loads(conn.sent[0])[:3]
    assert (kind, action) == (2, "GetVariables")
    await cp.route_message(json.dumps([answer[0], uid, *answer[2:]]))
    return await asyncio.wait_for(task, 5), cp


def test_csms_initiated_call_gets_its_call_result() -> None:
    result_payload = {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "attributeValue": "300",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
            }
        ]
    }
    result, cp = asyncio.run(csms_call([3, "csms-1", result_payload]))
    assert isinstance(result, call_result.GetVariables)
    assert result.get_variable_result[0]["attribute_value"] == "300"
    assert len(cp._connection.sent) == 1


def test_csms_initiated_call_gets_its_call_error() -> None:
    with pytest.raises(CallErrorReceived) as info:
        asyncio.run(csms_call([4, "csms-1", "SecurityError", "no", {}]))
    assert info.value.code == "SecurityError"


@pytest.mark.parametrize(
    "frame",
    [
        [3, "x", {}],
        [3, "x"],
        [3, "x", []],
        [3, 5, {}],
        [4, "x", "GenericError", "d"],
        [4, "x", "GenericError", "d", []],
        [4, "x", 1, "d", {}],
    ],
)
def test_unsolicited_or_broken_responses_are_dropped_unanswered(frame: list[Any]) -> None:
    cp, sent = drive(frame)
    assert sent == [] and cp._pending is None


# --- fuzz ---------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
frame_like = st.builds(
    lambda kind, uid, action, payload, extra: [kind, uid, action, payload][: 4 - extra],
    st.sampled_from([2, 3, 4, 5, "2", 2.0]) | json_values,
    st.text(max_size=40) | json_values,
    st.sampled_from([a.value for a in Action]) | st.text(max_size=20),
    st.dictionaries(st.sampled_from(["chargingStation", "reason", "idToken", "foo", "customData"]), json_values)
    | json_values,
    st.integers(0, 4),
)
raw_frames = st.text() | json_values.map(json.dumps) | frame_like.map(json.dumps)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_frames)
def test_route_message_never_raises_and_answers_with_spec_codes(raw: str) -> None:
    _, sent = drive(raw)
    assert len(sent) <= 1
    for frame in sent:
        assert frame[0] in (3, 4)
        if frame[0] == 4:
            assert len(frame) == 5 and frame[2] in OCPP201_ERROR_CODES
            assert isinstance(frame[1], str) and len(frame[1]) <= 36
            assert isinstance(frame[3], str) and isinstance(frame[4], dict)
