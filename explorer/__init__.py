"""Read-only explorer for auditors and buyers: server-rendered pages, JSON and CSV over
committed data (docs/explorer.md). Imports only ``ledger`` and ``chaincode``."""
