"""Documents across a real network (docs/documents.md): two validators written by
``fcl testnet`` and started with ``fcl node start`` (separate processes). A document
uploaded to node0 and named by a committed carbon transaction (a plot's tenure scan and
evidence) reaches node1 through node1's
background fetcher -- not on demand: node1 is asked with ``X-FCL-No-Fetch`` -- and is the
same bytes; a restricted one does not travel."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from fcl.bench import pick_base_port
from fcl.testnet.files import create_testnet
from ledger.crypto import sha256_hex
from ledger.tx import build_transaction
from tests.support.carbon_registry import Flow, small_ring
from tests.support.common import det_key
from tests.support.fcl_process import start_node, stop_node, wait_healthy, wait_until
from wallet.client import NodeClient
from wallet.documents import get_document, upload_document
from wallet.keystore import Keystore

PASS = "document network passphrase"
PDD = b"%PDF-1.7\n" + b"Project design document AH-0009\n" * 200
TENURE = b"%PDF-1.7\n" + b"forest right certificate, restricted\n" * 50


def test_a_referenced_document_replicates_to_the_other_validator(tmp_path: Path) -> None:
    root = tmp_path / "net"
    nodes = create_testnet(root, validators=2, passphrase=PASS, base_port=pick_base_port(2),
                           scrypt_n=2)
    pp = tmp_path / "pp"
    pp.write_text(PASS + "\n")
    chain_id = json.loads((root / "genesis.json").read_text())["chain_id"]
    key = Keystore(root / "node0" / "wallet").load(nodes[0].org_id, PASS)
    procs = [start_node(n.home, pp) for n in nodes]
    try:
        for node, proc in zip(nodes, procs, strict=True):
            wait_healthy(node.rpc_url, proc)
        with NodeClient(nodes[0].rpc_url) as node0:
            assert upload_document(node0, key, PDD, media_type="application/pdf")["stored"]
            restricted = upload_document(node0, key, TENURE, media_type="application/pdf",
                                         restricted=True)
            assert restricted["restricted"] is True
            # an owner registers a plot naming both documents (the fetcher follows the
            # carbon contract's document arguments: docs/documents.md)
            owner = det_key("doc-network-owner")
            plot = Flow.plot_args("XN-DOC-01", small_ring(1))
            plot["tenure"] = dict(plot["tenure"], scan_sha256=sha256_hex(TENURE))
            plot["non_forest_evidence"] = dict(plot["non_forest_evidence"], sha256=sha256_hex(PDD))
            txs = [
                build_transaction(chain_id=chain_id, contract="membership", method="enrol_org",
                                  args={"org_id": "doc-farm", "name": "Doc farm",
                                        "roles": ["owner"], "admins": [owner.public_key_hex]},
                                  nonce="enrol", keys=[key]),
                build_transaction(chain_id=chain_id, contract="carbon", method="register_plot",
                                  args=plot, nonce="plot", keys=[owner]),
            ]
            for tx in txs:
                node0.submit(tx)
                assert node0.wait_committed(tx.tx_id, 60)["result"]["code"] == "ok"
        one = nodes[1].rpc_url

        def replicated() -> bool:
            resp = httpx.head(f"{one}/v1/documents/{sha256_hex(PDD)}",
                              headers={"x-fcl-no-fetch": "1"}, timeout=5)
            return resp.status_code == 200

        wait_until(replicated, 60, "node1 to fetch the document its ledger references")
        with NodeClient(one) as node1:
            fetched = get_document(node1, sha256_hex(PDD))
            assert fetched.data == PDD and fetched.uploader_org == nodes[0].org_id
        metrics = httpx.get(f"{one}/metrics", timeout=5).text
        assert 'fcl_documents_fetched_total{outcome="stored"} 1' in metrics
        # the restricted scan is asked for, refused by node0, and never stored on node1
        wait_until(lambda: 'fcl_documents_fetched_total{outcome="restricted"}' in httpx.get(
            f"{one}/metrics", timeout=5).text, 30, "node1 to be refused the restricted scan")
        time.sleep(0.5)
        resp = httpx.get(f"{one}/v1/documents/{sha256_hex(TENURE)}",
                         headers={"x-fcl-no-fetch": "1"}, timeout=5)
        assert resp.status_code == 404
        assert not any((nodes[1].home / "documents" / "objects").rglob(sha256_hex(TENURE)))
    finally:
        for proc in procs:
            if proc.poll() is None:
                stop_node(proc)
