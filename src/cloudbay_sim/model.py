"""What a simulation is told (its configuration) and what it counts (its statistics)."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

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


class Run(Protocol):
    """What a simulated charger needs of the simulation it runs in."""

    config: SimConfig
    stats: SimStats
    stopping: asyncio.Event
    go: asyncio.Event
    on_transaction_event: TxHook | None

    def ready(self, station_id: str) -> None: ...
