"""Helpers shared by the tests (no tests here): keys, genesis, harnesses, scenarios."""
