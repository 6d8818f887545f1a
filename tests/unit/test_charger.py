"""The Charger aggregate: given events, when a command, then events or an error (no I/O).

The last part drives the aggregate, and then the Platform services on the in-memory store, with
hypothesis state machines: any sequence of OCPP-ish commands keeps the charger consistent with its own
event log.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cloudbay_domain.charger import Charger, ConnectorStatus, InvalidStationId, NotConnected, Presence
from cloudbay_domain.reports import BootReport, DataTransferReport, EventsReport, StatusReport
from cloudbay_domain.station_id import MAX_STATION_ID_LENGTH
from services.chargers import ChargerAlreadyWhitelisted, ChargerNotWhitelisted
from services.errors import ConcurrentUpdate
from services.platform import Platform
from services.store import MAX_CONFLICT_RETRIES

AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
STATION = "CB-0001"
IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def whitelisted(station_id: str = STATION) -> Charger:
    """Given: a whitelisted charger whose creation event has already been collected."""
    charger = Charger.whitelist(station_id, "home")
    charger.collect_events()
    return charger


def online(session_id: str = "s1") -> Charger:
    """Given: a whitelisted charger with an open session."""
    charger = whitelisted()
    charger.connect(session_id, "node-a")
    charger.collect_events()
    return charger


def booted() -> Charger:
    charger = online()
    boot(charger)
    charger.collect_events()
    return charger


def boot(charger: Charger, at: datetime = AT) -> None:
    charger.boot(BootReport("PowerUp", "CloudBay", "CB-Home", "SN-1", "1.0.0", at))


def replay(events: Iterable[Any]) -> Any:
    return functools.reduce(lambda agg, e: e.mutate(agg), events, None)


def state(aggregate: Aggregate) -> dict[str, Any]:
    return {k: v for k, v in aggregate.__dict__.items() if k != "_pending_events"}


def only_event(charger: Charger, event_type: type[Any]) -> Any:
    events = charger.collect_events()
    assert [type(e) for e in events] == [event_type]
    return events[0]


# --- whitelist and identity -----------------------------------------------------------------


def test_whitelisting_records_one_event_and_starts_offline() -> None:
    charger = Charger.whitelist(STATION, " home ")

    (created,) = charger.collect_events()
    assert isinstance(created, Charger.Whitelisted)
    assert created.station_id == STATION
    assert created.hardware_family == "home"
    assert created.originator_id == Charger.create_id(STATION) == charger.id
    assert created.originator_version == 1
    assert charger.presence is Presence.OFFLINE
    assert charger.session_id is None
    assert charger.boot_count == 0
    assert charger.connectors == {}
    assert (charger.periodic_event_count, charger.data_transfer_count) == (0, 0)


def test_blank_hardware_family_becomes_default() -> None:
    charger = Charger.whitelist(STATION, "   ")

    assert charger.hardware_family == "default"


@pytest.mark.parametrize(
    "station_id",
    ["A", "x" * MAX_STATION_ID_LENGTH, "CB-0001", "cb_00.01~beta", "SERIAL:1234", "0"],
)
def test_valid_station_ids_are_whitelisted(station_id: str) -> None:
    charger = Charger.whitelist(station_id, "home")

    assert charger.station_id == station_id
    assert charger.id == Charger.create_id(station_id)


@pytest.mark.parametrize(
    "station_id",
    [
        pytest.param("", id="empty"),
        pytest.param("x" * (MAX_STATION_ID_LENGTH + 1), id="49-chars"),
        pytest.param("CB/0001", id="slash"),
        pytest.param("/", id="only-slash"),
        pytest.param("CB 0001", id="space"),
        pytest.param(" CB-0001", id="leading-space"),
        pytest.param("CB\x000001", id="nul"),
        pytest.param("CB-0001\n", id="newline"),
        pytest.param("CB\t0001", id="tab"),
        pytest.param("CB\x7f", id="del"),
        pytest.param("CB\u200b1", id="zero-width-space"),
        pytest.param("CB?1", id="question-mark"),
        pytest.param("CB#1", id="hash"),
        pytest.param("CB%201", id="percent"),
    ],
)
def test_invalid_station_ids_are_refused(station_id: str) -> None:
    with pytest.raises(InvalidStationId):
        Charger.whitelist(station_id, "home")


def test_charger_id_is_derived_from_the_station_id() -> None:
    # Pinned: stored chargers are found by this id, so changing the derivation would orphan them.
    assert Charger.create_id(STATION) == UUID("69b487fc-4ccd-5b7e-ab77-9feb003f23ab")
    assert Charger.create_id(STATION) == Charger.create_id("CB-0001")
    assert Charger.create_id(STATION) != Charger.create_id("CB-0002")
    assert Charger.whitelist(STATION, "a").id == Charger.whitelist(STATION, "b").id


# --- connections ------------------------------------------------------------------------------


def test_connect_opens_a_session() -> None:
    charger = whitelisted()

    charger.connect("s1", "node-a")

    connected = only_event(charger, Charger.Connected)
    assert (connected.session_id, connected.node, connected.replaced) == ("s1", "node-a", None)
    assert charger.presence is Presence.ONLINE
    assert charger.session_id == "s1"


def test_a_new_session_replaces_the_open_one() -> None:
    charger = online("s1")

    charger.connect("s2", "node-b")

    connected = only_event(charger, Charger.Connected)
    assert (connected.session_id, connected.node, connected.replaced) == ("s2", "node-b", "s1")
    assert charger.session_id == "s2"
    assert charger.presence is Presence.ONLINE


def test_disconnect_of_the_open_session_goes_offline() -> None:
    charger = online("s1")

    assert charger.disconnect("s1", "closed") is True

    disconnected = only_event(charger, Charger.Disconnected)
    assert (disconnected.session_id, disconnected.reason) == ("s1", "closed")
    assert charger.presence is Presence.OFFLINE
    assert charger.session_id is None


def test_disconnect_of_a_replaced_session_records_nothing() -> None:
    charger = online("s1")
    charger.connect("s2", "node-b")
    charger.collect_events()

    assert charger.disconnect("s1", "closed") is False

    assert charger.collect_events() == []
    assert charger.session_id == "s2"
    assert charger.presence is Presence.ONLINE


def test_disconnect_while_offline_records_nothing() -> None:
    charger = whitelisted()

    assert charger.disconnect("s1", "closed") is False

    assert charger.collect_events() == []
    assert charger.presence is Presence.OFFLINE


# --- boot -------------------------------------------------------------------------------------


def test_boot_requires_an_open_session() -> None:
    charger = whitelisted()

    with pytest.raises(NotConnected):
        boot(charger)

    assert charger.collect_events() == []
    assert charger.boot_count == 0


def test_boot_after_disconnect_is_refused() -> None:
    charger = online("s1")
    charger.disconnect("s1", "closed")
    charger.collect_events()

    with pytest.raises(NotConnected):
        boot(charger)

    assert charger.collect_events() == []


def test_boot_records_the_station_details() -> None:
    charger = online()

    charger.boot(BootReport("PowerUp", "CloudBay", "CB-Home", None, "1.2.3", AT))

    booted_event = only_event(charger, Charger.Booted)
    assert booted_event.reason == "PowerUp"
    assert (booted_event.vendor, booted_event.model) == ("CloudBay", "CB-Home")
    assert booted_event.serial_number is None
    assert booted_event.firmware_version == "1.2.3"
    assert booted_event.reported_at == AT
    assert charger.boot_count == 1
    assert charger.last_boot_at == AT
    assert (charger.vendor, charger.model, charger.serial_number, charger.firmware_version) == (
        "CloudBay",
        "CB-Home",
        None,
        "1.2.3",
    )


def test_every_boot_is_counted() -> None:
    charger = booted()
    later = AT + timedelta(hours=1)

    boot(charger, later)

    only_event(charger, Charger.Booted)
    assert charger.boot_count == 2
    assert charger.last_boot_at == later


# --- connector status -------------------------------------------------------------------------


def test_status_before_any_boot_is_kept_but_flagged() -> None:
    charger = online()

    charger.change_connector_status(StatusReport(1, 2, ConnectorStatus.AVAILABLE, AT))

    changed = only_event(charger, Charger.ConnectorStatusChanged)
    assert (changed.evse_id, changed.connector_id, changed.status) == (1, 2, "Available")
    assert changed.reported_at == AT
    assert changed.before_boot is True
    assert charger.connectors == {"1/2": ConnectorStatus.AVAILABLE}


def test_status_after_boot_is_not_flagged() -> None:
    charger = booted()

    charger.change_connector_status(StatusReport(1, 1, ConnectorStatus.OCCUPIED, AT))

    changed = only_event(charger, Charger.ConnectorStatusChanged)
    assert changed.before_boot is False
    assert changed.status == "Occupied"
    assert charger.connectors == {"1/1": ConnectorStatus.OCCUPIED}


def test_status_given_as_its_ocpp_string_is_accepted() -> None:
    charger = booted()

    charger.change_connector_status(StatusReport(2, 1, "Faulted", AT))  # type: ignore[arg-type]

    assert only_event(charger, Charger.ConnectorStatusChanged).status == "Faulted"
    assert charger.connectors["2/1"] is ConnectorStatus.FAULTED


def test_latest_status_per_connector_wins() -> None:
    charger = booted()

    charger.change_connector_status(StatusReport(1, 1, ConnectorStatus.AVAILABLE, AT))
    charger.change_connector_status(StatusReport(1, 2, ConnectorStatus.RESERVED, AT))
    charger.change_connector_status(StatusReport(1, 1, ConnectorStatus.OCCUPIED, AT))

    assert len(charger.collect_events()) == 3
    assert charger.connectors == {"1/1": ConnectorStatus.OCCUPIED, "1/2": ConnectorStatus.RESERVED}


@pytest.mark.parametrize("status", ["Charging", "available", "", "SuspendedEV"])
def test_unknown_status_is_refused_without_an_event(status: str) -> None:
    charger = booted()

    with pytest.raises(ValueError):
        charger.change_connector_status(StatusReport(1, 1, status, AT))  # type: ignore[arg-type]

    assert charger.collect_events() == []
    assert charger.connectors == {}


def test_status_while_offline_is_refused() -> None:
    charger = whitelisted()

    with pytest.raises(NotConnected):
        charger.change_connector_status(StatusReport(1, 1, ConnectorStatus.AVAILABLE, AT))

    assert charger.collect_events() == []


# --- periodic events and data transfers --------------------------------------------------------


def test_reported_events_are_recorded_and_counted() -> None:
    charger = booted()
    data = [{"eventId": 1, "trigger": "Periodic", "actualValue": "42"}]

    charger.report_events(EventsReport(AT, 0, True, data))
    charger.report_events(EventsReport(AT, 1, False, []))

    first, second = list[Any](charger.collect_events())
    assert isinstance(first, Charger.PeriodicEventsReported)
    assert isinstance(second, Charger.PeriodicEventsReported)
    assert (first.generated_at, first.seq_no, first.to_be_continued, first.event_data) == (AT, 0, True, data)
    assert (second.seq_no, second.to_be_continued, second.event_data) == (1, False, [])
    assert charger.periodic_event_count == 2


def test_data_transfers_are_recorded_and_counted() -> None:
    charger = booted()

    charger.transfer_data(DataTransferReport("com.cloudbay", "ping", {"n": 1}, "Accepted"))
    charger.transfer_data(DataTransferReport("org.other", None, None, "UnknownVendorId"))

    first, second = list[Any](charger.collect_events())
    assert isinstance(first, Charger.DataTransferred)
    assert isinstance(second, Charger.DataTransferred)
    assert (first.vendor_id, first.message_id, first.data, first.answered) == (
        "com.cloudbay",
        "ping",
        {"n": 1},
        "Accepted",
    )
    assert (second.vendor_id, second.message_id, second.data, second.answered) == (
        "org.other",
        None,
        None,
        "UnknownVendorId",
    )
    assert charger.data_transfer_count == 2


def test_reports_and_transfers_need_an_open_session() -> None:
    charger = whitelisted()

    with pytest.raises(NotConnected):
        charger.report_events(EventsReport(AT, 0, False, []))
    with pytest.raises(NotConnected):
        charger.transfer_data(DataTransferReport("com.cloudbay", None, None, "Accepted"))

    assert charger.collect_events() == []
    assert (charger.periodic_event_count, charger.data_transfer_count) == (0, 0)


def test_replaying_the_events_rebuilds_the_charger() -> None:
    charger = Charger.whitelist(STATION, "home")
    charger.connect("s1", "node-a")
    charger.change_connector_status(StatusReport(1, 1, ConnectorStatus.UNAVAILABLE, AT))
    boot(charger)
    charger.change_connector_status(StatusReport(1, 1, ConnectorStatus.AVAILABLE, AT))
    charger.report_events(EventsReport(AT, 0, False, [{"eventId": 7}]))
    charger.transfer_data(DataTransferReport("com.cloudbay", None, "x", "Accepted"))
    charger.disconnect("s1", "closed")

    rebuilt = replay(charger.collect_events())

    assert state(rebuilt) == state(charger)
    assert rebuilt.version == 8


# --- any sequence of commands on the aggregate ------------------------------------------------

EVSES = st.integers(min_value=1, max_value=3)
CONNECTORS = st.integers(min_value=1, max_value=2)
STATUSES = st.sampled_from(list(ConnectorStatus))
BAD_STATUSES = st.sampled_from(["Charging", "available", "AVAILABLE", "", "SuspendedEV", "Available "])
SCALARS = st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=8)
JSONISH = SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(st.text(max_size=5), SCALARS, max_size=3)


class ChargerModel:
    """What the test expects, kept apart from the aggregate."""

    def __init__(self) -> None:
        self.sessions: list[str] = []
        self.current: str | None = None
        self.boots = 0
        self.statuses: dict[tuple[int, int], ConnectorStatus] = {}
        self.reports = 0
        self.transfers = 0

    def new_session(self) -> str:
        session_id = f"s{len(self.sessions) + 1}"
        self.sessions.append(session_id)
        return session_id

    def connectors(self) -> dict[str, ConnectorStatus]:
        return {f"{evse}/{connector}": status for (evse, connector), status in self.statuses.items()}


class ChargerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.charger = Charger.whitelist(STATION, "home")
        self.events: list[Any] = list(self.charger.collect_events())
        self.model = ChargerModel()
        self.now = AT

    def tick(self) -> datetime:
        self.now += timedelta(seconds=17)
        return self.now

    def collect(self, *expected: type[Any]) -> list[Any]:
        events = list(self.charger.collect_events())
        assert [type(e) for e in events] == list(expected)
        self.events.extend(events)
        return events

    def refused(self, error: type[Exception], command: Any) -> None:
        with pytest.raises(error):
            command()
        assert self.charger.pending_events == []

    @rule()
    def connect(self) -> None:
        session_id = self.model.new_session()
        self.charger.connect(session_id, "node-a")
        (connected,) = self.collect(Charger.Connected)
        assert connected.replaced == self.model.current
        self.model.current = session_id

    @precondition(lambda self: self.model.current is not None)
    @rule()
    def connect_again(self) -> None:
        previous = self.model.current
        session_id = self.model.new_session()
        self.charger.connect(session_id, "node-b")
        (connected,) = self.collect(Charger.Connected)
        assert connected.replaced == previous is not None
        self.model.current = session_id

    @rule(data=st.data())
    def disconnect(self, data: st.DataObject) -> None:
        session_id = data.draw(st.sampled_from([*self.model.sessions, "never-opened"]))
        closes = session_id == self.model.current
        assert self.charger.disconnect(session_id, "closed") is closes
        if closes:
            (disconnected,) = self.collect(Charger.Disconnected)
            assert disconnected.session_id == session_id
            self.model.current = None
        else:
            self.collect()

    @rule()
    def boot(self) -> None:
        at = self.tick()
        if self.model.current is None:
            self.refused(NotConnected, lambda: boot(self.charger, at))
            return
        boot(self.charger, at)
        (booted_event,) = self.collect(Charger.Booted)
        assert booted_event.reported_at == at
        self.model.boots += 1

    @rule(evse=EVSES, connector=CONNECTORS, status=STATUSES)
    def change_connector_status(self, evse: int, connector: int, status: ConnectorStatus) -> None:
        at = self.tick()
        report = StatusReport(evse, connector, status, at)
        if self.model.current is None:
            self.refused(NotConnected, lambda: self.charger.change_connector_status(report))
            return
        self.charger.change_connector_status(report)
        (changed,) = self.collect(Charger.ConnectorStatusChanged)
        assert (changed.evse_id, changed.connector_id, changed.status) == (evse, connector, status.value)
        assert changed.before_boot is (self.model.boots == 0)
        self.model.statuses[(evse, connector)] = status

    @rule(evse=EVSES, connector=CONNECTORS, status=BAD_STATUSES)
    def change_to_unknown_status(self, evse: int, connector: int, status: str) -> None:
        error = ValueError if self.model.current is not None else NotConnected
        report = StatusReport(evse, connector, status, self.tick())  # type: ignore[arg-type]
        self.refused(error, lambda: self.charger.change_connector_status(report))

    @rule(seq_no=st.integers(min_value=0, max_value=1000), more=st.booleans(), data=st.lists(JSONISH, max_size=2))
    def report_events(self, seq_no: int, more: bool, data: list[Any]) -> None:
        event_data = [{"eventId": i, "value": value} for i, value in enumerate(data)]
        report = EventsReport(self.tick(), seq_no, more, event_data)
        if self.model.current is None:
            self.refused(NotConnected, lambda: self.charger.report_events(report))
            return
        self.charger.report_events(report)
        (reported,) = self.collect(Charger.PeriodicEventsReported)
        assert (reported.seq_no, reported.to_be_continued, reported.event_data) == (seq_no, more, event_data)
        self.model.reports += 1

    @rule(message_id=st.none() | st.text(max_size=8), data=JSONISH, answered=st.sampled_from(["Accepted", "Rejected"]))
    def transfer_data(self, message_id: str | None, data: Any, answered: str) -> None:
        report = DataTransferReport("com.cloudbay", message_id, data, answered)
        if self.model.current is None:
            self.refused(NotConnected, lambda: self.charger.transfer_data(report))
            return
        self.charger.transfer_data(report)
        (transferred,) = self.collect(Charger.DataTransferred)
        assert (transferred.message_id, transferred.data, transferred.answered) == (message_id, data, answered)
        self.model.transfers += 1

    @invariant()
    def online_iff_a_session_is_open(self) -> None:
        assert (self.charger.presence is Presence.ONLINE) == (self.charger.session_id is not None)
        assert self.charger.session_id == self.model.current

    @invariant()
    def boots_are_counted_once_each(self) -> None:
        booted_events = [e for e in self.events if isinstance(e, Charger.Booted)]
        assert self.charger.boot_count == len(booted_events) == self.model.boots

    @invariant()
    def connectors_hold_the_last_status_reported(self) -> None:
        assert self.charger.connectors == self.model.connectors()

    @invariant()
    def counters_match(self) -> None:
        assert self.charger.periodic_event_count == self.model.reports
        assert self.charger.data_transfer_count == self.model.transfers

    @invariant()
    def replaying_the_log_rebuilds_the_charger(self) -> None:
        assert self.charger.pending_events == []
        assert self.charger.version == len(self.events)
        assert state(replay(self.events)) == state(self.charger)


TestChargerCommands = ChargerMachine.TestCase
TestChargerCommands.settings = settings(max_examples=60, stateful_step_count=30, deadline=None, database=None)


# --- the application: load, command, save, on the in-memory store ------------------------------

STATIONS = st.sampled_from(["CB-0001", "CB-0002"])


def head(app: Platform) -> int:
    return app.log.recorder.max_notification_id() or 0


class AppMachine(RuleBasedStateMachine):
    """The same commands through the Platform services; the stored log must always rebuild what they read."""

    ENV: dict[str, str] = IN_MEMORY

    def __init__(self) -> None:
        super().__init__()
        self.app = Platform.from_env(env=dict(self.ENV))
        self.models: dict[str, ChargerModel] = {}
        self.now = AT

    def tick(self) -> datetime:
        self.now += timedelta(seconds=17)
        return self.now

    def refused(self, error: type[Exception], command: Any) -> None:
        before = head(self.app)
        with pytest.raises(error):
            command()
        assert head(self.app) == before

    def written(self, command: Any, events: int = 1) -> Any:
        before = head(self.app)
        result = command()
        assert head(self.app) == before + events
        return result

    @initialize()
    def whitelist(self) -> None:
        for station_id in ("CB-0001", "CB-0002"):
            self.written(lambda sid=station_id: self.app.chargers.whitelist(sid, "home"))
            self.models[station_id] = ChargerModel()

    @rule(station_id=STATIONS)
    def connect(self, station_id: str) -> None:
        model = self.models[station_id]
        session_id = model.new_session()
        self.written(lambda: self.app.chargers.connected(station_id, session_id, "node-a"))
        model.current = session_id

    @rule(station_id=STATIONS, data=st.data())
    def disconnect(self, station_id: str, data: st.DataObject) -> None:
        model = self.models[station_id]
        session_id = data.draw(st.sampled_from([*model.sessions, "never-opened"]))
        closes = session_id == model.current
        closed = self.written(lambda: self.app.chargers.disconnected(station_id, session_id, "closed"), int(closes))
        assert closed is closes
        if closes:
            model.current = None

    @rule(station_id=STATIONS)
    def boot(self, station_id: str) -> None:
        model = self.models[station_id]
        at = self.tick()

        def command() -> None:
            self.app.chargers.record_boot(
                station_id,
                BootReport(
                    reason="PowerUp",
                    vendor="CloudBay",
                    model="CB-Home",
                    serial_number=station_id,
                    firmware_version="1.0.0",
                    reported_at=at,
                ),
            )

        if model.current is None:
            self.refused(NotConnected, command)
            return
        self.written(command)
        model.boots += 1

    @rule(station_id=STATIONS, evse=EVSES, connector=CONNECTORS, status=STATUSES)
    def change_connector_status(self, station_id: str, evse: int, connector: int, status: ConnectorStatus) -> None:
        model = self.models[station_id]
        at = self.tick()

        def command() -> None:
            self.app.chargers.record_status(station_id, StatusReport(evse, connector, status, at))

        if model.current is None:
            self.refused(NotConnected, command)
            return
        self.written(command)
        model.statuses[(evse, connector)] = status

    @rule(station_id=STATIONS, seq_no=st.integers(min_value=0, max_value=1000), data=st.lists(JSONISH, max_size=2))
    def report_events(self, station_id: str, seq_no: int, data: list[Any]) -> None:
        model = self.models[station_id]
        event_data = [{"eventId": i, "value": value} for i, value in enumerate(data)]

        def command() -> None:
            self.app.chargers.record_events(station_id, EventsReport(self.tick(), seq_no, False, event_data))

        if model.current is None:
            self.refused(NotConnected, command)
            return
        self.written(command)
        model.reports += 1

    @rule(station_id=STATIONS, data=JSONISH)
    def transfer_data(self, station_id: str, data: Any) -> None:
        model = self.models[station_id]

        def command() -> None:
            report = DataTransferReport("com.cloudbay", None, data, "Accepted")
            self.app.chargers.record_data_transfer(station_id, report)

        if model.current is None:
            self.refused(NotConnected, command)
            return
        self.written(command)
        model.transfers += 1

    @rule()
    def command_an_unknown_charger(self) -> None:
        self.refused(ChargerNotWhitelisted, lambda: self.app.chargers.connected("CB-9999", "s1", "node-a"))

    @rule(station_id=STATIONS)
    def whitelist_again(self, station_id: str) -> None:
        self.refused(ChargerAlreadyWhitelisted, lambda: self.app.chargers.whitelist(station_id, "home"))

    @invariant()
    def stored_log_rebuilds_what_the_app_reads(self) -> None:
        for station_id in self.models:
            charger_id = Charger.create_id(station_id)
            assert self.app.log.repository.get(charger_id) == replay(self.app.log.events.get(charger_id))

    @invariant()
    def chargers_match_the_model(self) -> None:
        for station_id, model in self.models.items():
            charger = self.app.chargers.get(station_id)
            assert charger.session_id == model.current
            assert (charger.presence is Presence.ONLINE) == (model.current is not None)
            assert charger.boot_count == model.boots
            assert charger.connectors == model.connectors()
            assert (charger.periodic_event_count, charger.data_transfer_count) == (model.reports, model.transfers)

    @invariant()
    def notification_ids_strictly_increase(self) -> None:
        notifications = self.app.log.recorder.select_notifications(1, 10000)
        ids = [n.id for n in notifications]
        assert all(a < b for a, b in zip(ids, ids[1:], strict=False))
        assert len(ids) == head(self.app)
        versions = sum(self.app.chargers.get(s).version for s in self.models)
        assert len(ids) == versions


TestAppCommands = AppMachine.TestCase
TestAppCommands.settings = settings(max_examples=30, stateful_step_count=20, deadline=None, database=None)


class CachedAppMachine(AppMachine):
    """As deployed: with the aggregate cache on (fast-forwarded, deep-copied for commands)."""

    ENV = {**IN_MEMORY, "AGGREGATE_CACHE_MAXSIZE": "100"}


TestCachedAppCommands = CachedAppMachine.TestCase
TestCachedAppCommands.settings = settings(max_examples=15, stateful_step_count=20, deadline=None, database=None)


# --- losing the optimistic-concurrency race ---------------------------------------------------


@pytest.fixture(params=[IN_MEMORY, {**IN_MEMORY, "AGGREGATE_CACHE_MAXSIZE": "100"}], ids=["no-cache", "cache"])
def app(request: pytest.FixtureRequest) -> Platform:
    app = Platform.from_env(env=dict(request.param))
    app.chargers.whitelist(STATION, "home")
    app.chargers.connected(STATION, "s1", "node-a")
    return app


def test_a_stale_copy_cannot_be_saved(app: Platform) -> None:
    charger_id = Charger.create_id(STATION)
    mine: Charger = app.log.repository.get(charger_id)
    theirs: Charger = app.log.repository.get(charger_id)
    boot(theirs)
    app.log.save(theirs)

    mine.transfer_data(DataTransferReport("com.cloudbay", None, None, "Accepted"))
    with pytest.raises(IntegrityError):
        app.log.save(mine)

    app.chargers.record_data_transfer(STATION, DataTransferReport("com.cloudbay", None, None, "Accepted"))

    charger = app.chargers.get(STATION)
    assert (charger.boot_count, charger.data_transfer_count) == (1, 1)


def test_a_command_that_loses_the_race_is_retried_on_a_fresh_copy(
    app: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    charger_id = Charger.create_id(STATION)
    rival: Charger = app.log.repository.get(charger_id)
    boot(rival)
    save = app.log.save
    attempts: list[int] = []

    def save_after_the_rival(*objs: Any, **kwargs: Any) -> Any:
        # Another node saves between this command's load and its save, once.
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            save(rival)
        return save(*objs, **kwargs)

    monkeypatch.setattr(app.log, "save", save_after_the_rival)

    app.chargers.record_status(STATION, StatusReport(1, 1, ConnectorStatus.OCCUPIED, AT))

    assert attempts == [1, 2]
    history = list[Any](app.chargers.history(STATION))
    assert [type(e) for e in history] == [
        Charger.Whitelisted,
        Charger.Connected,
        Charger.Booted,
        Charger.ConnectorStatusChanged,
    ]
    assert history[-1].before_boot is False  # decided on the reloaded copy, which had booted
    charger = app.chargers.get(STATION)
    assert charger.boot_count == 1
    assert charger.connectors == {"1/1": ConnectorStatus.OCCUPIED}


def test_a_command_that_always_loses_the_race_writes_nothing(app: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    before = head(app)
    attempts: list[Sequence[Any]] = []

    def always_conflicts(*objs: Any, **kwargs: Any) -> Any:
        attempts.append(objs)
        raise IntegrityError("someone else got there first")

    monkeypatch.setattr(app.log, "save", always_conflicts)

    with pytest.raises(ConcurrentUpdate):
        app.chargers.record_boot(
            STATION,
            BootReport(
                reason="PowerUp",
                vendor="CloudBay",
                model="CB-Home",
                serial_number=None,
                firmware_version=None,
                reported_at=AT,
            ),
        )

    assert len(attempts) == MAX_CONFLICT_RETRIES
    monkeypatch.undo()
    assert head(app) == before
    assert app.chargers.get(STATION).boot_count == 0


def test_commands_on_an_unknown_charger_write_nothing() -> None:
    app = Platform.from_env(env=dict(IN_MEMORY))

    with pytest.raises(ChargerNotWhitelisted):
        app.chargers.connected("CB-9999", "s1", "node-a")
    with pytest.raises(ChargerNotWhitelisted):
        app.chargers.get("CB-9999")
    with pytest.raises(ChargerNotWhitelisted):
        app.chargers.history("CB-9999")

    assert head(app) == 0
    assert not app.chargers.is_whitelisted("CB-9999")


def test_a_data_transfer_payload_cannot_make_the_charger_unreadable() -> None:
    app = Platform.from_env(env=dict(IN_MEMORY))
    app.chargers.whitelist(STATION, "home")
    app.chargers.connected(STATION, "s1", "node-a")
    hostile = {"_type_": "not-a-registered-type", "_data_": 1}

    app.chargers.record_data_transfer(STATION, DataTransferReport("com.cloudbay", None, hostile, "Accepted"))

    assert app.chargers.disconnected(STATION, "s1", "closed") is True
    transferred: Any = app.chargers.history(STATION)[2]
    assert transferred.data == hostile
