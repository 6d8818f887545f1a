"""Transaction aggregates as a projection sees them, advanced event by event, with their figures.

Events carry facts only; a read model's figures are those of the transaction's state after the event
(``figures.transaction_figures``). A projection applies a transaction's events in version order, so it keeps the
aggregates it has seen lately, mutates each with the next event, and advances its ``RunningFigures`` with that
event's own facts: no store read and no rescan of the transaction's samples on the common path (an event costs
what its own samples cost, not what all the samples so far cost). When the cached state is not the one just
before the event (first sight of an aggregate, an eviction, a batch whose read-model transaction rolled back
after the cache moved on, a restart, or an event type the projection does not read), the aggregate is loaded at
exactly the event's version and its figures are built once from its facts: right whatever the cache holds,
only slower.

One ``TransactionStates`` per projection, used by that projection's follower thread only. When several
projections are handed the very same event object (a rebuild decodes each stored event once for all of them),
the state after it is computed once (``latest``): the first to be handed it advances its copy, the others find
that copy in a per-thread memo keyed by the event object (and leave their own behind; it is loaded again if
ever needed).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from uuid import UUID

from cloudbay_domain.figures import TransactionFigures
from cloudbay_domain.running_figures import DuplicateSeqNo, RunningFigures
from cloudbay_domain.transaction import Transaction

Loader = Callable[[UUID, int], Transaction]
"""``load(originator_id, version)``: the Transaction at exactly that version (the wiring passes
``lambda id, v: app.repository.get(id, version=v)``, which never returns the application's cached copy)."""

CACHE_SIZE = 5_000  # transactions running at once on a large site, with room for the recently ended
MEMO_SIZE = 12_000  # events remembered per thread with the running figures after them: over a rebuild's window

_memo = threading.local()


def _memo_of_thread() -> OrderedDict[int, tuple[weakref.ref[Any], TransactionStates, RunningFigures]]:
    memo = getattr(_memo, "running", None)
    if memo is None:
        memo = _memo.running = OrderedDict()
    return memo  # type: ignore[no-any-return]


class TransactionStates:
    """A bounded LRU of Transaction aggregates (each at the version of the last event it was advanced with)
    and their running figures."""

    def __init__(self, load: Loader, size: int = CACHE_SIZE) -> None:
        self._load = load
        self._size = size
        self._cache: OrderedDict[UUID, tuple[Transaction, RunningFigures]] = OrderedDict()

    def advance(self, event: Transaction.Event) -> Transaction:
        """The transaction just after ``event`` (the projection's events of one aggregate come in version order)."""
        return self._advance(event)[0]

    def figures(self, event: Transaction.Event) -> TransactionFigures | None:
        """The transaction's figures just after ``event``; None before its first report."""
        return self._advance(event)[1].figures()

    def follow(self, event: Transaction.Event) -> None:
        """Keep up with ``event`` (one whose figures are not wanted)."""
        self.latest(event)

    def latest(self, event: Transaction.Event) -> Callable[[], TransactionFigures | None]:
        """Keep up with ``event``; the transaction's figures as they are when called (a batch asks once, after
        its last event of the transaction). Nothing to do if another projection was handed this very event
        object in this thread: its copy, just as far, answers."""
        return self.running(event).figures

    def running(self, event: Transaction.Event) -> RunningFigures:
        """Keep up with ``event``; the transaction's running figures, as they are when read (a batch reads
        them at its flush)."""
        memo = _memo_of_thread()
        known = memo.get(id(event))
        if known is not None and known[0]() is event and known[1] is not self:
            return known[2]
        running = self._advance(event)[1]
        memo[id(event)] = (weakref.ref(event), self, running)
        if len(memo) > MEMO_SIZE:
            memo.popitem(last=False)
        return running

    def _advance(self, event: Transaction.Event) -> tuple[Transaction, RunningFigures]:
        cached = self._cache.pop(event.originator_id, None)
        state: tuple[Transaction, RunningFigures] | None = None
        if isinstance(event, Transaction.Opened):
            opened = event.mutate(None)
            assert opened is not None
            state = (opened, RunningFigures())
        elif cached is not None and cached[0].version == event.originator_version - 1:
            aggregate = event.mutate(cached[0])
            assert aggregate is not None  # no Transaction event discards its aggregate
            state = (aggregate, cached[1]) if _advanced(cached[1], event, aggregate) else None
        if state is None:
            aggregate = self._load(event.originator_id, event.originator_version)
            state = (aggregate, RunningFigures.of(aggregate.reports, aggregate.samples))
        self._cache[event.originator_id] = state
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return state

    def __len__(self) -> int:
        return len(self._cache)


def _advanced(running: RunningFigures, event: Transaction.Event, aggregate: Transaction) -> bool:
    """Advance ``running`` with ``event``, just applied to ``aggregate``; False if it must be built again."""
    if isinstance(event, Transaction.Reported | Transaction.MeterValuesRecorded):
        new_samples = aggregate.samples[len(aggregate.samples) - len(event.samples) :]  # the ones it appended
        if isinstance(event, Transaction.Reported):
            try:
                running.add_report(event.seq_no, event)
            except DuplicateSeqNo:  # recorded once by the aggregate: only an event log written otherwise
                return False
        running.add_samples(new_samples)
    return True
