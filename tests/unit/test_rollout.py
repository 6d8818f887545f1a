"""The rollout campaign's state machine and the dispatcher, as properties (hypothesis) and as examples: never
more chargers in flight than allowed, never an update outside a window or during a transaction, nothing sent
by a campaign that does not run; the planning is stable and spread like the shares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from cloudbay_domain.firmware_update import STATUS_STAGE, FirmwareUpdate, Outcome, Stage, UnknownFirmwareStatus
from cloudbay_domain.rollout import CampaignRefused, CampaignState, RolloutCampaign
from cloudbay_domain.rollout_dispatch import Candidate, choose
from cloudbay_domain.rollout_policy import GroupTally, Image, InvalidPolicy, RolloutPolicy, Window, within_windows

IMAGE = Image("2.0.0", "https://firmware.example.com/home-22kw/2.0.0.bin")
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Adelaide")
NIGHTS = (Window.parse("22:00", "06:00"),)
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def campaign(policy: RolloutPolicy | None = None, stations: int = 0) -> tuple[RolloutCampaign, list[str]]:
    policy = policy or RolloutPolicy()
    found = RolloutCampaign.draft("home-22kw", "stable", IMAGE, policy, "operator@example.com")
    ids = [f"CB-{i}" for i in range(stations)]
    sizes = [0] * len(policy.groups)
    for station_id in ids:
        sizes[policy.group_of(found.id, station_id)] += 1
    found.plan(sizes, 0)
    return found, ids


def update(c: RolloutCampaign, station_id: str, group: int = 0, zone: str = "UTC") -> FirmwareUpdate:
    return FirmwareUpdate.open(station_id, c.id, group, zone, IMAGE.version, IMAGE.location, "1.0.0")


class Fleet(RuleBasedStateMachine):
    """A campaign over a small fleet, driven by operators, the dispatcher, the clock and the chargers."""

    def __init__(self) -> None:
        super().__init__()
        self.policy = RolloutPolicy(
            groups=(10.0, 50.0, 100.0), max_concurrent=3, windows=NIGHTS, error_threshold=0.3, success_threshold=0.6
        )
        self.campaign, ids = campaign(self.policy, 24)
        self.updates = {
            s: update(self.campaign, s, self.policy.group_of(self.campaign.id, s), ZONES[i % len(ZONES)])
            for i, s in enumerate(ids)
        }
        self.busy: set[str] = set()
        self.offline: set[str] = set()
        self.now = T0
        self.sent_while: list[CampaignState] = []

    def tallies(self) -> list[GroupTally]:
        out = []
        for group in range(len(self.policy.groups)):
            members = [u for u in self.updates.values() if u.group == group]
            out.append(
                GroupTally(
                    len(members),
                    sum(u.stage is Stage.SUCCEEDED for u in members),
                    sum(u.stage is Stage.FAILED for u in members),
                    sum(u.in_flight() for u in members),
                )
            )
        return out

    def in_flight(self) -> int:
        return sum(u.in_flight() for u in self.updates.values())

    @rule(command=st.sampled_from(["approve", "start", "pause", "resume", "promote", "abort", "roll_back"]))
    def operator(self, command: str) -> None:
        try:
            getattr(self.campaign, command)("operator@example.com")
        except CampaignRefused:
            pass

    @rule()
    def review(self) -> None:
        self.campaign.review(self.tallies())

    @rule(minutes=st.integers(1, 600))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule(station=st.integers(0, 23), busy=st.booleans(), online=st.booleans())
    def charger_changes(self, station: int, busy: bool, online: bool) -> None:
        station_id = f"CB-{station}"
        (self.busy.add if busy else self.busy.discard)(station_id)
        (self.offline.discard if online else self.offline.add)(station_id)

    @rule()
    def dispatch(self) -> None:
        candidates = [
            Candidate(s, u.group, u.time_zone, u.stage or Stage.PENDING, s not in self.offline, s in self.busy)
            for s, u in self.updates.items()
        ]
        for station_id in choose(self.campaign, self.in_flight(), candidates, self.now):
            target = self.updates[station_id]
            assert self.campaign.state is CampaignState.RUNNING
            assert target.group < self.campaign.open_groups
            assert station_id not in self.busy and station_id not in self.offline
            assert within_windows(NIGHTS, self.now, target.time_zone)
            assert target.stage is Stage.PENDING  # never a second UpdateFirmware
            target.request()
            target.answered("Accepted")
            self.sent_while.append(self.campaign.state)

    @rule(station=st.integers(0, 23), status=st.sampled_from(sorted(STATUS_STAGE)))
    def charger_reports(self, station: int, status: str) -> None:
        target = self.updates[f"CB-{station}"]
        target.report(status, target.request_id)

    @rule(station=st.integers(0, 23), version=st.sampled_from(["1.0.0", "2.0.0", "9.9.9"]))
    def charger_boots(self, station: int, version: str) -> None:
        self.updates[f"CB-{station}"].booted(version)

    @invariant()
    def never_more_in_flight_than_allowed(self) -> None:
        assert self.in_flight() <= self.policy.max_concurrent

    @invariant()
    def a_campaign_that_does_not_run_sends_nothing(self) -> None:
        if not self.campaign.sends():
            pending = [Candidate(s, u.group) for s, u in self.updates.items()]
            assert choose(self.campaign, 0, pending, self.now) == []

    @invariant()
    def open_groups_only_grow_within_the_plan(self) -> None:
        assert 0 <= self.campaign.open_groups <= len(self.policy.groups)


TestFleet = Fleet.TestCase
TestFleet.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=50, unique=True))
def test_a_chargers_group_is_stable_and_within_the_plan(stations: list[str]) -> None:
    policy, campaign_id = RolloutPolicy(), uuid4()
    first = [policy.group_of(campaign_id, s) for s in stations]
    assert first == [policy.planner(campaign_id)(s) for s in reversed(stations)][::-1]
    assert all(0 <= g < len(policy.groups) for g in first)


def test_groups_are_spread_like_their_shares() -> None:
    policy = RolloutPolicy(groups=(1.0, 10.0, 50.0, 100.0))
    group = policy.planner(uuid4())
    sizes = [0] * 4
    for i in range(20_000):
        sizes[group(f"CB-{i}")] += 1
    shares = [n / 200 for n in sizes]  # percent
    assert all(abs(got - want) < 1.5 for got, want in zip(shares, [1, 9, 40, 50], strict=True)), shares


def test_an_error_threshold_reached_mid_group_halts_with_the_reason_and_nothing_more_goes_out() -> None:
    c, _ = campaign(RolloutPolicy(groups=(100.0,), error_threshold=0.1, max_concurrent=50), 0)
    c.start("operator@example.com")
    assert c.review([GroupTally(100, succeeded=20, failed=10, in_flight=30)]) == "halted"
    halted = [e for e in c.collect_events() if isinstance(e, RolloutCampaign.Halted)]
    assert halted[0].reason == "group 0: 10 of 100 failed, the error threshold is 10.00%"
    assert c.state is CampaignState.HALTED
    assert choose(c, 0, [Candidate("CB-1", 0)], T0) == []
    with pytest.raises(CampaignRefused):
        c.resume("operator@example.com")


def test_approval_is_required_before_start_when_the_policy_says_so() -> None:
    c, _ = campaign(RolloutPolicy(approval_required=True))
    with pytest.raises(CampaignRefused, match="approval"):
        c.start("operator@example.com")
    c.approve("lead@example.com")
    c.start("operator@example.com")
    assert c.state is CampaignState.RUNNING and c.open_groups == 1


def test_manual_promotion_waits_for_an_operator_and_the_last_group_completes() -> None:
    c, _ = campaign(RolloutPolicy(groups=(50.0, 100.0), automatic_promotion=False))
    c.start("operator@example.com")
    assert c.review([GroupTally(10, succeeded=10), GroupTally(10)]) is None
    assert c.promote("operator@example.com") == 1
    with pytest.raises(CampaignRefused):
        c.promote("operator@example.com")
    assert c.review([GroupTally(10, succeeded=10), GroupTally(10, succeeded=10)]) == "completed"


def test_the_status_mapping_and_an_ab_roll_back() -> None:
    c, _ = campaign()
    u = update(c, "CB-1")
    assert u.report("Downloading", None) is Outcome.NOT_REQUESTED
    u.request()
    u.answered("Accepted")
    assert u.report("Downloading", 7) is Outcome.OTHER_REQUEST  # a request id not the campaign's
    for status, stage in [("Downloaded", Stage.DOWNLOADED), ("Idle", Stage.DOWNLOADED), ("Installed", Stage.INSTALLED)]:
        assert u.report(status, u.request_id) is Outcome.RECORDED and u.stage is stage
    u.booted("1.0.0")
    assert (u.stage, u.reason) == (Stage.FAILED, "RolledBack")
    assert u.report("Installing", u.request_id) is Outcome.NOT_IN_CAMPAIGN
    with pytest.raises(UnknownFirmwareStatus):
        u.report("Exploded", None)


def test_a_version_no_image_has_fails_the_update_and_the_target_version_succeeds() -> None:
    c, _ = campaign()
    u, v = update(c, "CB-1"), update(c, "CB-2")
    for each in (u, v):
        each.request()
    u.booted("1.0.0")  # rebooted before installing: nothing changes
    u.booted("7.7.7")
    assert u.stage is Stage.REQUESTED
    u.report("Installed", u.request_id)
    u.booted("7.7.7")
    v.booted(IMAGE.version)
    assert (u.stage, u.reason) == (Stage.FAILED, "UnknownVersion: 7.7.7")
    assert v.stage is Stage.SUCCEEDED


def test_a_charger_is_in_one_campaign_at_a_time_and_a_silent_one_fails() -> None:
    c, _ = campaign()
    u = update(c, "CB-1")
    other, _ = campaign()
    assert not u.enlist(other.id, 0, "UTC", "3.0", IMAGE.location, None, holder_active=True)
    assert u.enlist(other.id, 0, "UTC", "3.0", IMAGE.location, None, holder_active=False)  # the first one ended
    u.request()
    u.answered("Offline")
    assert (u.stage, u.reason) == (Stage.PENDING, "Offline")  # sent again when it is back
    u.request()
    u.answered("Rejected")
    assert (u.stage, u.reason) == (Stage.FAILED, "UpdateFirmware: Rejected")
    w = update(c, "CB-2")
    w.request()
    assert not w.silent_since(w.modified_on + timedelta(seconds=59), 60)
    assert w.silent_since(w.modified_on + timedelta(seconds=60), 60)
    w.expire()
    assert (w.stage, w.reason) == (Stage.FAILED, "Silent")


@pytest.mark.parametrize(
    "options",
    [
        {"groups": (50.0, 40.0, 100.0)},
        {"groups": (10.0, 50.0)},
        {"groups": ()},
        {"error_threshold": 0.0},
        {"success_threshold": 1.5},
        {"max_concurrent": 0},
        {"silence_timeout": 5},
    ],
)
def test_policies_the_platform_refuses(options: dict[str, object]) -> None:
    with pytest.raises(InvalidPolicy):
        RolloutPolicy(**options)  # type: ignore[arg-type]


def test_windows_in_the_chargers_time_zone() -> None:
    at = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)  # 23:30 in Berlin, 07:30 next day in Tokyo
    assert within_windows(NIGHTS, at, "Europe/Berlin") and not within_windows(NIGHTS, at, "Asia/Tokyo")
    with pytest.raises(InvalidPolicy):
        Window.parse("25:00", "06:00")
    assert choose(campaign_running(), 0, [Candidate("CB-1", 0, "Nowhere/Atlantis")], at) == []
    assert RolloutPolicy.evenly(4).groups == (25.0, 50.0, 75.0, 100.0)


def campaign_running() -> RolloutCampaign:
    c, _ = campaign(RolloutPolicy(windows=NIGHTS))
    c.start("operator@example.com")
    return c
