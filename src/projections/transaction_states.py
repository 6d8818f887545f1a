"""Transaction aggregates as a projection sees them, advanced event by event, so figures can be computed.

Events carry facts only; a read model's figures are ``transaction_figures`` of the transaction's state after
the event. A projection applies a transaction's events in version order, so it keeps the aggregates it has
seen lately and mutates each with the next event: no store read on the common path. When the cached state is
not the one just before the event (first sight of an aggregate, an eviction, a batch whose read-model
transaction rolled back after the cache moved on, a restart, or an event type the projection does not read),
the aggregate is loaded at exactly the event's version: right whatever the cache holds, only slower.

One ``TransactionStates`` per projection, used by that projection's follower thread only. The projections of
one process share a ``FiguresMemo``: figures are a pure function of (transaction, version), so the second
projection to reach an event reuses what the first computed instead of summarising every sample again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from uuid import UUID

from cloudbay_domain.figures import TransactionFigures, transaction_figures
from cloudbay_domain.transaction import Transaction

Loader = Callable[[UUID, int], Transaction]
"""``load(originator_id, version)``: the Transaction at exactly that version (the wiring passes
``lambda id, v: app.repository.get(id, version=v)``, which never returns the application's cached copy)."""

CACHE_SIZE = 5_000  # transactions running at once on a large site, with room for the recently ended


class FiguresMemo:
    """A small thread-safe LRU of computed figures by (transaction id, version)."""

    def __init__(self, size: int = 2 * CACHE_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._figures: OrderedDict[tuple[UUID, int], TransactionFigures | None] = OrderedDict()

    def get(self, transaction: Transaction) -> TransactionFigures | None:
        key = (transaction.id, transaction.version)
        with self._lock:
            if key in self._figures:
                self._figures.move_to_end(key)
                return self._figures[key]
        figures = transaction_figures(transaction.reports, transaction.samples)
        with self._lock:
            self._figures[key] = figures
            if len(self._figures) > self._size:
                self._figures.popitem(last=False)
        return figures


class TransactionStates:
    """A bounded LRU of Transaction aggregates, each at the version of the last event it was advanced with."""

    def __init__(self, load: Loader, size: int = CACHE_SIZE, memo: FiguresMemo | None = None) -> None:
        self._load = load
        self._size = size
        self._cache: OrderedDict[UUID, Transaction] = OrderedDict()
        self._memo = memo or FiguresMemo()

    def advance(self, event: Transaction.Event) -> Transaction:
        """The transaction just after ``event`` (the projection's events of one aggregate come in version order)."""
        cached = self._cache.pop(event.originator_id, None)
        if isinstance(event, Transaction.Opened):
            aggregate: Transaction | None = event.mutate(None)
        elif cached is not None and cached.version == event.originator_version - 1:
            aggregate = event.mutate(cached)
        else:
            aggregate = self._load(event.originator_id, event.originator_version)
        assert aggregate is not None  # no Transaction event discards its aggregate
        self._cache[event.originator_id] = aggregate
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return aggregate

    def figures(self, event: Transaction.Event) -> TransactionFigures | None:
        """The transaction's figures just after ``event``; None before its first report."""
        return self._memo.get(self.advance(event))

    def __len__(self) -> int:
        return len(self._cache)
