"""Tests grouped by the package they test; shared helpers live in ``tests/support``."""
