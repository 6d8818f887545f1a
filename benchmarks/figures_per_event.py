"""Figures per event: what a read model pays to compute a transaction's figures after one more MeterValues event,
once the transaction holds N samples (1,000 and 100,000 by default).

Two ways are measured on the same transaction: the projections' way (``TransactionStates``: the aggregate mutated
with the event and its ``RunningFigures`` advanced with the event's own samples), and from scratch
(``transaction_figures`` over every report and sample, what each event cost before). A transaction is built from
real domain events (one Started, then MeterValuesRecorded of ``--per-event`` samples each); nothing is stored.
Prints milliseconds per event; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from cloudbay_domain.figures import transaction_figures
from cloudbay_domain.metering import normalised_sample
from cloudbay_domain.reports import EventType, TransactionReport
from cloudbay_domain.transaction import Transaction
from projections.transaction_states import TransactionStates

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def meter_events(tx: Transaction, first: int, count: int, per_event: int) -> list[Transaction.Event]:
    """``count`` MeterValuesRecorded events of ``per_event`` register and power samples, from sample ``first``."""
    for n in range(first, first + count * per_event, per_event):
        samples = []
        for k in range(n, n + per_event):
            at = T0 + timedelta(seconds=k)
            samples.append(normalised_sample(at, None, float(k * 3)))
            samples.append(normalised_sample(at, "Power.Active.Import", 7200.0 + k % 50))
        tx.record_meter_values(samples)
    return [e for e in tx.collect_events() if isinstance(e, Transaction.Event)]


def unloadable(aggregate_id: object, version: int) -> Transaction:
    raise AssertionError("the cached state is always the one before the event")


def measure(samples: int, per_event: int, repeats: int) -> tuple[float, float]:
    """(ms per event with running figures, ms per event from scratch) at ``samples`` samples already recorded."""
    tx = Transaction.open("CB-BENCH", "T-1", 1, 1)
    tx.report(TransactionReport("T-1", EventType.STARTED, 0, T0, "Authorized", evse_id=1, connector_id=1))
    states = TransactionStates(unloadable)
    opened = [e for e in tx.collect_events() if isinstance(e, Transaction.Event)]
    for event in [*opened, *meter_events(tx, 0, samples // (2 * per_event), per_event)]:
        states.figures(event)
    running, scratch = [], []
    for r in range(repeats):
        (event,) = meter_events(tx, samples + r * per_event, 1, per_event)
        started = time.perf_counter()
        states.figures(event)
        running.append(time.perf_counter() - started)
        started = time.perf_counter()
        transaction_figures(tx.reports, tx.samples)
        scratch.append(time.perf_counter() - started)
    return 1000 * statistics.median(running), 1000 * statistics.median(scratch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--per-event", type=int, default=5, help="register + power pairs per MeterValues event")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"{'samples':>10} {'running ms/event':>17} {'from scratch ms/event':>22}")
    for n in args.samples:
        running, scratch = measure(n, args.per_event, args.repeats)
        print(f"{n:>10,} {running:>17.3f} {scratch:>22.3f}")


if __name__ == "__main__":
    main()
