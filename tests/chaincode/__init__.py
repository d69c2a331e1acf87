"""Tests of ``chaincode``."""
