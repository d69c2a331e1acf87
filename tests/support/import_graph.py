"""The project's import graph, read from the source with ``ast`` (nothing is imported).

Every import counts: module level, inside a function (lazy), and under ``TYPE_CHECKING``.
A relative import is resolved against its package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "chaincode", "node", "wallet", "explorer", "fcl")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (or package) of ours
    line: int


def module_files(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``packages``."""
    out: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
             known: Mapping[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    out = []
    for alias in node.names:
        child = f"{base}.{alias.name}"
        out.append(child if child in known else base)
    return out


def imports(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> list[Import]:
    """Every import of one of ``packages`` made by a module of ``packages``."""
    files = module_files(root, packages)
    tops = tuple(packages)
    found: list[Import] = []
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _targets(node, module, path.name == "__init__.py", files):
                if target.split(".")[0] in tops:
                    found.append(Import(module, target, node.lineno))
    return found


def owner(module: str, groups: Iterable[str]) -> str | None:
    """The longest of ``groups`` (dotted prefixes) that ``module`` is or lies inside."""
    best = None
    for group in groups:
        if (module == group or module.startswith(group + ".")) and (
            best is None or len(group) > len(best)
        ):
            best = group
    return best


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node, or with a self-loop
    (Tarjan's algorithm, iterative), each sorted, in sorted order."""
    graph = {v: sorted(set(ws)) for v, ws in edges.items()}
    for ws in list(graph.values()):
        for w in ws:
            graph.setdefault(w, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, int]] = [(start, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            if i < len(graph[v]):
                work.append((v, i + 1))
                w = graph[v][i]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1 or v in graph[v]:
                    out.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return sorted(out)
