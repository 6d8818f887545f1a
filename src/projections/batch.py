"""Batched projections: ``apply`` gathers a batch's changes in memory, ``flush(tx)`` writes them.

A projection with a ``flush`` method has it called once per batch, after its last event and in the same
read-model transaction that records the tracked position: the read model and the position still commit
together (exactly once), with a few statements per table instead of one per event. ``Pending`` keeps the
gathered changes of one transaction; ``write_rows`` writes a batch of rows keyed by one column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from projections.db import Tx
from projections.poison import EventFailed

Batch = TypeVar("Batch")


class Pending(Generic[Batch]):
    """A batched projection's unwritten changes (a ``Batch`` made by ``new``) for one read-model transaction:
    those of an earlier transaction (one that failed before its flush) are dropped when the next one begins."""

    def __init__(self, new: Callable[[], Batch]) -> None:
        self._new = new
        self._tx: Tx | None = None
        self._batch = new()

    def of(self, tx: Tx) -> Batch:
        """The changes gathered so far in ``tx``."""
        if self._tx is not tx:
            self._tx, self._batch = tx, self._new()
        return self._batch

    def take(self, tx: Tx) -> Batch:
        """The changes gathered in ``tx``, forgotten here (they are being written)."""
        batch = self.of(tx)
        self._tx, self._batch = None, self._new()
        return batch


def flush_batch(projection: object, tx: Tx, last: tuple[int, str] | None) -> None:
    """Write what a batched projection gathered (``last``: the batch's last applied position and topic)."""
    flush = getattr(projection, "flush", None)
    if flush is None or last is None:
        return
    try:
        flush(tx)
    except Exception as e:  # a follower retries one event at a time after a failure: then this names the event
        raise EventFailed(last[0], last[1], e) from e


def write_rows(
    tx: Tx, table: str, key: str, inserted: dict[str, dict[str, Any]], changed: dict[str, dict[str, Any]]
) -> None:
    """Write a batch of rows of ``table`` keyed by ``key``, as one statement per shape of change.

    ``inserted``: rows to insert, an existing row keeping its own columns (``ON CONFLICT DO NOTHING``);
    ``changed``: the columns to set in a row, latest values. A row in both is inserted with its changes (an
    existing one gets only the changes), exactly as the insert followed by the update would leave it.
    """
    inserts: dict[tuple[tuple[str, ...], tuple[str, ...]], list[tuple[Any, ...]]] = {}
    for row_key, row in inserted.items():
        changes = changed.get(row_key, {})
        merged = {**row, **changes}
        inserts.setdefault((tuple(merged), tuple(changes)), []).append(tuple(merged.values()))
    updates: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for row_key, changes in changed.items():
        if row_key not in inserted:
            updates.setdefault(tuple(changes), []).append((*changes.values(), row_key))
    for (columns, updated), rows in inserts.items():  # one statement per shape of change, the keys distinct
        sets = ", ".join(f"{name} = excluded.{name}" for name in updated)
        tx.insert_rows(
            table, columns, rows, f"ON CONFLICT ({key}) {f'DO UPDATE SET {sets}' if updated else 'DO NOTHING'}"
        )
    for columns, rows in updates.items():
        tx.update_rows(table, key, columns, rows)
