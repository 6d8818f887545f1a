"""Simulated OCPP 2.0.1 chargers, N of them in one asyncio process: `cloudbay simulate`, tests, benchmarks.

Each charger boots, reports EVSE 1 Available, then runs its transactions one after another: Authorize (with a
card), Occupied, TransactionEvent Started, one Updated per meter interval (energy register + power), Ended,
Available. Its energy register is cumulative over its transactions. It answers what the CSMS asks a charger:
GetLocalListVersion, SendLocalList, RequestStartTransaction (a RemoteStart transaction follows), RequestStop-
Transaction (that transaction ends, stoppedReason Remote) and SetVariables.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

OCPP201 = Subprotocol("ocpp2.0.1")
ENERGY, POWER = "Energy.Active.Import.Register", "Power.Active.Import"
TxHook = Callable[[str, str, str, float, float], None]  # station, transaction id, eventType, energy Wh, perf_counter


@dataclass
class SimConfig:
    url: str = "ws://127.0.0.1:8080/ocpp"  # each charger connects to {url}/{station id}
    chargers: int = 1
    prefix: str = "SIM"
    transactions: int = 1  # per charger; 0 = back to back until the simulation stops
    meter_interval: float = 1.0
    samples: int = 5  # Updated messages per transaction
    rfid: str | None = None
    power_w: float = 11_000.0
    initial_register_wh: float = 1_000.0
    seconds: float | None = None  # bound of the whole run; chargers wind down shortly before it
    linger: bool = False  # stay connected after the scripted transactions, answering the CSMS, until stopped
    call_timeout: float = 30.0
    validate: bool = True  # JSON-schema validation of our calls and their answers
    synchronized_start: bool = False  # transactions start once every charger has booted (benchmarks)

    def station_ids(self) -> list[str]:
        return [f"{self.prefix}-{i:04d}" for i in range(1, self.chargers + 1)]


@dataclass
class TxRecord:
    station_id: str
    transaction_id: str
    first_register_wh: float
    last_register_wh: float  # the last register value the CSMS acknowledged
    remote_start_id: int | None = None
    stopped_reason: str | None = None  # set once the CSMS acknowledged Ended

    @property
    def energy_wh(self) -> float:
        return self.last_register_wh - self.first_register_wh


@dataclass
class SimStats:
    chargers: int = 0
    booted: int = 0
    messages_sent: int = 0
    answered: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))  # (at, rtt)
    csms_calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    transactions: list[TxRecord] = field(default_factory=list)
    started_at: float = 0.0
    go_at: float = 0.0  # when transactions could start (every charger booted, with synchronized_start)
    finished_at: float = 0.0

    @property
    def ended(self) -> list[TxRecord]:
        return [t for t in self.transactions if t.stopped_reason is not None]

    @property
    def energy_wh(self) -> float:
        return sum(t.energy_wh for t in self.ended)

    def summary(self) -> str:
        answered = ", ".join(f"{a} {len(v)}" for a, v in sorted(self.answered.items())) or "none"
        csms = ", ".join(f"{a} {n}" for a, n in sorted(self.csms_calls.items())) or "none"
        return (
            f"chargers       {self.chargers} ({self.booted} booted)\n"
            f"transactions   {len(self.ended)} ended ({len(self.transactions)} started)\n"
            f"messages sent  {self.messages_sent} in {self.finished_at - self.started_at:.1f}s ({answered})\n"
            f"CSMS calls     {csms}\n"
            f"energy sent    {self.energy_wh:.3f} Wh\n"
            f"errors         {sum(self.errors.values())} {dict(self.errors.most_common()) if self.errors else ''}"
        )


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def describe(e: BaseException) -> str:
    if isinstance(e, InvalidStatus):
        return f"connection rejected: HTTP {e.response.status_code}"
    if isinstance(e, ConnectionClosed):
        return f"connection closed ({e.rcvd.code if e.rcvd else 'no close frame'})"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


class SimulatedCharger(ChargePoint):
    """One charger with one EVSE (id 1, connector 1), the ``ocpp`` library's OCPP 2.0.1 client underneath."""

    def __init__(self, station_id: str, connection: Any, sim: Simulation) -> None:
        super().__init__(station_id, connection, response_timeout=sim.config.call_timeout)
        self.sim = sim
        self.register_wh = sim.config.initial_register_wh
        self.local_list_version = 0
        self.local_list: dict[str, str] = {}
        self.variables: dict[tuple[str, str], str] = {}
        self.busy = False  # a transaction (or its Authorize) is under way
        self.accepting = True  # False once the script is over: remote starts are rejected
        self.current: TxRecord | None = None
        self.remote: tuple[int, dict[str, Any]] | None = None  # accepted remote start: (remoteStartId, idToken)
        self.remote_stopped = False
        self.interrupt = asyncio.Event()  # remote stop, remote start while idle, or the simulation stopping

    async def send(self, payload: Any) -> Any | None:
        """A call to the CSMS, timed; None (counted as an error) if it timed out or got a CALLERROR."""
        stats, action = self.sim.stats, type(payload).__name__
        stats.messages_sent += 1
        t0 = time.perf_counter()
        try:
            reply = await self.call(payload, suppress=False, skip_schema_validation=not self.sim.config.validate)
        except (TimeoutError, OCPPError) as e:
            stats.errors[f"{action}: {type(e).__name__}"] += 1
            return None
        t1 = time.perf_counter()
        stats.answered[action].append((t1, t1 - t0))
        return reply

    async def status(self, connector_status: str) -> Any | None:
        return await self.send(
            call.StatusNotification(timestamp=now_iso(), connector_status=connector_status, evse_id=1, connector_id=1)
        )

    async def pause(self, seconds: float) -> bool:
        """Wait ``seconds``; True if interrupted first."""
        try:
            async with asyncio.timeout(seconds):
                await self.interrupt.wait()
            return True
        except TimeoutError:
            return False

    async def script(self) -> None:
        cfg, sim = self.sim.config, self.sim
        try:
            station = {"model": "SimCharger", "vendor_name": "CloudBay", "serial_number": self.id}
            boot = await self.send(call.BootNotification(charging_station=station, reason="PowerUp"))
            if boot is None or boot.status != "Accepted":
                if boot is not None:
                    sim.stats.errors[f"BootNotification answered {boot.status}"] += 1
                return
            sim.stats.booted += 1
            await self.status("Available")
        finally:
            sim.ready(self.id)
        await sim.go.wait()
        done = 0
        while not sim.stopping.is_set():
            if self.remote is not None:
                remote, self.remote = self.remote, None
                await self.transaction(remote)
            elif cfg.transactions == 0 or done < cfg.transactions:
                done += 1
                await self.transaction(None)
            elif cfg.linger:
                await self.interrupt.wait()
                if not sim.stopping.is_set():
                    self.interrupt.clear()
            else:
                break
        self.accepting = False

    async def transaction(self, remote: tuple[int, dict[str, Any]] | None) -> None:
        cfg = self.sim.config
        self.busy, self.remote_stopped = True, False
        if not self.sim.stopping.is_set():
            self.interrupt.clear()
        try:
            id_token = remote[1] if remote else {"id_token": cfg.rfid, "type": "ISO14443"} if cfg.rfid else None
            if remote is None and id_token is not None:
                reply = await self.send(call.Authorize(id_token=id_token))
                if reply is None or (status := reply.id_token_info.get("status")) != "Accepted":
                    if reply is not None:
                        self.sim.stats.errors[f"Authorize answered {status}"] += 1
                    return
            await self.status("Occupied")
            self.current = tx = TxRecord(self.id, uuid.uuid4().hex[:20], self.register_wh, self.register_wh)
            tx.remote_start_id = remote[0] if remote else None
            self.sim.stats.transactions.append(tx)
            info: dict[str, Any] = {"transaction_id": tx.transaction_id, "charging_state": "Charging"}
            trigger = "RemoteStart" if remote else "Authorized" if id_token else "CablePluggedIn"
            seq = 0
            await self.event("Started", trigger, seq, {**info, "remote_start_id": tx.remote_start_id}, id_token)
            for _ in range(cfg.samples):
                if await self.pause(cfg.meter_interval):
                    break
                self.register_wh = round(self.register_wh + cfg.power_w * cfg.meter_interval / 3600, 3)
                seq += 1
                await self.event("Updated", "MeterValuePeriodic", seq, info)
            reason = "Remote" if self.remote_stopped else "EVDisconnected"
            trigger = "RemoteStop" if self.remote_stopped else "EVCommunicationLost"
            info = {**info, "charging_state": "Idle", "stopped_reason": reason}
            if await self.event("Ended", trigger, seq + 1, info):
                tx.stopped_reason = reason
            self.current = None
            await self.status("Available")
        finally:
            self.busy, self.current = False, None

    async def event(
        self, event_type: str, trigger: str, seq_no: int, info: dict[str, Any], id_token: dict[str, Any] | None = None
    ) -> bool:
        """One TransactionEvent with the register (and power) now; True once the CSMS acknowledged it."""
        tx, at = self.current, now_iso()
        assert tx is not None
        context = {"Started": "Transaction.Begin", "Ended": "Transaction.End"}.get(event_type, "Sample.Periodic")
        power = 0.0 if event_type == "Ended" else self.sim.config.power_w
        sampled = [
            {"value": self.register_wh, "measurand": ENERGY, "unit_of_measure": {"unit": "Wh"}, "context": context},
            {"value": power, "measurand": POWER, "unit_of_measure": {"unit": "W"}, "context": context},
        ]
        payload = call.TransactionEvent(
            event_type=event_type,
            timestamp=at,
            trigger_reason=trigger,
            seq_no=seq_no,
            transaction_info={k: v for k, v in info.items() if v is not None},
            meter_value=[{"timestamp": at, "sampled_value": sampled}],
            evse={"id": 1, "connector_id": 1},
            id_token=id_token,
        )
        if await self.send(payload) is None:
            return False
        tx.last_register_wh = self.register_wh
        if self.sim.on_transaction_event is not None:
            self.sim.on_transaction_event(self.id, tx.transaction_id, event_type, tx.energy_wh, time.perf_counter())
        return True

    # --- what the CSMS asks ---------------------------------------------------------------------

    async def _handle_call(self, msg: Any) -> Any:
        self.sim.stats.csms_calls[msg.action] += 1
        return await super()._handle_call(msg)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> Any:
        return call_result.GetLocalListVersion(version_number=self.local_list_version)

    @on(Action.send_local_list)
    def on_send_local_list(
        self, version_number: int, update_type: str, local_authorization_list: list[Any] | None = None, **_: Any
    ) -> Any:
        if update_type == "Full":
            self.local_list.clear()
        for entry in local_authorization_list or []:
            token, info = entry["id_token"]["id_token"], entry.get("id_token_info")
            if info is None:
                self.local_list.pop(token, None)
            else:
                self.local_list[token] = info["status"]
        self.local_list_version = version_number
        return call_result.SendLocalList(status="Accepted")

    @on(Action.request_start_transaction)
    def on_request_start_transaction(
        self, id_token: dict[str, Any], remote_start_id: int, evse_id: int | None = None, **_: Any
    ) -> Any:
        free = not self.busy and self.remote is None and self.accepting and not self.sim.stopping.is_set()
        if not free or evse_id not in (None, 1):
            return call_result.RequestStartTransaction(status="Rejected")
        self.remote = (remote_start_id, id_token)
        self.interrupt.set()  # wakes a lingering charger
        return call_result.RequestStartTransaction(status="Accepted")

    @on(Action.request_stop_transaction)
    def on_request_stop_transaction(self, transaction_id: str, **_: Any) -> Any:
        if self.current is None or self.current.transaction_id != transaction_id:
            return call_result.RequestStopTransaction(status="Rejected")
        self.remote_stopped = True
        self.interrupt.set()
        return call_result.RequestStopTransaction(status="Accepted")

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        results = []
        for item in set_variable_data:
            self.variables[(item["component"]["name"], item["variable"]["name"])] = item["attribute_value"]
            results.append({"attribute_status": "Accepted", **{k: item[k] for k in ("component", "variable")}})
        return call_result.SetVariables(set_variable_result=results)


