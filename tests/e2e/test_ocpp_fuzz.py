"""Fuzzing the OCPP endpoint over a real WebSocket: one `cloudbay serve`, one whitelisted charger, raw frames.

Frames come from ``tests/ocpp_frames.py``: schema-valid payloads of every charger-initiated action, the same
payloads broken, and frames that are not OCPP-J. After every frame a Heartbeat probe checks that the
connection still serves. Asserted for each frame: the connection survives (or is closed with 1009 for a frame
over the configured size), the frame gets exactly one answer (none for a CALLRESULT/CALLERROR the charger
sends), a CALLRESULT that fits the action's response schema or a CALLERROR with one of the twelve OCPP 2.0.1
codes, never InternalError (the store is up). After the run: the RSS of serve and of its projector child
each grew by at most 100 MiB (a subprocess: the generator's own memory is not counted), ``/readyz`` is ready
with every projection caught up and none failed, none skipped an event, no stored event is larger than the
configured frame limit and no stored vendor payload larger than its stored-payload limit.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, example, given, settings
from jsonschema import Draft6Validator
from ocpp.messages import get_validator
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from adapters.ocpp.rpc import OCPP201_ERROR_CODES
from adapters.settings import Settings
from adapters.wiring import build_log, build_platform
from projections.db import ReadModelDB
from tests.e2e.servers import Served, base_env
from tests.ocpp_frames import frames, nested

STATION = "CB-FUZZ"
MAX_FRAME = 128 * 1024
MAX_STORED = 4096
RSS_BOUND_MIB = 100
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))  # per store: ~6 s on 2 vCPUs; more for a deeper run


TX = {"eventType": "Updated", "timestamp": "2026-11-25T10:00:00Z", "triggerReason": "MeterValuePeriodic"}
TX_INFO = {"transactionInfo": {"transactionId": "FUZZ-TX"}}
SAMPLE = {"timestamp": "2026-11-25T10:00:00Z", "sampledValue": [{"value": 1.0}]}
#: Cases tried on every run, whatever hypothesis draws: over the frame limit (just, and far), the largest
#: seqNos, a lone surrogate, nesting past the limit, samples past the limit.
EXPLICIT = [
    ("malformed", json.dumps([2, "big", "DataTransfer", {"vendorId": "V", "data": "x" * MAX_FRAME}])),
    ("malformed", "[" * (4 * MAX_FRAME)),
    *[("valid", [2, "seq", "TransactionEvent", {**TX, **TX_INFO, "seqNo": n}]) for n in (0, 2**31 - 1, 2**31, 1e300)],
    ("malformed", '[2, "s", "Heartbeat", {"customData": {"vendorId": "\\udc00"}}]'),
    ("valid", [2, "deep", "DataTransfer", {"vendorId": "V", "data": nested(900)}]),
    ("valid", [2, "many", "MeterValues", {"evseId": 1, "meterValue": [SAMPLE] * 51}]),
]


def with_examples(test: Any) -> Any:
    for case in EXPLICIT:
        test = example(case)(test)
    return test


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def processes(served: Served) -> dict[str, int]:
    """serve and its `cloudbay project` child, by PID."""
    children = Path(f"/proc/{served.pid}/task/{served.pid}/children").read_text().split()
    return {"serve": served.pid, **({"projector": int(children[0])} if children else {})}


class Charger:
    """The fuzzing charger's socket, reopened after a close the test expected (1009)."""

    def __init__(self, served: Served) -> None:
        self.url = f"{served.ws}/ocpp/{STATION}"
        self.ws = self._open()
        self.seen: Counter[str] = Counter()
        self.sent = 0

    def _open(self) -> ClientConnection:
        ws = connect(self.url, subprotocols=["ocpp2.0.1"], max_size=None, ping_interval=None)  # type: ignore[list-item]
        return ws.__enter__()  # closed by close(), or by the server (1009)

    def close(self) -> None:
        self.ws.__exit__(None, None, None)

    def send(self, kind: str, drawn: Any) -> None:
        if isinstance(drawn, list):  # a CALL: its message id made unique (ids are answered once, then replayed)
            self.sent += 1
            drawn = [drawn[0], f"{self.sent}:{drawn[1]}"[:36], *drawn[2:]]
        frame = drawn if isinstance(drawn, str) else json.dumps(drawn)
        expect_close = len(frame.encode("utf-8", "surrogatepass")) > MAX_FRAME
        probe = uuid.uuid4().hex
        try:
            self.ws.send(frame)
            self.ws.send(json.dumps([2, probe, "Heartbeat", {}]))
            replies = self._until(probe)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            assert expect_close and code == 1009, (code, frame[:300])
            self.seen["closed 1009"] += 1
            self.ws = self._open()
            return
        assert not expect_close, f"a frame over {MAX_FRAME} bytes was not refused"
        assert len(replies) == (0 if answerless(frame) else 1), (frame[:300], replies)
        for reply in replies:
            self.seen[check_reply(kind, frame, reply)] += 1

    def _until(self, probe: str) -> list[Any]:
        replies: list[Any] = []
        while True:
            reply = json.loads(self.ws.recv(timeout=15))
            if reply[:2] == [3, probe]:
                return replies
            replies.append(reply)


