"""Rollout campaigns through the application service and the progress read model, on SQLite and PostgreSQL:
planning, operators' commands, UpdateFirmware within the limits, the chargers' reports, the counts, a halt on
the error threshold, an abort, reports nobody expects, offline and busy chargers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from typer.testing import CliRunner

from adapters.cli.main import app
from adapters.settings import Settings, StoreSettings
from adapters.wiring import build_log
from cloudbay_domain.charger import Charger
from cloudbay_domain.firmware_update import Outcome, Stage
from cloudbay_domain.rollout import CampaignState
from cloudbay_domain.rollout_policy import Image, RolloutPolicy, Window
from projections.db import ReadModelDB
from projections.follower import catch_up, prepare
from projections.rollout_queries import RolloutQueries
from projections.rollouts import RolloutsProjection
from services.platform import Platform
from services.ports import ChargerOffline, ChargerRequest, StatusAnswer, UpdateFirmware
from services.rollout_dispatch import RolloutDispatcher
from services.rollouts import CampaignConflict, Rollouts, Target
from services.store import EventLog

IMAGE = Image("2.0.0", "https://firmware.example.com/home-22kw/2.0.0.bin")
OPERATOR = "operator@example.com"
NOON = datetime(2026, 12, 1, 12, tzinfo=UTC)


@dataclass
class Fleet:
    """The target source and the link of a test: chargers by family, who is reachable, what was sent."""

    stations: list[Target]
    offline: set[str] = field(default_factory=set)
    answer: str = "Accepted"
    sent: list[tuple[str, UpdateFirmware]] = field(default_factory=list)

    def targets(self, family: str, channel: str, filter: dict[str, Any]) -> Iterable[Target]:
        return iter(self.stations)

    def is_reachable(self, station_id: str) -> bool:
        return station_id not in self.offline

    def reachable_stations(self) -> list[str]:
        return [t.station_id for t in self.stations if t.station_id not in self.offline]

    async def request(self, station_id: str, request: ChargerRequest[Any], timeout: float | None = None) -> Any:
        if station_id in self.offline:
            raise ChargerOffline(station_id)
        assert isinstance(request, UpdateFirmware)
        self.sent.append((station_id, request))
        return StatusAnswer(self.answer)


@dataclass
class World:
    log: EventLog
    db: ReadModelDB
    fleet: Fleet
    rollouts: Rollouts
    dispatcher: RolloutDispatcher
    queries: RolloutQueries

    def project(self) -> None:
        while catch_up(self.log, self.db, RolloutsProjection()):
            pass

    def tick(self, campaign_id: UUID) -> list[str]:
        self.project()
        return asyncio.run(self.dispatcher.tick(campaign_id))

    def stages(self, campaign_id: UUID) -> dict[str, int]:
        self.project()
        progress = self.queries.progress(campaign_id)
        assert progress is not None
        total: dict[str, int] = {}
        for group in progress["groups"]:
            for stage, n in group["stages"].items():
                total[stage] = total.get(stage, 0) + n
        return {stage: n for stage, n in total.items() if n}


@pytest.fixture
def world(store_url: str, tmp_path: Path) -> Iterator[World]:
    settings = Settings(store=StoreSettings(store_url), data_dir=tmp_path / "data")
    log, db = build_log(settings), ReadModelDB(settings.store)
    prepare(db, RolloutsProjection())
    fleet = Fleet([Target(f"CB-{i:03}", "Europe/Berlin", "1.0.0") for i in range(40)])
    log.save(*(Charger.whitelist(t.station_id, "home-22kw") for t in fleet.stations))
    platform = Platform(log, link=fleet)
    rollouts, queries = Rollouts(log, fleet), RolloutQueries(db)
    dispatcher = RolloutDispatcher(rollouts, fleet, platform.run, queries, clock=lambda: NOON)
    try:
        yield World(log, db, fleet, rollouts, dispatcher, queries)
    finally:
        log.close()
        db.close()


def settle(world: World, station_id: str, version: str = "2.0.0") -> None:
    update = world.rollouts.update_of(station_id)
    assert update is not None and update.request_id is not None
    for status in ("Downloading", "Downloaded", "Installing", "Installed"):
        assert world.rollouts.record_status(station_id, status, update.request_id) is Outcome.RECORDED
    assert world.rollouts.record_boot(station_id, version) is Outcome.RECORDED


def test_a_campaign_plans_sends_within_its_limit_promotes_and_completes(world: World) -> None:
    policy = RolloutPolicy(groups=(25.0, 100.0), max_concurrent=4, success_threshold=0.9)
    campaign = world.rollouts.create("home-22kw", "stable", IMAGE, policy, OPERATOR)
    assert sum(campaign.group_sizes) == 40 and campaign.excluded == 0
    assert world.tick(campaign.id) == []  # a draft sends nothing
    world.rollouts.decide(campaign.id, "start", OPERATOR)
    world.project()
    assert world.queries.steered() == [campaign.id]
    rounds = 0
    while world.rollouts.get(campaign.id).state is CampaignState.RUNNING:
        sent = world.tick(campaign.id)
        assert len(sent) <= 4 and world.dispatcher.in_flight(campaign.id) <= 4
        for station_id in sent:
            settle(world, station_id)
        rounds += 1
        assert rounds < 40
    assert world.rollouts.get(campaign.id).state is CampaignState.COMPLETED
    world.project()
    assert world.queries.steered() == []
    assert len({s for s, _ in world.fleet.sent}) == 40 == len(world.fleet.sent)  # one UpdateFirmware each
    assert world.stages(campaign.id) == {"succeeded": 40}
    progress = world.queries.progress(campaign.id)
    assert progress is not None and progress["state"] == "completed" and progress["open_groups"] == 2
    assert progress["settled"] == 40 and progress["targets"] == 40
    assert [g["size"] for g in progress["groups"]] == campaign.group_sizes


def test_an_error_threshold_reached_mid_group_halts_and_nothing_more_goes_out(world: World) -> None:
    policy = RolloutPolicy(groups=(100.0,), max_concurrent=10, error_threshold=0.1)
    campaign = world.rollouts.create("home-22kw", "stable", IMAGE, policy, OPERATOR)
    world.rollouts.decide(campaign.id, "start", OPERATOR)
    sent = world.tick(campaign.id)
    assert len(sent) == 10
    for station_id in sent[:4]:
        update = world.rollouts.update_of(station_id)
        assert update is not None
        world.rollouts.record_status(station_id, "InvalidSignature", update.request_id)
    settle(world, sent[4], version="1.0.0")  # booted back on the old version after installing: rolled back
    assert world.tick(campaign.id) == []
    halted = world.rollouts.get(campaign.id)
    assert halted.state is CampaignState.HALTED and halted.halt_reason is not None
    assert halted.halt_reason.startswith("group 0: 5 of 40 failed")
    assert len(world.fleet.sent) == 10
    world.project()
    progress = world.queries.progress(campaign.id)
    assert progress is not None and progress["groups"][0]["failures"] == {"InvalidSignature": 4, "RolledBack": 1}
    assert progress["state"] == "halted" and progress["reason"] == halted.halt_reason
    with pytest.raises(CampaignConflict):
        world.rollouts.decide(campaign.id, "resume", OPERATOR)


def test_reports_for_an_aborted_campaign_or_no_campaign_and_one_campaign_at_a_time(world: World) -> None:
    assert world.rollouts.record_status("CB-000", "Downloading", 1) is Outcome.NOT_IN_CAMPAIGN
    first = world.rollouts.create(
        "home-22kw", "stable", IMAGE, RolloutPolicy(groups=(100.0,), max_concurrent=2), OPERATOR
    )
    second = world.rollouts.create("home-22kw", "beta", Image("3.0.0", IMAGE.location), RolloutPolicy(), OPERATOR)
    assert second.targets == 0 and second.excluded == 40  # every charger is in the first one
    world.rollouts.decide(first.id, "start", OPERATOR)
    sent = world.tick(first.id)
    world.rollouts.decide(first.id, "abort", OPERATOR, "a bad image")
    update = world.rollouts.update_of(sent[0])
    assert update is not None
    assert world.rollouts.record_status(sent[0], "Downloading", update.request_id) is Outcome.CAMPAIGN_ENDED
    assert world.rollouts.record_status(sent[0], "Downloading", update.request_id) is Outcome.NOT_IN_CAMPAIGN
    assert world.tick(first.id) == []
    assert world.stages(first.id)["cancelled"] == 1
    third = world.rollouts.create("home-22kw", "stable", Image("3.0.0", IMAGE.location), RolloutPolicy(), OPERATOR)
    assert third.targets == 39 and third.excluded == 1  # one is still in flight: never two UpdateFirmware
    with pytest.raises(CampaignConflict):
        world.rollouts.decide(first.id, "start", OPERATOR)


def test_busy_offline_and_outside_the_window_chargers_wait(world: World) -> None:
    busy, away = world.fleet.stations[0].station_id, world.fleet.stations[1].station_id
    charger: Charger = world.log.repository.get(Charger.create_id(busy))
    charger.track_transaction(1, "TX-1", True)
    world.log.save(charger)
    world.fleet.offline.add(away)
    nights = RolloutPolicy(groups=(100.0,), max_concurrent=100, windows=(Window.parse("22:00", "06:00"),))
    campaign = world.rollouts.create("home-22kw", "stable", IMAGE, nights, OPERATOR)
    world.rollouts.decide(campaign.id, "start", OPERATOR)
    assert world.tick(campaign.id) == []  # 13:00 in Berlin
    world.dispatcher.clock = lambda: datetime(2026, 12, 1, 23, tzinfo=UTC)  # midnight in Berlin
    sent = world.tick(campaign.id)
    assert len(sent) == 38 and busy not in sent and away not in sent
    world.fleet.offline.clear()
    assert asyncio.run(world.dispatcher.charger_back(away))
    assert not asyncio.run(world.dispatcher.charger_back(busy))  # still charging
    assert world.stages(campaign.id) == {"pending": 1, "requested": 39}


def test_a_silent_charger_fails_after_the_timeout(world: World) -> None:
    policy = RolloutPolicy(groups=(100.0,), max_concurrent=2, silence_timeout=60)
    campaign = world.rollouts.create("home-22kw", "stable", IMAGE, policy, OPERATOR)
    world.rollouts.decide(campaign.id, "start", OPERATOR)
    world.dispatcher.clock = lambda: datetime.now(UTC)
    sent = world.tick(campaign.id)
    world.project()
    assert world.dispatcher.expire_silent(campaign.id) == 0
    world.dispatcher.clock = lambda: datetime.now(UTC).replace(year=2099)
    assert world.dispatcher.expire_silent(campaign.id) == 2
    assert world.stages(campaign.id)["failed"] == 2
    update = world.rollouts.update_of(sent[0])
    assert update is not None and (update.stage, update.reason) == (Stage.FAILED, "Silent")


def test_the_cli_shows_a_campaigns_progress_per_group(world: World, store_url: str, tmp_path: Path) -> None:
    policy = RolloutPolicy(groups=(100.0,), max_concurrent=3, error_threshold=0.5)
    campaign = world.rollouts.create("home-22kw", "stable", IMAGE, policy, OPERATOR)
    world.rollouts.decide(campaign.id, "start", OPERATOR)
    sent = world.tick(campaign.id)
    settle(world, sent[0])
    world.rollouts.record_status(sent[1], "DownloadFailed", None)
    world.rollouts.decide(campaign.id, "abort", OPERATOR, "enough")
    world.project()
    env = {"CLOUDBAY_DATABASE_URL": store_url, "CLOUDBAY_DATA_DIR": str(tmp_path / "data")}
    shown = CliRunner().invoke(app, ["rollouts", "status", str(campaign.id), "--follow"], env=env)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0].startswith(f"campaign {campaign.id}  aborted  2.0.0  2/40 settled") and "(enough)" in lines[0]
    assert lines[1].startswith("group 0 [#x" + "." * 28 + "] 1/40 ok, 1 failed, 1 in flight, 37 pending (open)")
    assert lines[2].strip() == "DownloadFailed: 1"
    missing = CliRunner().invoke(app, ["rollouts", "status", "not-a-campaign"], env=env)
    assert missing.exit_code == 1 and "no rollout campaign" in missing.output
