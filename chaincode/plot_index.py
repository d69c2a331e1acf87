"""The spatial index of plots: a loose quadtree inside each 0.01-degree grid cell.

Coordinates are the ledger's fixed-point integers (1e-7 degree, chaincode/geometry.py).
A plot's bounding box touches one or more **grid cells** of ``GRID_CELL_E7`` units (at
most ``MAX_GRID_CELLS``); in each, the plot is stored in one node of that cell's loose
quadtree (Ulrich, "Loose octrees", Game Programming Gems, 2000; Samet, "The Quadtree and
Related Hierarchical Data Structures", ACM Computing Surveys 16(2), 1984):

* the node at depth ``k`` (0 = the whole cell) covers a square of side ``S / 2**k``
  (``S = GRID_CELL_E7``); its **loose bounds** are that square grown by half its side on
  every side (side ``2 S / 2**k``);
* a plot goes to the deepest node, down to ``DEPTH``, whose side is at least twice the
  plot's extent (the larger of its box's width and height) and whose square holds the
  centre of its box (clamped into the cell): the loose bounds of that node then hold the
  whole box -- where a plot is stored depends on its size and position only, never on
  the plots around it, so a box that straddles a quadrant's border does not stick at the
  top of the tree as in a plain quadtree.

State keys: ``plotqt/<cx>:<cy>/q<path>/<plot_id>`` -> ``{"bbox", "plot_id"}``, where
``<path>`` is the node's quadrant digits from the cell down (``0`` lower-left, ``1``
lower-right, ``2`` upper-left, ``3`` upper-right; empty for the cell itself).

A lookup walks each cell's tree from the top, entering a node only if its loose bounds
meet the query box and its subtree holds a plot (one ordered seek: the keys of a subtree
share the prefix ``q<path>``), and reads the plots stored at that node (a prefix scan of
``q<path>/``). Its cost grows with the depth and with the plots whose loose nodes meet
the box, not with the plots of the cell: 2,400 plots crowded into one cell cost a few
dozen seeks instead of 2,400 reads (bench/bench_plot_index.py, docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from chaincode.framework import ChaincodeError, TxContext

__all__ = [
    "DEPTH",
    "GRID_CELL_E7",
    "MAX_GRID_CELLS",
    "PLOTQT_PREFIX",
    "candidate_plots",
    "grid_cells",
    "index_entries",
    "node_path",
]

PLOTQT_PREFIX = "plotqt/"
#: Side of a grid cell: 0.01 degree in 1e-7 degree units.
GRID_CELL_E7 = 100_000
#: A plot's bounding box may touch at most this many grid cells.
MAX_GRID_CELLS = 2500
#: Depth of the quadtree below a cell: 100,000 / 2**16 ~ 1.5 units (~0.17 m).
DEPTH = 16

Box = tuple[int, int, int, int]  # min_lon, min_lat, max_lon, max_lat (closed)


def grid_cells(bbox: Iterable[int]) -> list[tuple[int, int]]:
    """The grid cells ``(cx, cy)`` a closed bounding box touches, in order; refuses
    (``plot_too_large``) a box over more than ``MAX_GRID_CELLS``."""
    min_lon, min_lat, max_lon, max_lat = bbox
    cx0, cx1 = min_lon // GRID_CELL_E7, max_lon // GRID_CELL_E7
    cy0, cy1 = min_lat // GRID_CELL_E7, max_lat // GRID_CELL_E7
    count = (cx1 - cx0 + 1) * (cy1 - cy0 + 1)
    if count > MAX_GRID_CELLS:
        raise ChaincodeError(
            "plot_too_large",
            f"the plot's bounding box covers {count} grid cells of 0.01 degree;"
            f" at most {MAX_GRID_CELLS} are allowed (split it into several plots)",
        )
    return [(cx, cy) for cx in range(cx0, cx1 + 1) for cy in range(cy0, cy1 + 1)]


def _depth_for(extent: int) -> int:
    """The deepest ``k <= DEPTH`` with ``2 * extent <= S / 2**k``."""
    k = 0
    while k < DEPTH and 2 * extent * 2 ** (k + 1) <= GRID_CELL_E7:
        k += 1
    return k


def node_path(bbox: Box, cell: tuple[int, int]) -> str:
    """The quadrant digits of the node of ``cell``'s tree that stores a plot with
    ``bbox``. Exact integer arithmetic: the centre is kept doubled (``min + max``)."""
    min_lon, min_lat, max_lon, max_lat = bbox
    k = _depth_for(max(max_lon - min_lon, max_lat - min_lat))
    side2 = 2 * GRID_CELL_E7  # the cell's side in doubled units
    # the doubled centre relative to the cell, clamped into it
    u = min(max(min_lon + max_lon - cell[0] * side2, 0), side2 - 1)
    v = min(max(min_lat + max_lat - cell[1] * side2, 0), side2 - 1)
    ix, iy = u * 2**k // side2, v * 2**k // side2
    return "".join(
        str(((ix >> (k - 1 - j)) & 1) + 2 * ((iy >> (k - 1 - j)) & 1)) for j in range(k)
    )


def index_entries(plot_id: str, bbox: Box) -> list[tuple[str, dict[str, object]]]:
    """The state entries (key, value) that index a plot: one per grid cell it touches."""
    value: dict[str, object] = {"bbox": list(bbox), "plot_id": plot_id}
    return [
        (f"{PLOTQT_PREFIX}{cx}:{cy}/q{node_path(bbox, (cx, cy))}/{plot_id}", value)
        for cx, cy in grid_cells(bbox)
    ]


def _loose_meets(query: Box, cell: tuple[int, int], k: int, ix: int, iy: int) -> bool:
    """Whether the loose bounds of node ``(k, ix, iy)`` of ``cell`` meet the closed
    ``query`` box. In units of ``S / 2**(k+1)``: the node's square is
    ``[2 ix, 2 ix + 2]``, its loose bounds ``[2 ix - 1, 2 ix + 3]``."""
    scale = 2 ** (k + 1)
    lo_x = cell[0] * GRID_CELL_E7 * scale + (2 * ix - 1) * GRID_CELL_E7
    lo_y = cell[1] * GRID_CELL_E7 * scale + (2 * iy - 1) * GRID_CELL_E7
    hi_x = lo_x + 4 * GRID_CELL_E7
    hi_y = lo_y + 4 * GRID_CELL_E7
    return (query[0] * scale <= hi_x and lo_x <= query[2] * scale
            and query[1] * scale <= hi_y and lo_y <= query[3] * scale)


def candidate_plots(ctx: TxContext, bbox: Box) -> dict[str, list[int]]:
    """The indexed plots whose loose node meets ``bbox`` in any of its grid cells: plot id
    -> its bounding box (a superset of the plots whose boxes meet ``bbox``)."""
    found: dict[str, list[int]] = {}
    for cell in grid_cells(bbox):
        base = f"{PLOTQT_PREFIX}{cell[0]}:{cell[1]}/q"
        stack: list[tuple[str, int, int]] = [("", 0, 0)]
        while stack:
            path, ix, iy = stack.pop()
            k = len(path)
            if not _loose_meets(bbox, cell, k, ix, iy):
                continue
            if next(ctx.scan(base + path), None) is None:
                continue  # nothing stored in this subtree
            for _key, entry in ctx.scan(f"{base}{path}/"):
                found.setdefault(entry["plot_id"], entry["bbox"])
            if k < DEPTH:
                for digit in range(3, -1, -1):
                    stack.append((path + str(digit), 2 * ix + (digit & 1), 2 * iy + (digit >> 1)))
    return found
