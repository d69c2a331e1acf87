"""``fcl audit``: the whole chain re-verified from genesis (docs/audit.md)."""
