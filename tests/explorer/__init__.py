"""Tests of ``explorer``."""
