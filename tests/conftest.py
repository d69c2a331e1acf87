"""Shared fixtures: a deterministic validator and regulator key and a one-validator genesis
(the helpers behind them are in ``tests/support/common.py``)."""

from __future__ import annotations

import pytest

from ledger.crypto import PrivateKey
from ledger.genesis import Genesis
from tests.support.common import det_key, make_genesis


@pytest.fixture
def validator_key() -> PrivateKey:
    return det_key("validator-0")


@pytest.fixture
def regulator_key() -> PrivateKey:
    return det_key("regulator")


@pytest.fixture
def genesis(validator_key: PrivateKey, regulator_key: PrivateKey) -> Genesis:
    """One validator (``validator_key``), one regulator organisation."""
    return make_genesis([(validator_key, 10)], regulator_key)
