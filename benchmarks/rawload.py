"""Raw-frame OCPP 2.0.1 chargers for the benchmarks, spread over several load processes.

Each simulated charger is one WebSocket (``websockets``' asyncio client, no compression, no pings) speaking
OCPP-J with hand-made JSON frames: no schema validation and no ``ocpp`` library on the client side, so the
generator costs little per message. A charger has at most one CALL outstanding (OCPP's rule): closed loop.
Calls the CSMS makes (e.g. GetLocalListVersion after a boot) are answered between the charger's own calls.

The parent process starts ``processes`` load processes (``spawn``), gives each a share of the stations, and
steers them through three shared values: ``ready`` (chargers connected, booted and reported), ``go`` (the wall
clock time at which the measured work starts; 0 until the parent sets it) and ``stop``. Each process sends back
an ``Outcome``: every answer as (wall time, round trip) per action, and every failure counted by its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import multiprocessing as mp
import random
import resource
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from procstat import cpu_seconds
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

OCPP201 = Subprotocol("ocpp2.0.1")
SCENARIOS = ("transactions", "heartbeats", "idle", "boot", "open")  # open: connected, nothing sent
ENERGY, POWER = "Energy.Active.Import.Register", "Power.Active.Import"
TRIGGERS = {"Started": "CablePluggedIn", "Ended": "EVCommunicationLost"}
BOOT = {"chargingStation": {"model": "RawLoad", "vendorName": "CloudBay"}, "reason": "PowerUp"}
# what a charger answers to the CSMS's calls; anything else gets CALLERROR NotSupported
ANSWERS: dict[str, dict[str, Any]] = {
    "GetLocalListVersion": {"versionNumber": 0},
    "SendLocalList": {"status": "Accepted"},
    "SetVariables": {"setVariableResult": []},
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Plan:
    """What one load process runs (sent to it pickled)."""

    url: str  # ws://127.0.0.1:PORT/ocpp: each charger connects to URL/<station id>
    stations: list[str]
    scenario: str  # one of SCENARIOS
    sources: list[str]  # local addresses to connect from, round robin (one address has ~28k ephemeral ports)
    connect_concurrency: int = 100  # handshakes in flight at once per process; "boot" opens all at once at go
    call_timeout: float = 10.0
    samples: int = 5  # TransactionEvent Updated per transaction
    heartbeat_interval: float | None = None  # idle: None = the interval of the BootNotification answer
    retry_after: float = 0.0  # seconds (randomised +-50%) before a failed connect or boot is tried again; 0: never
    give_up_after: float = 60.0  # no retry begins later than this after go


@dataclass
class Outcome:
    """What one load process sends back."""

    answered: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    connected: int = 0
    accepted_after: list[float] = field(default_factory=list)  # "boot": seconds from go to Accepted
    peak_open: int = 0
    retries: int = 0

    def merge(self, other: Outcome) -> None:
        for action, answers in other.answered.items():
            self.answered[action] += answers
        self.errors += other.errors
        self.connected += other.connected
        self.accepted_after += other.accepted_after
        self.peak_open += other.peak_open
        self.retries += other.retries

    def calls(self, action: str | None, since: float, until: float) -> list[float]:
        """Round trips (seconds) of the calls of ``action`` (None: every action) answered in [since, until]."""
        picked = self.answered.values() if action is None else [self.answered.get(action, [])]
        return [rtt for answers in picked for at, rtt in answers if since <= at <= until]


def describe(e: BaseException) -> str:
    """A failure as the benchmark reports it: refused, timed out, rejected, dropped."""
    if isinstance(e, InvalidStatus):
        return f"upgrade refused: HTTP {e.response.status_code}"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, TimeoutError):
        return "timeout"
    if isinstance(e, ConnectionClosed):
        return f"connection closed ({e.rcvd.code if e.rcvd else 'no close frame'})"
    if isinstance(e, ConnectionResetError):
        return "connection reset"
    if isinstance(e, InvalidHandshake | OSError):
        return f"{type(e).__name__}: {e}"
    return f"{type(e).__name__}"


class CallFailed(Exception):
    """A CALLERROR, or no answer within the call timeout: counted, and the charger goes on."""


class RawCharger:
    """One charger's OCPP-J side over one WebSocket."""

    def __init__(self, ws: ClientConnection, out: Outcome, timeout: float) -> None:
        self.ws, self.out, self.timeout = ws, out, timeout
        self.ids = itertools.count(1)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        message_id = str(next(self.ids))
        t0 = time.perf_counter()
        await self.ws.send(json.dumps([2, message_id, action, payload], separators=(",", ":")))
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    frame = json.loads(await self.ws.recv())
                    if frame[0] == 2:
                        await self.answer(frame)
                    elif frame[1] == message_id:  # an answer to an earlier, timed-out call is dropped
                        break
        except TimeoutError:
            self.out.errors[f"{action}: no answer within {self.timeout:g}s"] += 1
            raise CallFailed from None
        rtt = time.perf_counter() - t0
        if frame[0] == 4:
            self.out.errors[f"{action}: CALLERROR {frame[2]}"] += 1
            raise CallFailed
        self.out.answered[action].append((time.time(), rtt))
        return dict(frame[2])

    async def listen(self, seconds: float) -> None:
        """Answer the CSMS's calls for ``seconds`` (an idle charger)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    frame = json.loads(await self.ws.recv())
                    if frame[0] == 2:
                        await self.answer(frame)

    async def answer(self, frame: list[Any]) -> None:
        payload = ANSWERS.get(frame[2])
        reply = [3, frame[1], payload] if payload is not None else [4, frame[1], "NotSupported", "", {}]
        await self.ws.send(json.dumps(reply, separators=(",", ":")))


def transaction_events(samples: int) -> Iterator[dict[str, Any]]:
    """TransactionEvents without end: Started, ``samples`` Updated with a rising register, Ended; again."""
    register = 0.0
    for n in itertools.count():
        tx_id = f"T{n:06d}{random.getrandbits(32):08x}"
        for seq in range(samples + 2):
            kind = "Started" if seq == 0 else "Ended" if seq == samples + 1 else "Updated"
            register += 0 if seq == 0 else 25.0
            info: dict[str, Any] = {"transactionId": tx_id, "chargingState": "Idle" if kind == "Ended" else "Charging"}
            if kind == "Ended":
                info["stoppedReason"] = "EVDisconnected"
            at = now_iso()
            sampled = [
                {"value": register, "measurand": ENERGY, "unitOfMeasure": {"unit": "Wh"}},
                {"value": 0.0 if kind == "Ended" else 11000.0, "measurand": POWER, "unitOfMeasure": {"unit": "W"}},
            ]
            yield {
                "eventType": kind,
                "timestamp": at,
                "triggerReason": TRIGGERS.get(kind, "MeterValuePeriodic"),
                "seqNo": seq,
                "transactionInfo": info,
                "meterValue": [{"timestamp": at, "sampledValue": sampled}],
                "evse": {"id": 1, "connectorId": 1},
            }


class Steering:
    """The parent's shared values, seen from one load process's event loop."""

    def __init__(self, ready: Any, go: Any, stop: Any) -> None:
        self._ready, self._go, self._stop = ready, go, stop
        self.started, self.stopping = asyncio.Event(), asyncio.Event()
        self.go_at = 0.0

    def mark_ready(self) -> None:
        with self._ready.get_lock():
            self._ready.value += 1

    async def watch(self) -> None:
        while not self.stopping.is_set():
            if not self.started.is_set() and self._go.value:
                self.go_at = float(self._go.value)
                await asyncio.sleep(max(0.0, self.go_at - time.time()))
                self.started.set()
            if self._stop.is_set():
                self.stopping.set()
            await asyncio.sleep(0.02)


async def run_station(plan: Plan, index: int, out: Outcome, steer: Steering, gate: asyncio.Semaphore) -> None:
    """Connect and set up (at most ``gate`` at once), then run the scenario until told to stop; with
    ``retry_after``, a failed connect or boot is tried again after a random back-off, until ``give_up_after``
    seconds after go. Marked ready once: when set up, or when it gave up."""
    if plan.scenario == "boot":
        await steer.started.wait()
    ready = [False]
    try:
        while await session(plan, index, out, steer, gate, ready) and plan.retry_after:
            if steer.stopping.is_set() or time.time() - steer.go_at > plan.give_up_after:
                break
            out.retries += 1
            await asyncio.sleep(random.uniform(0.5, 1.5) * plan.retry_after)
    finally:
        if not ready[0]:
            steer.mark_ready()


async def session(
    plan: Plan, index: int, out: Outcome, steer: Steering, gate: asyncio.Semaphore, ready: list[bool]
) -> bool:
    """One connection of one charger; True if it failed before the charger was set up (worth a retry)."""
    ws: ClientConnection | None = None
    try:
        async with gate:
            ws = await connect(
                f"{plan.url}/{plan.stations[index]}",
                subprotocols=[OCPP201],
                compression=None,
                ping_interval=None,
                proxy=None,
                open_timeout=plan.call_timeout,
                close_timeout=1,
                local_addr=(plan.sources[index % len(plan.sources)], 0),
            )
            out.connected += 1
            charger = RawCharger(ws, out, plan.call_timeout)
            boot = await set_up(plan, charger, out, steer)
        if boot is None:
            return True
        steer.mark_ready()
        ready[0] = True
        await steer.started.wait()
        await scenario(plan, charger, boot, steer)
    except CallFailed:
        pass
    except Exception as e:  # refused, timed out, rejected, dropped: counted, never hidden
        out.errors[f"{'dropped' if ws is not None else 'connect'}: {describe(e)}"] += 1
    finally:
        if ws is not None:
            await ws.close()
    return not ready[0]


async def set_up(plan: Plan, charger: RawCharger, out: Outcome, steer: Steering) -> dict[str, Any] | None:
    """BootNotification (and StatusNotification Available); the boot answer, or None if not Accepted."""
    if plan.scenario == "open":
        return {}
    boot = await charger.call("BootNotification", BOOT)
    if boot.get("status") != "Accepted":
        out.errors[f"BootNotification answered {boot.get('status')}"] += 1
        return None
    if plan.scenario == "boot":
        out.accepted_after.append(time.time() - steer.go_at)
        return boot
    status = {"timestamp": now_iso(), "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
    await charger.call("StatusNotification", status)
    return boot


async def scenario(plan: Plan, charger: RawCharger, boot: dict[str, Any], steer: Steering) -> None:
    """The scenario's loop, until told to stop: closed-loop calls, or an idle charger's heartbeats."""
    if plan.scenario in ("boot", "open"):  # connected until the process is told to stop (its task is cancelled)
        await charger.listen(float("inf"))
    if plan.scenario == "idle":
        interval = plan.heartbeat_interval or float(boot.get("interval") or 300)
        await charger.listen(random.uniform(0, interval))  # the fleet's beats spread over the interval
        while True:
            t0 = time.monotonic()
            with contextlib.suppress(CallFailed):
                await charger.call("Heartbeat", {})
            await charger.listen(max(0.0, interval - (time.monotonic() - t0)))
    events = transaction_events(plan.samples)
    while not steer.stopping.is_set():
        with contextlib.suppress(CallFailed):
            if plan.scenario == "heartbeats":
                await charger.call("Heartbeat", {})
            else:
                await charger.call("TransactionEvent", next(events))


async def run_plan(plan: Plan, ready: Any, go: Any, stop: Any) -> Outcome:
    out, steer = Outcome(), Steering(ready, go, stop)
    watcher = asyncio.create_task(steer.watch())
    gate = asyncio.Semaphore(len(plan.stations) if plan.scenario == "boot" else plan.connect_concurrency)
    tasks = [asyncio.create_task(run_station(plan, i, out, steer, gate)) for i in range(len(plan.stations))]

    async def count_open() -> None:
        while not steer.stopping.is_set():
            out.peak_open = max(out.peak_open, out.connected - sum(t.done() for t in tasks))
            await asyncio.sleep(0.5)

    counter = asyncio.create_task(count_open())
    await steer.stopping.wait()
    _, late = await asyncio.wait(tasks, timeout=1.0)  # a closed loop ends after its current call
    for task in [*late, watcher, counter]:
        task.cancel()
    await asyncio.wait([*late, watcher, counter], timeout=5.0)
    return out


def process_main(plan: Plan, ready: Any, go: Any, stop: Any, results: Any) -> None:
    raise_open_files()
    results.put(asyncio.run(run_plan(plan, ready, go, stop)))


def raise_open_files() -> int:
    """The soft open-file limit raised to the hard one (one socket per charger); the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def sources_for(chargers: int, per_address: int = 5000) -> list[str]:
    """127.0.0.1, 127.0.0.2, ...: one loopback address per ``per_address`` chargers."""
    return [f"127.0.0.{n}" for n in range(1, 2 + (chargers - 1) // per_address)]


class Fleet:
    """The load processes of one run: start them, read their progress, steer them, collect their outcomes."""

    def __init__(self, url: str, stations: list[str], scenario: str, processes: int, **plan: Any) -> None:
        ctx = mp.get_context("spawn")
        self.ready, self.go, self.stop = ctx.Value("i", 0), ctx.Value("d", 0.0), ctx.Event()
        self.results: Any = ctx.Queue()
        self.chargers = len(stations)
        sources = sources_for(len(stations))
        self.procs = [
            ctx.Process(
                target=process_main,
                args=(Plan(url, stations[i::processes], scenario, sources, **plan), self.ready, self.go, self.stop),
                kwargs={"results": self.results},
                daemon=True,
            )
            for i in range(min(processes, len(stations)))
        ]

    def start(self) -> None:
        for proc in self.procs:
            proc.start()

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs if p.pid is not None)

    def ready_count(self) -> int:
        return int(self.ready.value)

    def wait_ready(self, timeout: float, progress: Callable[[int], None] | None = None) -> bool:
        """Wait until every charger is connected, booted and reported (or failed); False after ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.ready_count() < self.chargers:
            if time.monotonic() > deadline or not any(p.is_alive() for p in self.procs):
                return False
            if progress is not None:
                progress(self.ready_count())
            time.sleep(0.2)
        return True

    def go_at(self, delay: float = 0.0) -> float:
        at = time.time() + delay
        self.go.value = at
        return at

    def finish(self, timeout: float = 60.0) -> Outcome:
        """Tell every process to stop and merge what they send back."""
        self.stop.set()
        total, deadline = Outcome(), time.monotonic() + timeout
        for _ in self.procs:
            with contextlib.suppress(Exception):
                total.merge(self.results.get(timeout=max(0.1, deadline - time.monotonic())))
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                total.errors["load process did not exit; killed"] += 1
                proc.kill()
        return total


def pct(values: list[float], q: float) -> float:
    """The q-quantile of ``values`` (seconds) in milliseconds; NaN for no values."""
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] * 1000.0 if s else float("nan")
