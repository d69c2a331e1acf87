"""Tests of ``ledger``."""
