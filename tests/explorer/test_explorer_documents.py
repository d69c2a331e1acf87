"""The explorer links the hashes the ledger records to the node's document store
(docs/documents.md): "document (PDF, 1.2 MB)" when the node holds the document, "not on
this node" otherwise, and "restricted" (no link) for a restricted one."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from explorer.app import document_label, size_text
from tests.support.carbon_market import h256
from tests.support.explorer import Scenario, main_of, make_client, module_fixtures

sc, _client = module_fixtures("explorer-documents")

PDD = h256("pdd:AH-0001")
EVIDENCE = h256("fire")
HELD: dict[str, dict[str, Any]] = {
    PDD: {"sha256": PDD, "media_type": "application/pdf", "size": 1_234_567,
          "restricted": False},
    EVIDENCE: {"sha256": EVIDENCE, "media_type": "image/tiff", "size": 52_000_000,
               "restricted": True},
}


def _info(sha256: str) -> Mapping[str, Any] | None:
    return HELD.get(sha256)


@pytest.fixture(scope="module")
def client(sc: Scenario) -> Iterator[Any]:
    with make_client(sc, document_info=_info) as c:
        yield c


def test_a_held_document_is_linked_with_its_type_and_size(client: Any) -> None:
    main = main_of(client.get("/explorer/projects/AH-0001?lang=en").text)
    assert (f'<a class="doc" href="/v1/documents/{PDD}" type="application/pdf">'
            "document (PDF, 1.2 MB)</a>") in main
    zh = main_of(client.get("/explorer/projects/AH-0001?lang=zh").text)
    assert "文件 (PDF, 1.2 MB)" in zh


def test_a_document_the_node_lacks_says_so(client: Any) -> None:
    main = main_of(client.get("/explorer/projects/AH-0002?lang=en").text)
    assert h256("pdd:AH-0002") in main
    assert '<span class="doc doc-absent">not on this node</span>' in main
    assert "/v1/documents/" not in main
    assert "本节点无此文件" in client.get("/explorer/projects/AH-0002?lang=zh").text


def test_a_restricted_document_is_named_but_not_linked(client: Any, sc: Scenario) -> None:
    # the loss event's evidence is an argument of its transaction: every *sha256 field is
    # shown through the same macro
    main = main_of(client.get(f"/explorer/txs/{sc.ids['loss_tx']}?lang=en").text)
    assert EVIDENCE in main
    assert "document (TIFF, 52.0 MB) · restricted" in main
    assert f'href="/v1/documents/{EVIDENCE}"' not in main


def test_without_a_document_store_every_hash_is_not_on_this_node(sc: Scenario) -> None:
    with make_client(sc) as plain:
        main = main_of(plain.get("/explorer/projects/AH-0001?lang=en").text)
    assert PDD in main and "not on this node" in main and "/v1/documents/" not in main


def test_every_hash_on_a_page_gets_the_document_note(client: Any) -> None:
    main = main_of(client.get("/explorer/projects/AH-0001?lang=en").text)
    hashes = set(re.findall(r'<code class="hash">([0-9a-f]{64})</code> <(?:a|span) class="doc',
                            main))
    assert PDD in hashes


@pytest.mark.parametrize(("size", "text"), [
    (0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (1999, "1.9 kB"), (999_999, "999.9 kB"),
    (1_000_000, "1.0 MB"), (1_234_567, "1.2 MB"), (20 * 1024 * 1024, "20.9 MB"),
    (5_000_000_000, "5000.0 MB"),
])
def test_size_text_rounds_down_in_si_units(size: int, text: str) -> None:
    assert size_text(size) == text


def test_document_label_of_odd_records() -> None:
    assert document_label(None, PDD) is None
    assert document_label(_info, 5) is None
    assert document_label(lambda h: {"media_type": "x/y", "size": 1.5}, PDD) == {
        "media_type": "x/y", "kind": "x/y", "size_text": "?", "restricted": False}
