"""Deferred saves (``Platform.run_deferred``): no store thread waits for the group commit, yet nothing is answered
before it is committed; a lost race runs the whole call again; a call on kept aggregates runs on the loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from cloudbay_domain.charger import Charger, ConnectorStatus
from cloudbay_domain.reports import StatusReport
from services.chargers import ChargerNotWhitelisted
from services.platform import Platform
from services.store import EventLog

AT = datetime(2026, 11, 25, 10, tzinfo=UTC)


class GatedWriter:
    """Stands in for the log as the group committer's target: each batch waits for ``gate``."""

    def __init__(self, log: EventLog) -> None:
        self.log, self.gate, self.entered, self.batches = log, threading.Event(), threading.Event(), 0
        self.held = 0  # events of the batch waiting at the gate

    def save(self, *events: Any) -> Any:
        self.held = len(events)
        self.entered.set()
        self.gate.wait(10)
        self.batches += 1
        return self.log.save(*events)


class CountingExecutor(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(max_workers=4)
        self.submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
def app() -> Iterator[tuple[Platform, GatedWriter, CountingExecutor]]:
    executor = CountingExecutor()
    platform = Platform(EventLog(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}), executor=executor, timeout=10)
    for n in range(3):
        platform.chargers.whitelist(f"CB-{n}", "home")
        platform.chargers.connected(f"CB-{n}", "s1", "node")
    writer = GatedWriter(platform.log)
    platform.log.committer.app = writer  # type: ignore[assignment]
    yield platform, writer, executor
    writer.gate.set()
    platform.close()
    executor.shutdown()


async def queued(platform: Platform, writer: GatedWriter) -> asyncio.Future[None]:
    """A status report of CB-0's, decided and handed to the (gated) writer."""
    task = asyncio.ensure_future(platform.run_deferred(platform.chargers.record_status, "CB-0", status(1)))
    for _ in range(500):
        if writer.entered.is_set():
            return task
        await asyncio.sleep(0.01)
    raise AssertionError("the writer was never given the save")


def status(evse: int, state: ConnectorStatus = ConnectorStatus.OCCUPIED) -> StatusReport:
    return StatusReport(evse, 1, state, AT)


def test_a_deferred_report_is_answered_only_once_it_is_committed(
    app: tuple[Platform, GatedWriter, CountingExecutor],
) -> None:
    platform, writer, _ = app

    async def scenario() -> None:
        task = await queued(platform, writer)
        await asyncio.sleep(0.2)
        assert not task.done()  # decided, queued, not committed: not answered
        writer.gate.set()
        await task

    asyncio.run(scenario())
    assert "1/1" in platform.chargers.get("CB-0").connectors


def test_many_deferred_reports_share_commits_and_every_one_lands_once(
    app: tuple[Platform, GatedWriter, CountingExecutor],
) -> None:
    platform, writer, _ = app
    stations = [f"CB-{n}" for n in range(30)]
    writer.gate.set()  # the set-up is saved as usual
    for station in stations[3:]:
        platform.chargers.whitelist(station, "home")
        platform.chargers.connected(station, "s1", "node")
    batches = writer.batches
    writer.gate.clear()

    async def scenario() -> list[Any]:
        targets = [*stations, *stations[:5], *["NOPE"] * 5]  # five chargers twice, five unknown ones
        calls = [
            asyncio.ensure_future(platform.run_deferred(platform.chargers.record_status, t, status(n)))
            for n, t in enumerate(targets)
        ]
        queue = platform.log.committer._queue
        for _ in range(1000):  # until the 30 chargers' first saves are decided: in the writer's batch, or queued
            if writer.entered.is_set() and writer.held + queue.qsize() >= len(stations):
                break
            await asyncio.sleep(0.01)
        writer.gate.set()
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert [n for n, o in enumerate(outcomes) if isinstance(o, ChargerNotWhitelisted)] == list(range(35, 40))
    assert all(o is None for o in outcomes[:35])
    for n, station in enumerate(stations):
        expected = {f"{n}/1", f"{n + 30}/1"} if n < 5 else {f"{n}/1"}
        assert set(platform.chargers.get(station).connectors) == expected  # every accepted report, once
        versions = [e.originator_version for e in platform.chargers.history(station)]
        assert versions == list(range(1, len(versions) + 1))
    assert writer.batches - batches < 20  # the saves of different chargers shared commits


def test_a_deferred_call_that_loses_a_race_is_run_again_whole(
    app: tuple[Platform, GatedWriter, CountingExecutor],
) -> None:
    platform, writer, _ = app

    async def scenario() -> None:
        task = await queued(platform, writer)
        # another writer changes the same charger meanwhile (straight to the store): the queued save is stale
        rival: Charger = platform.log.repository.get(Charger.create_id("CB-0"))
        rival.change_connector_status(status(2, ConnectorStatus.FAULTED))
        platform.log.save(rival)
        writer.gate.set()
        await task

    asyncio.run(scenario())
    connectors = platform.chargers.get("CB-0").connectors
    assert {"1/1", "2/1"} <= set(connectors)  # both landed: the loser was decided again on the winner's state


def test_a_call_on_a_kept_aggregate_runs_on_the_loop_and_one_that_reads_the_store_in_a_thread(
    app: tuple[Platform, GatedWriter, CountingExecutor],
) -> None:
    platform, writer, executor = app
    platform.log.forget_kept()  # as after a restart
    writer.gate.set()

    async def report(evse: int) -> None:
        await platform.run_deferred(platform.chargers.record_status, "CB-1", status(evse))

    asyncio.run(report(1))  # not kept yet: read in a store thread
    assert executor.submitted == 1
    asyncio.run(report(2))  # kept by the save just made: decided on the loop, only the commit is the writer's
    asyncio.run(report(3))
    assert executor.submitted == 1
    assert {"1/1", "2/1", "3/1"} <= set(platform.chargers.get("CB-1").connectors)
