"""The contracts every node runs, in one place."""

from __future__ import annotations

from chaincode.carbon import Carbon
from chaincode.framework import Contract
from chaincode.governance import Governance
from chaincode.kv import KeyValue
from chaincode.membership import Membership
from chaincode.params import Params


def default_contracts() -> list[Contract]:
    contracts: list[Contract] = [Membership(), Params(), KeyValue(), Carbon(), Governance()]
    return contracts