class Simulation:
    """Runs ``config.chargers`` chargers; ``stop()`` makes them end their transaction and disconnect."""

    def __init__(self, config: SimConfig, on_transaction_event: TxHook | None = None) -> None:
        self.config = config
        self.on_transaction_event = on_transaction_event
        self.stats = SimStats(chargers=config.chargers)
        self.stopping = asyncio.Event()
        self.go = asyncio.Event()
        self.chargers: dict[str, SimulatedCharger] = {}
        self._not_ready = set(config.station_ids())

    def ready(self, station_id: str) -> None:
        """A charger booted (or gave up): with synchronized_start, transactions begin when all have."""
        self._not_ready.discard(station_id)
        if not self._not_ready and not self.go.is_set():
            self.stats.go_at = time.perf_counter()
            self.go.set()

    def stop(self) -> None:
        self.stopping.set()
        self.go.set()
        for charger in self.chargers.values():
            charger.interrupt.set()

    async def run(self) -> SimStats:
        cfg, loop = self.config, asyncio.get_running_loop()
        self.stats.started_at = self.stats.go_at = time.perf_counter()
        if not cfg.synchronized_start:
            self.go.set()
        tasks = [asyncio.create_task(self._charger(sid)) for sid in cfg.station_ids()]
        timer = loop.call_later(cfg.seconds - min(2.0, cfg.seconds / 4), self.stop) if cfg.seconds else None
        _, pending = await asyncio.wait(tasks, timeout=cfg.seconds) if tasks else (set(), set())
        for task in pending:
            task.cancel()
            self.stats.errors["charger cut off at the time bound"] += 1
        await asyncio.gather(*pending, return_exceptions=True)
        if timer is not None:
            timer.cancel()
        self.stats.finished_at = time.perf_counter()
        return self.stats

    async def _charger(self, station_id: str) -> None:
        cfg = self.config
        try:
            url = f"{cfg.url.rstrip('/')}/{station_id}"
            async with connect(
                url, subprotocols=[OCPP201], open_timeout=cfg.call_timeout, close_timeout=2, ping_interval=None
            ) as ws:
                charger = self.chargers[station_id] = SimulatedCharger(station_id, ws, self)
                if self.stopping.is_set():
                    charger.interrupt.set()
                reader, script = asyncio.create_task(charger.start()), asyncio.create_task(charger.script())
                try:
                    await asyncio.wait({reader, script}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (reader, script):
                        task.cancel()
                    await asyncio.gather(reader, script, return_exceptions=True)
                for task in (script, reader):  # the script's failure, else the connection's end
                    if task.done() and not task.cancelled() and (failure := task.exception()) is not None:
                        raise failure
        except Exception as e:  # refused, rejected, dropped: counted, never hidden
            self.stats.errors[describe(e)] += 1
        finally:
            self.ready(station_id)


async def prepare(config: SimConfig, api: str, token: str, errors: Counter[str]) -> None:
    """Whitelist the chargers (and register the card) through the REST API; 409 = already there."""
    limit = asyncio.Semaphore(16)

    async def post(http: httpx.AsyncClient, path: str, body: dict[str, str]) -> None:
        async with limit:
            try:
                r = await http.post(path, json=body)
            except httpx.HTTPError as e:
                errors[f"POST {path}: {type(e).__name__}"] += 1
                return
        if r.status_code not in (200, 201, 409):
            errors[f"POST {path}: HTTP {r.status_code}"] += 1

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api.rstrip("/"), headers=headers, timeout=config.call_timeout) as http:
        if config.rfid:
            await post(http, "/api/v1/rfid-cards", {"id_token": config.rfid})
        await asyncio.gather(*(post(http, "/api/v1/chargers", {"serial_number": s}) for s in config.station_ids()))


async def run_simulation(
    config: SimConfig, *, api: str | None = None, token: str | None = None, on_transaction_event: TxHook | None = None
) -> SimStats:
    """Prepare (with a token), then run the chargers; everything within ``config.seconds`` if given."""
    t0, errors = time.perf_counter(), Counter[str]()
    if token:
        await asyncio.wait_for(prepare(config, api or "http://127.0.0.1:8080", token, errors), config.seconds)
        if config.seconds:
            config = dataclasses.replace(config, seconds=max(0.1, config.seconds - (time.perf_counter() - t0)))
    stats = await Simulation(config, on_transaction_event).run()
    stats.errors.update(errors)
    return stats
