"""The layer table of docs/architecture.md, held: who may import whom, no import cycles,
commands imported plainly, and the test tree's own rules.

Every import counts, lazy ones inside functions and ``TYPE_CHECKING`` ones included.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support.import_graph import ROOT, cycles, imports, module_files, owner

#: package -> the packages of ours it may import (its own package is always allowed).
LAYERS: dict[str, set[str]] = {
    "ledger": set(),
    "chaincode": {"ledger"},
    "node": {"ledger", "chaincode"},
    "wallet": {"ledger"},
    "explorer": {"ledger", "chaincode"},
    "portal": {"ledger", "chaincode", "wallet"},
    "fcl": {"ledger", "chaincode", "node", "wallet", "explorer", "portal"},
}

#: inside the validator: stage -> the stages it may import (ledger and chaincode aside).
NODE_STAGES: dict[str, set[str]] = {
    "node.consensus": set(),
    "node.ops": set(),
    "node.home": set(),
    "node.net": {"node.home", "node.ops"},
    "node.chain": {"node.consensus"},
    "node.txpool": {"node.chain", "node.net", "node.ops"},
    "node.driver": {"node.chain", "node.consensus", "node.ops", "node.txpool"},
    "node.sync": {"node.chain", "node.driver", "node.net", "node.ops"},
    "node.api": {"node.chain", "node.ops", "node.txpool"},
    "node.runtime": {"node.api", "node.chain", "node.consensus", "node.driver", "node.home",
                     "node.net", "node.ops", "node.sync", "node.txpool"},
}

ALL_IMPORTS = imports()


def test_the_layer_table_covers_every_package_and_nothing_imports_upward() -> None:
    assert set(LAYERS) == {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} - {
        "tests", "bench"}
    wrong = [
        f"{i.source}:{i.line} imports {i.target}"
        for i in ALL_IMPORTS
        if (a := i.source.split(".")[0]) != (b := i.target.split(".")[0]) and b not in LAYERS[a]
    ]
    assert not wrong, "imports against the layer table:\n" + "\n".join(wrong)


def test_the_validator_stages_import_only_the_stages_below_them() -> None:
    modules = [m for m in module_files() if m.startswith("node.") and m.count(".") >= 1]
    unplaced = [m for m in modules if owner(m, NODE_STAGES) is None]
    assert not unplaced, f"node modules outside every stage of the table: {unplaced}"
    wrong = []
    for i in ALL_IMPORTS:
        if not (i.source.startswith("node.") and i.target.startswith("node.")):
            continue
        a, b = owner(i.source, NODE_STAGES), owner(i.target, NODE_STAGES)
        if a is not None and b is not None and a != b and b not in NODE_STAGES[a]:
            wrong.append(f"{i.source}:{i.line} imports {i.target}")
    assert not wrong, "imports against the stage table:\n" + "\n".join(wrong)


def test_there_is_no_import_cycle_between_modules_or_stages() -> None:
    known = module_files()
    edges: dict[str, set[str]] = defaultdict(set)
    stage_edges: dict[str, set[str]] = defaultdict(set)
    for i in ALL_IMPORTS:
        target = i.target if i.target in known else i.target.rsplit(".", 1)[0]
        if target != i.source:
            edges[i.source].add(target)
        a, b = owner(i.source, NODE_STAGES), owner(i.target, NODE_STAGES)
        if a and b and a != b:
            stage_edges[a].add(b)
    assert cycles(edges) == []
    assert cycles(stage_edges) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert cycles({"x": {"y"}, "y": {"x", "z"}, "z": {"w"}, "w": {"z"}}) == [["w", "z"], ["x", "y"]]


def test_the_graph_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "ledger"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ledger.b import X\n"
        "def f():\n    from . import b\n    import ledger.c\n"
    )
    (pkg / "b.py").write_text("")
    (pkg / "c.py").write_text("")
    found = {(i.source, i.target) for i in imports(tmp_path, ["ledger"])}
    assert found == {("ledger.a", "ledger.b"), ("ledger.a", "ledger.c")}


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_modules_are_imported_plainly(package: str) -> None:
    """No ``importlib`` discovery and no ``__import__``: a missing module is an error at
    import time, never a silently absent command or route."""
    offenders = []
    for module, path in module_files(packages=[package]).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                    node.module or ""]
                if any(n == "importlib" or n.startswith("importlib.") for n in names):
                    offenders.append(f"{module}:{node.lineno}")
            if isinstance(node, ast.Name) and node.id == "__import__":
                offenders.append(f"{module}:{node.lineno}")
    assert not offenders


# -- the test tree ------------------------------------------------------------------------------

TESTS = ROOT / "tests"
TEST_FILES = sorted(TESTS.rglob("test_*.py"))


def _imported_modules(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
    return out


def test_tests_are_grouped_by_layer_and_helpers_live_in_support() -> None:
    assert TEST_FILES
    for path in TEST_FILES:
        rel = path.relative_to(TESTS)
        assert len(rel.parts) == 1 and rel.name == "test_layers.py" or rel.parts[0] in LAYERS, rel
    support = sorted((TESTS / "support").rglob("*.py"))
    assert support and not [p for p in support if p.name.startswith("test_")]
    for path in support:
        assert not re.search(r"^def test_|^class Test", path.read_text(), re.M), path


def test_no_test_module_imports_another_or_conftest() -> None:
    bad = []
    for path in [*TEST_FILES, *sorted((TESTS / "support").rglob("*.py"))]:
        for name in _imported_modules(path):
            last = name.rsplit(".", 1)[-1]
            if last == "conftest" or last.startswith("test_"):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad


def test_every_test_module_holds_tests() -> None:
    empty = []
    for path in TEST_FILES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [n.name for n in tree.body
                 if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
        names += [t.id for n in tree.body if isinstance(n, ast.Assign)
                  for t in n.targets if isinstance(t, ast.Name)]
        if not any(n.startswith(("test_", "Test")) for n in names):
            empty.append(str(path.relative_to(ROOT)))
    assert not empty


def test_benchmarks_and_scripts_import_packages_without_path_tricks() -> None:
    for path in [*sorted((ROOT / "bench").glob("*.py")), *sorted((ROOT / "scripts").glob("*.py"))]:
        text = path.read_text(encoding="utf-8")
        assert "sys.path" not in text and "PYTHONPATH" not in text, path


def _doc_table(heading: str) -> dict[str, set[str]]:
    """The two-column table under ``heading`` in docs/architecture.md, as name -> names."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    table: dict[str, set[str]] = {}
    for line in section.splitlines()[1:]:
        if line.startswith("## ") or (table and not line.strip()):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        name = cells[0].strip("`")
        if cells[1] == "every stage above":
            table[name] = set(table)
        else:
            table[name] = set(re.findall(r"`([a-z.]+)`", cells[1]))
    return table


