"""Deterministic simulation of the consensus core: n validators in one process over a
simulated clock and network, all randomness from one seed, invariants checked as it runs.

``run_simulation(seed, validators, app="real")`` returns a :class:`SimResult`;
``bench/sim_sweep.py`` runs many seeds. With ``app="real"`` (the default) each honest
validator runs the production application stack (``chain.RealChain``); ``app="fake"`` a
small fake application (``chain.FakeChain``).
"""

from .app import FakeApp, FakeBlock
from .invariants import Checker, Violation
from .scenario import (
    APP_MODES,
    AppMode,
    SimResult,
    World,
    repro_command,
    run_simulation,
    validators_for_seed,
)

__all__ = [
    "APP_MODES",
    "AppMode",
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
