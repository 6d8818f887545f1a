"""Maintenance windows in each charger's own time zone, the one its owner's tariff states (UTC without a
tariff): the fleet read model keeps it, a campaign's targets carry it, and only a charger where it is night now
gets UpdateFirmware. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.rollout_targets import FleetTargets
from adapters.settings import Settings, StoreSettings
from adapters.wiring import build_log
from cloudbay_domain.rollout_policy import Image, RolloutPolicy, Window
from projections.catalog import all_projections
from projections.db import ReadModelDB
from projections.fleet import FleetQueries
from projections.follower import catch_up, prepare
from projections.rollout_queries import RolloutQueries
from services.platform import Platform
from services.ports import ChargerRequest, StatusAnswer, UpdateFirmware

IMAGE = Image("2.0.0", "https://firmware.example.com/home-22kw/2.0.0.bin")
OPERATOR = "operator@example.com"
NIGHTS = RolloutPolicy(groups=(100.0,), max_concurrent=10, windows=(Window.parse("22:00", "06:00"),))
# 22:30 in Zurich, 16:30 in New York, 21:30 in UTC
EVENING_IN_EUROPE = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)
ZONES = {"CB-ZRH": "Europe/Zurich", "CB-NYC": "America/New_York", "CB-NONE": None}


@dataclass
class Link:
    """Every charger online; what was sent."""

    sent: list[str] = field(default_factory=list)

    def is_reachable(self, station_id: str) -> bool:
        return True

    def reachable_stations(self) -> list[str]:
        return list(ZONES)

    async def request(self, station_id: str, request: ChargerRequest[Any], timeout: float | None = None) -> Any:
        assert isinstance(request, UpdateFirmware)
        self.sent.append(station_id)
        return StatusAnswer("Accepted")


def test_a_night_window_opens_in_each_chargers_own_time_zone(store_url: str, tmp_path: Path) -> None:
    settings = Settings(store=StoreSettings(store_url), data_dir=tmp_path / "data")
    log, db, link = build_log(settings), ReadModelDB(settings.store), Link()
    projections = all_projections(log)
    queries = RolloutQueries(db)
    platform = Platform(log, link=link, targets=FleetTargets(db), progress=queries)

    def project() -> None:
        for projection in projections:
            while catch_up(log, db, projection):
                pass

    try:
        for projection in projections:
            prepare(db, projection)
        for station_id, time_zone in ZONES.items():
            platform.chargers.whitelist(station_id, "home-22kw")
            if time_zone:
                tariff = {"currency": "CHF", "price_per_kwh": "0.30", "time_zone": "UTC"}
                platform.scheduling.set_tariff(station_id, tariff, "owner@example.com")
                platform.scheduling.set_tariff(station_id, {**tariff, "time_zone": time_zone}, "owner@example.com")
        project()
        rows = {r["station_id"]: r["time_zone"] for r in FleetQueries(db).dump()["chargers"]}
        assert rows == ZONES  # the latest tariff's zone; none without a tariff

        campaign = platform.rollouts.create("home-22kw", "stable", IMAGE, NIGHTS, OPERATOR)
        assert campaign.targets == 3
        platform.rollouts.decide(campaign.id, "start", OPERATOR)
        project()
        platform.rollout_dispatcher.clock = lambda: EVENING_IN_EUROPE
        sent = asyncio.run(platform.rollout_dispatcher.tick(campaign.id))
        assert sent == ["CB-ZRH"] and link.sent == ["CB-ZRH"]  # day in New York, and in UTC without a tariff
        assert [(t.station_id, t.time_zone) for t in FleetTargets(db).targets("home-22kw", "stable", {})] == [
            ("CB-NONE", "UTC"),
            ("CB-NYC", "America/New_York"),
            ("CB-ZRH", "Europe/Zurich"),
        ]
        update = platform.rollouts.update_of("CB-NYC")
        assert update is not None and update.time_zone == "America/New_York"
    finally:
        log.close()
        db.close()
