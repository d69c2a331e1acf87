"""Tests of ``wallet``."""
