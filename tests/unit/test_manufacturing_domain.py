"""The manufacturing domain without I/O: MAC blocks and the pool, the pipeline state machine, batches, codes.

Hypothesis drives the pool through any interleaving of blocks added, batches imported (some too big) and
devices scrapped, and the device through any sequence of transitions and release attempts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from cloudbay_domain.batch import MAX_LISTED_ROWS, BatchRefused, BatchSpec
from cloudbay_domain.codes import BOX, PAIRING, DeviceCodes, grouped, normalise_code, read_payload, scanned_code
from cloudbay_domain.device import (
    MAX_FAILED_RELEASES,
    TRANSITIONS,
    Device,
    DeviceState,
    InvalidTransition,
    ReleaseLocked,
    allowed,
)
from cloudbay_domain.mac import (
    InvalidMacBlock,
    MacAddressesExhausted,
    MacBlock,
    MacBlockOverlaps,
    MacPool,
    addresses,
    normalise_mac,
)

KEY = bytes(range(32))


@pytest.mark.parametrize(
    ("text", "first", "size"),
    [
        ("70:B3:D5:1/28", "70:B3:D5:10:00:00", 1 << 20),
        ("02:00:00:00:00:00/24", "02:00:00:00:00:00", 1 << 24),
        ("00-1a-2b/24", "00:1A:2B:00:00:00", 1 << 24),
        ("70B3D5F12/36", "70:B3:D5:F1:20:00", 1 << 12),
    ],
)
def test_blocks_parse(text: str, first: str, size: int) -> None:
    block = MacBlock.parse(text)
    assert str(block).split("/")[0] == first and block.size == size
    assert MacBlock.parse(str(block)) == block


@pytest.mark.parametrize(
    "text", ["70:B3:D5:1", "70:B3:D5/28", "70:B3:D5:1/4", "70:B3:D5:11/28", "01:00:00/24", "GG:00:00/24", "/24"]
)
def test_bad_blocks_are_refused(text: str) -> None:
    with pytest.raises(InvalidMacBlock):
        MacBlock.parse(text)


def test_addresses_have_one_spelling() -> None:
    assert normalise_mac("70-b3-d5-10-00-2a") == normalise_mac("70b3.d510.002a") == "70:B3:D5:10:00:2A"


class PoolMachine(RuleBasedStateMachine):
    """Any interleaving of blocks, imports (too big ones refused whole) and scraps: never an address twice,
    never outside a block, never a scrapped device's address again, and the events replay to the same pool."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = MacPool.open()
        self.handed: list[str] = []
        self.scrapped: set[str] = set()
        self.batches = 0

    @rule(start=st.integers(0, 63), bits=st.integers(40, 46))
    def add_block(self, start: int, bits: int) -> None:
        block = MacBlock((0x02 << 40) + (start << (48 - bits)), bits)
        overlapping = any(block.overlaps(b) and block != b for b in self.pool.blocks)
        try:
            self.pool.add_block(block, "test")
        except MacBlockOverlaps:
            assert overlapping
        else:
            assert not overlapping and block in self.pool.blocks

    @rule(count=st.integers(1, 300))
    def import_batch(self, count: int) -> None:
        left, version = self.pool.left(), self.pool.version
        self.batches += 1
        try:
            ranges = self.pool.allocate(f"b{self.batches}", count)
        except MacAddressesExhausted as e:
            assert count > left and e.left == left and self.pool.version == version  # nothing recorded
            return
        self.handed.extend(addresses(ranges))
        assert self.pool.left() == left - count

    @rule(data=st.data())
    def scrap(self, data: st.DataObject) -> None:
        if self.handed:
            self.scrapped.add(data.draw(st.sampled_from(self.handed)))

    @invariant()
    def never_twice(self) -> None:
        assert len(self.handed) == len(set(self.handed))
        values = [int(a.replace(":", ""), 16) for a in self.handed]
        assert all(any(b.prefix <= v <= b.last for b in self.pool.blocks) for v in values)

    @invariant()
    def replays(self) -> None:
        copy = None
        for e in self.pool.pending_events:
            copy = e.mutate(copy)
        assert copy is not None and copy.used == self.pool.used and copy.blocks == self.pool.blocks


