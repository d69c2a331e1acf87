"""Errors with stable machine-readable codes, shared by every layer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


class LedgerError(ValueError):
    """An input was refused. ``code`` is stable (clients match on it); ``message`` is for
    people."""

    code: str = "invalid"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TxError(LedgerError):
    """A transaction is malformed, too large, for another chain, or wrongly signed."""


class BlockError(LedgerError):
    """A block, header or commit certificate does not verify."""


class StorageFailure(Exception):
    """Reading or writing local storage failed (a full disk, a damaged or vanished
    file): a fault of this machine, not of the data it holds. So it is never a
    transaction's result (``chaincode.executor`` lets it through, where any other
    exception of a contract becomes ``internal_error``) nor a discrepancy of the chain
    (``fcl audit`` exits with the ``code``, not with a finding). ``code`` and ``message``
    as ``LedgerError``'s."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def guarded_rows(
    rows: Iterator[T],
    errors: type[BaseException] | tuple[type[BaseException], ...],
    failure: Callable[[BaseException], StorageFailure],
) -> Iterator[T]:
    """``rows`` (a database's iterator) with its database's ``errors`` raised as the
    ``StorageFailure`` that ``failure`` makes of them."""
    try:
        yield from rows
    except errors as exc:
        raise failure(exc) from exc