def answerless(frame: str) -> bool:
    """A CALLRESULT or CALLERROR from the charger is routed (or dropped), never answered."""
    try:
        decoded = json.loads(frame)
    except ValueError:
        return False
    return isinstance(decoded, list) and bool(decoded) and type(decoded[0]) is int and decoded[0] in (3, 4)


def check_reply(kind: str, frame: str, reply: Any) -> str:
    assert isinstance(reply, list) and reply and reply[0] in (3, 4), reply
    if reply[0] == 4:
        assert len(reply) == 5 and isinstance(reply[1], str) and isinstance(reply[4], dict), reply
        assert reply[2] in OCPP201_ERROR_CODES, reply
        assert reply[2] != "InternalError", (kind, frame[:500], reply)
        return reply[2]
    assert len(reply) == 3, reply
    action = json.loads(frame)[2]
    response = get_validator(3, action, "2.0.1").schema
    errors = [e.message for e in Draft6Validator(response).iter_errors(reply[2])]
    assert not errors, (action, reply, errors)
    return "CALLRESULT"


def check_store(settings: Settings) -> None:
    log = build_log(settings)
    start, largest = 1, 0
    try:
        while batch := log.recorder.select_notifications(start, 500):
            for n in batch:
                largest = max(largest, len(n.state))
                event = log.mapper.to_domain_event(n)
                for field in ("data", "event_data"):
                    value = getattr(event, field, None)
                    if value is not None:
                        assert len(json.dumps(value, separators=(",", ":"))) <= MAX_STORED, (n.topic, field)
            start = batch[-1].id + 1
    finally:
        log.close()
    assert largest <= MAX_FRAME, f"an event of {largest} bytes was stored"


def check_read_models(served: Served, settings: Settings) -> None:
    """Every projection caught up with the store and running; none skipped an event."""
    deadline, body = time.monotonic() + 20, {}
    while time.monotonic() < deadline:
        ready = httpx.get(f"{served.base}/readyz", timeout=5)
        body = ready.json()
        models = body.get("read_models") or {}
        assert all(model["failure"] is None for model in models.values()), body
        if ready.status_code == 200 and all(model["lag"] == 0 for model in models.values()):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"read models not caught up and ready: {body}")
    db = ReadModelDB(settings.store)
    try:
        assert db.query("SELECT projection, position, error FROM rm_skipped") == []
    finally:
        db.close()


def test_fuzzed_frames_get_spec_answers_and_poison_nothing(store_url: str, tmp_path: Path) -> None:
    limits = {"CLOUDBAY_OCPP_MAX_FRAME": str(MAX_FRAME), "CLOUDBAY_OCPP_MAX_STORED_PAYLOAD": str(MAX_STORED)}
    env = base_env(store_url, tmp_path / "data", CLOUDBAY_OCPP_MAX_SAMPLES="50", **limits)
    config = Settings.from_env(env)
    with build_platform(config) as platform:
        platform.chargers.whitelist(STATION, "default")
    served = Served(env, tmp_path / "serve.log").start()
    charger: Charger | None = None
    try:
        charger = Charger(served)
        pids = processes(served)
        before = {name: rss_mib(pid) for name, pid in pids.items()}

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: against a live server it takes minutes
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        )
        @given(frames)
        @with_examples
        def one_frame(case: tuple[str, Any]) -> None:
            assert charger is not None
            charger.send(*case)

        one_frame()
        grown = {name: rss_mib(pid) - before[name] for name, pid in pids.items()}
        assert all(mib < RSS_BOUND_MIB for mib in grown.values()), f"RSS grew by {grown} MiB"
        check_read_models(served, config)
        check_store(config)
        print(dict(charger.seen), {name: f"RSS +{mib:.1f} MiB" for name, mib in grown.items()})
    finally:
        if charger is not None:
            charger.close()
        served.stop()
