"""``node.runtime.tune_gc``: what ``fcl node start`` does to the cyclic garbage collector."""

from __future__ import annotations

import gc

from node.runtime import GC_THRESHOLDS, tune_gc


def test_tune_gc_freezes_start_up_objects_and_raises_the_thresholds() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > 700  # collect young objects less often than CPython does
        assert gc.get_freeze_count() > frozen_before
        assert gc.isenabled()  # cycles are still collected
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
