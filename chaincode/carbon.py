"""The "carbon" contract: the whole forest-carbon lifecycle of DOMAIN.md.

Assembled from two mixins written side by side: :class:`RegistryMethods` (plots, projects,
attestations, reports, issuance; chaincode/carbon_registry.py) and :class:`MarketMethods`
(trading, retirement, reversals, enforcement, subsidies; chaincode/carbon_market.py). Both
move units only through chaincode/units.py.
"""

from __future__ import annotations

from chaincode.carbon_market import MarketMethods
from chaincode.carbon_registry import RegistryMethods
from chaincode.framework import Contract


class Carbon(RegistryMethods, MarketMethods, Contract):
    name = "carbon"
