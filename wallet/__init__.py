"""Wallet: encrypted keystore, transaction building and signing, node client, CLI.

Layer rule: ``wallet`` imports only ``ledger`` (never ``node``, ``chaincode`` or
``explorer``). See ``docs/wallet.md``.
"""
