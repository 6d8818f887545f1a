"""One simulated charger: the ``ocpp`` library's OCPP 2.0.1 client, with one EVSE and a cumulative register."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from cloudbay_sim.model import ENERGY, POWER, Run, TxRecord, now_iso


class SimulatedCharger(ChargePoint):
    """One charger with one EVSE (id 1, connector 1), the ``ocpp`` library's OCPP 2.0.1 client underneath."""

    def __init__(self, station_id: str, connection: Any, sim: Run) -> None:
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

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> Any:  # noqa: A002 - the OCPP field name
        """Answered, not acted on: OnIdle during a transaction is Scheduled, as a real charger would say."""
        status = "Scheduled" if type == "OnIdle" and self.current is not None else "Accepted"
        return call_result.Reset(status=status)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        results = []
        for item in set_variable_data:
            self.variables[(item["component"]["name"], item["variable"]["name"])] = item["attribute_value"]
            results.append({"attribute_status": "Accepted", **{k: item[k] for k in ("component", "variable")}})
        return call_result.SetVariables(set_variable_result=results)
