"""The garbage collector tuned for a long-running node (``cloudbay serve`` and its projector).

CPython's default starts a young-generation collection every 700 net allocations of container objects, and
each full collection walks every object the process holds. A node allocates a few hundred containers per
OCPP message (the frame's dicts, the domain's events) and holds a large, long-lived heap (modules, schemas,
kept aggregates), so under load it spent about a fifth of its time collecting, most of it in full collections
that find nothing (``benchmarks/handler_cost.py``, figures in docs/operations.md). Reference counting frees
nearly all of that garbage anyway; the collector is only for cycles.

So: the young generation is collected every ``YOUNG`` allocations (a few MB of short-lived cycles may wait
that long), older ones less often, and what the process built while starting is moved out of the collector's
reach (``gc.freeze``) once it is up: it is never garbage, and full collections no longer walk it.
"""

from __future__ import annotations

import gc

YOUNG = 50_000  # net container allocations between young collections (CPython's default: 700)
MIDDLE = 20  # young collections between middle ones (default 10)
OLD = 100  # middle collections between full ones (default 10; CPython also waits for 25 % more long-lived objects)


def tune() -> None:
    """Set the thresholds: at the start of a node's process."""
    gc.set_threshold(YOUNG, MIDDLE, OLD)


def started() -> None:
    """Once the process is up: collect what starting left, then keep what remains out of later collections."""
    gc.collect()
    gc.freeze()
