"""The validators' signing record behind the dashboard, kept incrementally.

Over the commits of the last ``window`` blocks: per validator key, how many of them it
signed and (height, block time) of the newest it signed. The record moves with the tip:
a request at a new tip reads only the commits of the blocks committed since the last one
(and forgets the blocks that left the window), so its cost does not depend on the
window or the chain, only on how far the tip moved (at most ``window`` commits, when it
jumped further than that or went back: then it is read again from scratch).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["SigningTally"]

#: ``read(height)``: the validator keys in block ``height``'s commit and the block's time,
#: or None when the store has no such commit or block.
Reader = Callable[[int], tuple[Sequence[str], int] | None]


class SigningTally:
    """The signing record over the last ``window`` heights up to a tip (thread-safe)."""

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError("the signing window is at least one block")
        self.window = window
        self._lock = threading.Lock()
        self._top = 0
        self._heights: deque[int] = deque()  # heights in the window, ascending
        self._signers: dict[int, tuple[str, ...]] = {}
        self._count: dict[str, int] = {}
        self._last: dict[str, tuple[int, int]] = {}
        self.reads = 0  # commits read since made (how far the tips moved)

    def _reset(self) -> None:
        self._heights.clear()
        self._signers.clear()
        self._count.clear()
        self._last.clear()

    def at(self, top: int, read: Reader) -> dict[str, Any]:
        """The record for tip ``top``: ``count`` (key -> commits signed), ``last`` (key ->
        (height, time) of the newest signed) and ``window`` (the heights with a commit,
        newest first), as the dashboard's ``validators`` reads it."""
        with self._lock:
            if top < self._top or top - self._top > self.window:
                self._reset()
                self._top = max(0, top - self.window)
            for h in range(self._top + 1, top + 1):
                self.reads += 1
                entry = read(h)
                if entry is None:
                    continue
                keys, time_ms = entry
                signers = tuple(k for k in keys if isinstance(k, str))
                self._heights.append(h)
                self._signers[h] = signers
                for key in signers:
                    self._count[key] = self._count.get(key, 0) + 1
                    self._last[key] = (h, time_ms)
            self._top = top
            while self._heights and self._heights[0] <= top - self.window:
                for key in self._signers.pop(self._heights.popleft()):
                    self._count[key] -= 1
                    if self._count[key] == 0:  # none in the window: nor is its newest
                        del self._count[key]
                        del self._last[key]
            return {"count": dict(self._count), "last": dict(self._last),
                    "window": list(reversed(self._heights))}