def test_docs_draw_the_same_tables() -> None:
    """docs/architecture.md shows exactly the tables this module enforces."""
    assert _doc_table("## Layers: who may import whom") == LAYERS
    assert _doc_table("Inside the validator, a stage imports only") == NODE_STAGES


def test_docs_name_only_test_files_and_modules_that_exist() -> None:
    """Every ``tests/….py`` path and ``python -m <module>`` of ours named in README.md,
    the Makefile and docs/ exists (the layout moved once; the docs must follow)."""
    texts = [ROOT / "README.md", ROOT / "Makefile", *sorted((ROOT / "docs").rglob("*.md"))]
    missing = []
    for path in texts:
        text = path.read_text(encoding="utf-8")
        for rel in re.findall(r"\b((?:tests|bench)/[A-Za-z0-9_/]+\.py)\b", text):
            if not (ROOT / rel).exists():
                missing.append(f"{path.relative_to(ROOT)}: {rel}")
        for module in re.findall(r"python -m (\w+(?:\.\w+)*)\b(?!\.<)", text):
            top = module.split(".")[0]
            if top not in LAYERS and top != "bench":
                continue  # the standard library's (pstats, venv, ...)
            base = ROOT / module.replace(".", "/")
            if not (base.with_suffix(".py").exists() or (base / "__main__.py").exists()):
                missing.append(f"{path.relative_to(ROOT)}: python -m {module}")
    assert not missing, "docs name files that do not exist:\n" + "\n".join(missing)
