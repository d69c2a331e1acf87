"""The spatial index of plots (chaincode/plot_index.py), against brute force: every plot
whose box meets a query box is a candidate, whatever the boxes' sizes and places; a
plot's node holds its box in its loose bounds; crowding one cell keeps a lookup to a few
seeks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincode.framework import BlockContext, ChaincodeError, TxContext
from chaincode.plot_index import (
    DEPTH,
    GRID_CELL_E7,
    candidate_plots,
    grid_cells,
    index_entries,
    node_path,
)
from ledger.encoding import canonical
from ledger.state import MemoryState, Overlay

S = GRID_CELL_E7
ORIGIN = 1_174_000_000  # lon 117.4
LAT0 = 318_000_000  # lat 31.8


def ctx_with(boxes: dict[str, tuple[int, int, int, int]]) -> TxContext:
    state = MemoryState()
    state.apply(
        (key, canonical(value))
        for plot_id, box in sorted(boxes.items())
        for key, value in index_entries(plot_id, box)
    )
    return TxContext(Overlay(state).child(), BlockContext("fcl-test", 5, 0, "p"), "c" * 64, (), 0)


def meets(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return max(a[0], b[0]) <= min(a[2], b[2]) and max(a[1], b[1]) <= min(a[3], b[3])


@st.composite
def boxes(draw: Any) -> tuple[int, int, int, int]:
    # sizes from a metre to a few cells, places over a 3 x 2 block of cells
    w = draw(st.sampled_from([5, 90, 1_000, 12_345, 49_999, 50_000, 77_000, 160_000]))
    h = draw(st.sampled_from([5, 90, 1_000, 12_345, 49_999, 50_000, 77_000, 160_000]))
    x = ORIGIN + draw(st.integers(0, 3 * S - 1))
    y = LAT0 + draw(st.integers(0, 2 * S - 1))
    return (x, y, x + w, y + h)


@settings(max_examples=120, deadline=None)
@given(stored=st.lists(boxes(), min_size=1, max_size=25), queries=st.lists(boxes(), max_size=8))
def test_every_plot_whose_box_meets_the_query_is_a_candidate(stored: list, queries: list) -> None:
    plots = {f"P{i:03d}": box for i, box in enumerate(stored)}
    ctx = ctx_with(plots)
    for query in [*queries, *stored]:
        found = candidate_plots(ctx, query)
        expected = {pid for pid, box in plots.items() if meets(box, query)}
        assert expected <= set(found)
        assert all(found[pid] == list(plots[pid]) for pid in found)


@settings(max_examples=200, deadline=None)
@given(box=boxes())
def test_a_plots_node_holds_its_box_in_its_loose_bounds(box: tuple[int, int, int, int]) -> None:
    for cell in grid_cells(box):
        path = node_path(box, cell)
        k = len(path) and len(path)
        assert k <= DEPTH and 2 * max(box[2] - box[0], box[3] - box[1]) * 2**k <= S or k == 0
        ix = iy = 0
        for digit in path:
            ix, iy = 2 * ix + (int(digit) & 1), 2 * iy + (int(digit) >> 1)
        # loose bounds in units of 1e-7 degree, times 2**(k+1) to stay integer
        scale = 2 ** (k + 1)
        lo_x, lo_y = cell[0] * S * scale + (2 * ix - 1) * S, cell[1] * S * scale + (2 * iy - 1) * S
        # the part of the box inside the cell lies in the loose bounds
        part = (max(box[0], cell[0] * S), max(box[1], cell[1] * S),
                min(box[2], (cell[0] + 1) * S), min(box[3], (cell[1] + 1) * S))
        assert lo_x <= part[0] * scale and part[2] * scale <= lo_x + 4 * S
        assert lo_y <= part[1] * scale and part[3] * scale <= lo_y + 4 * S


class CountingOverlay(Overlay):
    def __init__(self, base: Any) -> None:
        super().__init__(base)
        self.seeks = 0

    def iter_prefix(self, prefix: str, start: str | None = None) -> Any:
        self.seeks += 1
        return super().iter_prefix(prefix, start)


def test_a_crowded_cell_costs_a_few_seeks_not_a_scan() -> None:
    """2,500 plots of 20 m x 20 m side by side fill one cell; finding the neighbours of one
    more reads a few dozen index nodes, not the 2,500 entries."""
    step = 2_000  # 1e-7 degree units: 20 cm... x 2,000 = 0.0002 degree ~ 20 m
    plots = {}
    for i in range(50):
        for j in range(50):
            x, y = ORIGIN + i * step, LAT0 + j * step
            plots[f"C{i:02d}{j:02d}"] = (x, y, x + step, y + step)
    state = MemoryState()
    state.apply((key, canonical(value)) for pid, box in sorted(plots.items())
                for key, value in index_entries(pid, box))
    overlay = CountingOverlay(state)
    ctx = TxContext(overlay.child(), BlockContext("fcl-test", 5, 0, "p"), "c" * 64, (), 0)
    query = (ORIGIN + 25 * step + 500, LAT0 + 25 * step + 500,
             ORIGIN + 25 * step + 1_500, LAT0 + 25 * step + 1_500)
    found = candidate_plots(ctx, query)
    assert "C2525" in found
    assert len(found) < 100, len(found)  # the plot and its near neighbours, not the cell
    assert 0 < overlay.seeks < 200, overlay.seeks


def test_a_box_over_too_many_cells_is_refused() -> None:
    with pytest.raises(ChaincodeError) as err:
        grid_cells((ORIGIN, LAT0, ORIGIN + 60 * S, LAT0 + 60 * S))
    assert err.value.code == "plot_too_large" and "3721 grid cells" in err.value.message
