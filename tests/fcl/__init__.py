"""Tests of ``fcl``."""
