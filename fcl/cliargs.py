"""Argument types shared by the ``fcl`` commands' parsers."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["seconds"]


def seconds(most: float) -> Callable[[str], float]:
    """An argparse type: a number of seconds, more than 0 and at most ``most``; anything
    else is a usage error (exit 2) that says so."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        if not 0 < value <= most:
            raise argparse.ArgumentTypeError(
                f"the timeout is more than 0 and at most {most:g} seconds")
        return value

    return parse
