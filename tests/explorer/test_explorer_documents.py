"""The explorer links the hashes the ledger records to the node's document store
(docs/documents.md): "document (PDF, 1.2 MB)" when the node holds the document, "not on
this node" otherwise, and "restricted" (no link) for a restricted one."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from explorer.app import document_label, size_text
from tests.support.carbon_market import (
    ANHUI_PINE_RING,
    ANHUI_RING,
    expected_issuance,
    h256,
    monitoring_period,
)
from tests.support.explorer import (
    Chain,
    Scenario,
    StoreMarket,
    main_of,
    make_client,
    module_fixtures,
)

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


# -- remote-sensing evidence beside the plot map --------------------------------------------
IMAGERY = h256("imagery:GF-2:2019-09-30")


def _build_evidence(path: Path) -> Scenario:
    chain = Chain(path)
    m = StoreMarket(chain)
    m.plot("F1", "owner-farm", "chinese_fir", ring=ANHUI_RING)
    m.plot("F2", "owner-farm", "masson_pine", ring=ANHUI_PINE_RING)
    m.project("AH-0001", "owner-farm", [("F1", "chinese_fir"), ("F2", "masson_pine")])
    p = m.projects["AH-0001"]
    start, end, _ = monitoring_period(p["year"] - 2018)
    rows = m.next_rows("AH-0001", "13")
    issuable, _ = expected_issuance(rows, p["risk"])
    m.ok("owner-farm", "submit_monitoring_report", {
        "report_id": "R-EV", "project_id": "AH-0001", "period_start": start, "period_end": end,
        "measurements": [{"plot_id": pl, "species": sp, "volume_start": v0, "volume_end": v1}
                         for pl, sp, v0, v1 in rows],
        "parameters": {"baseline": "0", "leakage": "0", "project_emissions": "0"},
        "claimed_issuable": issuable, "report_sha256": h256("report:R-EV"),
        "evidence": {"sensor": "GF-2 PMS", "acquisition_date": end,
                     "imagery_sha256": IMAGERY,
                     "canopy_cover": [{"plot_id": "F2", "percent": "48.25"},
                                      {"plot_id": "F1", "percent": "63.5"}]},
    })
    return Scenario(chain, chain.store, {"end": end})


sc_ev, _client_ev = module_fixtures("explorer-evidence", _build_evidence)


@pytest.fixture(scope="module")
def client_ev(sc_ev: Scenario) -> Iterator[Any]:
    held = {IMAGERY: {"media_type": "image/tiff", "size": 48_100_000, "restricted": False}}
    with make_client(sc_ev, document_info=held.get) as c:
        yield c


def test_a_report_shows_its_evidence_beside_the_map_of_its_plots(client_ev: Any,
                                                                 sc_ev: Scenario) -> None:
    main = main_of(client_ev.get("/explorer/reports/R-EV?lang=en").text)
    section = main.split('id="evidence"', 1)[1].split("<h2>", 1)[0]
    assert "Remote-sensing evidence" in main
    assert '<figure class="map" id="evidence-map"><svg' in section
    assert "GF-2 PMS" in section and sc_ev.ids["end"] in section
    assert f'href="/v1/documents/{IMAGERY}"' in section and "document (TIFF, 48.1 MB)" in section
    rows = re.findall(r'href="/explorer/plots/(F\d)".*?<td class="num">([0-9.]+) %</td>',
                      section.split('id="canopy-cover"', 1)[1], flags=re.S)
    assert rows == [("F1", "63.5"), ("F2", "48.25")]
    zh = main_of(client_ev.get("/explorer/reports/R-EV?lang=zh").text)
    assert "遥感证据" in zh and "郁闭度" in zh
    data = client_ev.get("/v1/explorer/reports/R-EV").json()
    assert data["report"]["evidence"]["canopy_cover"][0] == {"percent": "63.5", "plot_id": "F1"}


def test_a_report_without_evidence_has_no_evidence_section(client: Any) -> None:
    main = main_of(client.get("/explorer/reports/B1-R?lang=en").text)
    assert 'id="evidence"' not in main and "Remote-sensing evidence" not in main
