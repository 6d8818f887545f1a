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
from collections import Counter

import httpx
from websockets.asyncio.client import connect

from cloudbay_sim.charger import SimulatedCharger
from cloudbay_sim.model import OCPP201, SimConfig, SimStats, TxHook, TxRecord, describe, now_iso

__all__ = ["OCPP201", "SimConfig", "SimStats", "Simulation", "TxRecord", "now_iso", "run_simulation"]


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
