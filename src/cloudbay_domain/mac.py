"""MAC addresses for manufactured devices: blocks of addresses, and the one pool that hands them out.

A block is a prefix of the 48-bit address space: an IEEE assignment (MA-L ``/24``, MA-M ``70:B3:D5:1/28``,
MA-S ``/36``) or a locally administered range (``02:00:00:00:00:00/24``). The pool is a single aggregate
holding every block and how far each is used: addresses are handed out in order, one ``Allocated`` event per
batch, and never again, whatever happens to the device that got one (scrapped or not). Two imports racing
for addresses both load the pool at the same version; the store lets only one save, the other reloads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

ADDRESS_BITS = 48
MIN_PREFIX_BITS, MAX_PREFIX_BITS = 8, 46
_HEX = re.compile(r"^[0-9A-F]+$")


class MacError(ValueError):
    """A MAC block or address the rules do not allow."""


class InvalidMacBlock(MacError):
    pass


class MacBlockOverlaps(MacError):
    pass


class MacAddressesExhausted(MacError):
    """The pool cannot hold a whole batch: nothing is allocated."""

    def __init__(self, wanted: int, left: int) -> None:
        super().__init__(f"the MAC blocks have {left} addresses left; the batch needs {wanted}")
        self.wanted, self.left = wanted, left


def format_mac(value: int) -> str:
    """``0x70b3d5100001`` as ``70:B3:D5:10:00:01``."""
    text = f"{value:012X}"
    return ":".join(text[i : i + 2] for i in range(0, 12, 2))


def normalise_mac(text: str) -> str:
    """Any spelling of an address (``70-b3-d5-10-00-01``, ``70b3.d510.0001``) as ``70:B3:D5:10:00:01``."""
    digits = re.sub(r"[:\-.\s]", "", text.strip()).upper()
    if len(digits) != 12 or not _HEX.match(digits):
        raise MacError(f"not a MAC address: {text!r}")
    return format_mac(int(digits, 16))


@dataclass(frozen=True, order=True)
class MacBlock:
    """The addresses sharing the first ``bits`` bits of ``prefix`` (a 48-bit value, zero beyond the prefix)."""

    prefix: int
    bits: int

    @classmethod
    def parse(cls, text: str) -> MacBlock:
        """``70:B3:D5:1/28``: hex digits (separators optional) covering at least the prefix, then ``/bits``;
        digits beyond the prefix must be zero. The first octet must be unicast (its lowest bit clear)."""
        value, slash, bits_text = text.strip().partition("/")
        if not slash or not bits_text.isdigit():
            raise InvalidMacBlock(f"a MAC block is a prefix and its length, e.g. 70:B3:D5:1/28; not {text!r}")
        bits = int(bits_text)
        digits = re.sub(r"[:\-.]", "", value).upper()
        if not MIN_PREFIX_BITS <= bits <= MAX_PREFIX_BITS:
            raise InvalidMacBlock(f"a MAC block's prefix is {MIN_PREFIX_BITS} to {MAX_PREFIX_BITS} bits, not {bits}")
        if not digits or len(digits) > 12 or not _HEX.match(digits) or len(digits) * 4 < bits:
            raise InvalidMacBlock(f"{text!r}: the prefix needs at least {-(-bits // 4)} hex digits (at most 12)")
        prefix = int(digits.ljust(12, "0"), 16)
        if prefix & ((1 << (ADDRESS_BITS - bits)) - 1):
            raise InvalidMacBlock(f"{text!r}: digits beyond the first {bits} bits must be zero")
        if (prefix >> 40) & 1:
            raise InvalidMacBlock(f"{text!r} is a multicast prefix (lowest bit of the first octet set)")
        return cls(prefix, bits)

    @property
    def size(self) -> int:
        return 1 << (ADDRESS_BITS - self.bits)

    @property
    def last(self) -> int:
        return self.prefix + self.size - 1

    def overlaps(self, other: MacBlock) -> bool:
        return self.prefix <= other.last and other.prefix <= self.last

    def __str__(self) -> str:
        return f"{format_mac(self.prefix)}/{self.bits}"


def addresses(ranges: list[list[int]]) -> list[str]:
    """Every address of ``[first, count]`` ranges, in order."""
    return [format_mac(first + n) for first, count in ranges for n in range(count)]


class MacPool(Aggregate):
    """Every MAC block of the platform and how many of its addresses are used (one aggregate: one version
    decides every allocation and every new block, so neither overlaps nor repeats can slip in)."""

    @staticmethod
    def create_id() -> UUID:
        return uuid5(NAMESPACE_URL, "cloudbay:mac-pool")

    class Opened(Aggregate.Created):
        pass

    @event(Opened)
    def __init__(self) -> None:
        self.blocks: list[MacBlock] = []
        self.used: dict[str, int] = {}  # str(block) -> addresses handed out from it
        self.allocations: dict[str, list[list[int]]] = {}  # batch id -> its [first, count] ranges

    @classmethod
    def open(cls) -> MacPool:
        return cls()

    def left(self) -> int:
        return sum(block.size - self.used[str(block)] for block in self.blocks)

    def add_block(self, block: MacBlock, added_by: str) -> bool:
        """Add a block; False (nothing recorded) when exactly this block is there already."""
        if block in self.blocks:
            return False
        for existing in self.blocks:
            if existing.overlaps(block):
                raise MacBlockOverlaps(f"MAC block {block} overlaps {existing}")
        self.trigger_event(self.BlockAdded, block=str(block), added_by=added_by)
        return True

    class BlockAdded(Aggregate.Event):
        block: str
        added_by: str

        def apply(self, pool: MacPool) -> None:
            value, bits = self.block.split("/")
            block = MacBlock(int(value.replace(":", ""), 16), int(bits))
            pool.blocks.append(block)
            pool.used[self.block] = 0

    def allocate(self, batch_id: str, count: int) -> list[list[int]]:
        """``count`` new addresses for ``batch_id`` as ``[first, count]`` ranges (the blocks in the order they
        were added, each used from its start); all of them or none."""
        if count < 1:
            raise MacError("a batch needs at least one address")
        if count > self.left():
            raise MacAddressesExhausted(count, self.left())
        ranges, wanted = [], count
        for block in self.blocks:
            free = block.size - self.used[str(block)]
            if free and wanted:
                take = min(free, wanted)
                ranges.append([block.prefix + self.used[str(block)], take])
                wanted -= take
        self.trigger_event(self.Allocated, batch_id=batch_id, ranges=ranges)
        return ranges

    class Allocated(Aggregate.Event):
        batch_id: str
        ranges: list[list[int]]

        def apply(self, pool: MacPool) -> None:
            for first, count in self.ranges:
                block = next(b for b in pool.blocks if b.prefix <= first <= b.last)
                pool.used[str(block)] = first - block.prefix + count
            pool.allocations[self.batch_id] = self.ranges