TestPool = PoolMachine.TestCase
TestPool.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


def device(station_id: str = "CB-1") -> Device:
    return Device(
        station_id=station_id,
        batch_id="b",
        model="m",
        hardware_family="f",
        mac_address="02:00:00:00:00:01",
        key_id="k1",
        pairing_hash="p",
        box_hash="h",
        manufactured_by="line",
    )


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("move"), st.sampled_from(list(DeviceState)), st.booleans()),
        st.tuples(st.just("release"), st.booleans(), st.booleans()),  # (right code?, allow_unenrolled)
        st.tuples(st.just("unlock"), st.just(False), st.just(False)),
    ),
    max_size=40,
)


@given(STEPS)
@settings(max_examples=200, deadline=None)
def test_the_pipeline_never_takes_an_invalid_transition(steps: list[tuple[str, object, bool]]) -> None:
    d = device()
    for kind, arg, unenrolled in steps:
        before, version = d.state, d.version
        if kind == "move":
            assert isinstance(arg, DeviceState)
            ok = allowed(before, arg, unenrolled)
            try:
                d.move(arg, "line", allow_unenrolled=unenrolled)
            except InvalidTransition as e:
                assert not ok and e.state == before.value and d.version == version
            else:
                assert ok and d.state is arg
        elif kind == "release":
            try:
                d.check_release(unenrolled)
            except InvalidTransition:
                assert not allowed(before, DeviceState.RELEASED, unenrolled)
            except ReleaseLocked:
                assert d.failed_releases >= MAX_FAILED_RELEASES
            else:
                if arg:
                    d.release("line", unenrolled)
                else:
                    d.refuse_release("line")
                assert (d.state is DeviceState.RELEASED) == bool(arg)
        elif d.locked:
            d.unlock("admin")
        if not TRANSITIONS[before]:
            assert d.state is before  # released and scrapped are final
        assert d.locked == (d.failed_releases >= MAX_FAILED_RELEASES)


def test_ten_wrong_codes_lock_release() -> None:
    d = device()
    for _ in range(MAX_FAILED_RELEASES - 1):
        d.refuse_release("line")
    assert not d.locked
    d.refuse_release("line")
    with pytest.raises(ReleaseLocked):
        d.release("line", allow_unenrolled=True)
    d.unlock("admin")
    d.release("line", allow_unenrolled=True)
    assert d.state is DeviceState.RELEASED


def test_batches_list_every_bad_row_and_digest_their_content() -> None:
    rows = [{"serial_number": f"S-{n}"} for n in range(3)]
    one = BatchSpec.of(None, "f", "m", rows)
    assert (
        one.digest()
        == BatchSpec.of(None, " f ", "m", [{"serial_number": f" S-{n} ", "model": ""} for n in range(3)]).digest()
    )
    assert one.resolved_id == one.digest()[:16] and BatchSpec.of("B", "f", "m", rows).digest() == one.digest()
    with pytest.raises(BatchRefused) as refused:
        BatchSpec.of(None, "f", "m", [{"serial_number": "A/B"}] * 150)
    assert len(refused.value.rows) == MAX_LISTED_ROWS and refused.value.bad_rows == 150 + 149  # duplicates too


def test_codes_derive_from_the_key_and_read_back() -> None:
    codes = DeviceCodes.derive(KEY, "CB-1")
    assert codes == DeviceCodes.derive(KEY, "CB-1") != DeviceCodes.derive(bytes(32), "CB-1")
    assert len(codes.pairing) == 16 and len(codes.box) == 20 and codes.pairing != codes.box[:16]
    assert read_payload(codes.charger_payload) == (PAIRING, "CB-1", codes.pairing)
    assert read_payload(codes.box_payload) == (BOX, "CB-1", codes.box)
    assert normalise_code(grouped(codes.box).lower()) == codes.box
    assert (
        scanned_code(codes.box_payload, BOX, "CB-2") is None
        and scanned_code(codes.charger_payload, BOX, "CB-1") is None
    )
    odd = DeviceCodes.derive(KEY, "A&B=C")
    assert read_payload(odd.box_payload) == (BOX, "A&B=C", odd.box)
