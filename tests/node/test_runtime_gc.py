"""``node.runtime.tune_gc``: what ``fcl node start`` does to the cyclic garbage collector."""

from __future__ import annotations

import gc

from node.runtime import tune_gc


def test_tune_gc_freezes_start_up_objects_and_keeps_the_collector_as_it_was() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    try:
        tune_gc()
        assert gc.get_freeze_count() > frozen_before
        # the thresholds stay CPython's: larger ones let cycles holding decoded payloads
        # wait, and a node under the memory-amplifying attack outgrew its memory bound
        assert gc.get_threshold() == before
        assert gc.isenabled()  # cycles are still collected
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
