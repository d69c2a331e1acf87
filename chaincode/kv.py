"""A minimal notarisation contract: any enrolled member records a document hash under a
name. It exercises the whole path (sign, admit, order, execute, commit, read back) and is
what the single-node smoke test and the throughput benchmark send."""

from __future__ import annotations

from chaincode.framework import ChaincodeError, Contract, TxContext, method
from chaincode.schema import Arg


class KeyValue(Contract):
    name = "notary"

    @method(args={"name": Arg("id"), "sha256": Arg("hex32"), "note": Arg("str", required=False, max=256)})
    def record(self, ctx: TxContext, args: dict) -> dict:
        """Record ``sha256`` under ``name`` (first write wins; a name is never overwritten)."""
        key = f"notary/{args['name']}"
        if ctx.exists(key):
            raise ChaincodeError("already_recorded", f"{args['name']!r} is already recorded")
        signer = ctx.signers()[0]
        ctx.put(
            key,
            {"height": ctx.block.height, "note": args["note"] or "", "org": signer.org_id,
             "sha256": args["sha256"], "tx_id": ctx.tx_id},
        )
        ctx.emit("notary.recorded", name=args["name"], sha256=args["sha256"])
        return {"name": args["name"]}
