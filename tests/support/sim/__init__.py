"""Deterministic simulation of the consensus core: n validators in one process over a
simulated clock and network, all randomness from one seed, invariants checked as it runs.

``run_simulation(seed, validators)`` returns a :class:`SimResult`; ``bench/sim_sweep.py``
runs many seeds.
"""

from .app import FakeApp, FakeBlock
from .invariants import Checker, Violation
from .scenario import SimResult, World, repro_command, run_simulation, validators_for_seed

__all__ = [
    "Checker",
    "FakeApp",
    "FakeBlock",
    "SimResult",
    "Violation",
    "World",
    "repro_command",
    "run_simulation",
    "validators_for_seed",
]
