"""The node's garbage collector settings (adapters/gc_tuning.py), checked in a process of their own: they are
process-wide, and the test process keeps CPython's defaults."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json
from adapters import gc_tuning
before = gc.get_freeze_count()
gc_tuning.tune()
held = [[i] for i in range(1000)]  # what a process built while starting
gc_tuning.started()
print(json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count() - before}))
"""


def test_a_node_collects_young_objects_less_often_and_freezes_what_it_started_with() -> None:
    from adapters import gc_tuning

    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60)
    seen = json.loads(out.stdout)
    assert seen["threshold"] == [gc_tuning.YOUNG, gc_tuning.MIDDLE, gc_tuning.OLD]
    assert seen["frozen"] >= 1000  # the start-up objects, out of every later collection's walk
