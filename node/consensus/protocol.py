"""What the consensus core needs to know about a block: very little.

The core treats a block as opaque apart from its height, its hash and its JSON form
(which travels inside proposal messages). ``ledger.block.Block`` satisfies the protocol;
the simulation uses a small fake block.

Contract for ``hash()``: it must commit to the *whole* block (the paper's
``id(v) = id(v') => v = v'``). For ``ledger.block.Block`` the hash covers the header
only, so the node's decoder must call ``Block.check_roots()`` and reject a block whose
transactions or results do not match its header; otherwise a faulty peer could resend an
honest proposal (its signature covers only the block hash) with another body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

__all__ = ["BlockDecoder", "BlockTextDecoder", "ConsensusBlock"]


@runtime_checkable
class ConsensusBlock(Protocol):
    """A decided value. ``height`` is an attribute or property."""

    @property
    def height(self) -> int: ...

    def hash(self) -> str:
        """Lowercase hex SHA-256 committing to the whole block."""
        ...

    def to_json(self) -> Any:
        """A canonically encodable JSON value (``ledger.encoding.canonical`` accepts it)."""
        ...

    @property
    def canonical_bytes(self) -> bytes:
        """``ledger.encoding.canonical(self.to_json())`` (best computed once)."""
        ...


#: Turns a block's JSON (from a proposal, or the persisted sign state) back into a block.
#: Must raise ``ValueError`` (``LedgerError`` is one), ``TypeError`` or ``KeyError`` on bad
#: input, and must check that the body matches what ``hash()`` commits to.
BlockDecoder = Callable[[Any], ConsensusBlock]

#: Optional fast path of a :data:`BlockDecoder`: ``(text, start)`` -> the block whose
#: *canonical* JSON text starts at ``text[start]`` and the index just after it, or None when
#: that cannot be shown (the message is then decoded strictly). It must never answer a block
#: that the ``BlockDecoder`` would not answer (equal) for the same JSON value.
BlockTextDecoder = Callable[[str, int], "tuple[ConsensusBlock, int] | None"]
