"""Drivers of block production: the asyncio consensus driver, the solo driver, the sign
state file that keeps a validator from signing twice."""
