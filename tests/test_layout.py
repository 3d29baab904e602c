"""The package's shape: stages as subpackages, no import circles, small modules (no model)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "rag"
STAGES = ("ingest", "index", "retrieval", "answering", "eval", "interfaces")
MAX_LINES = 400


def modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        name = ".".join(f.relative_to(REPO).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = f
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the rag modules it imports anywhere in its body (lazy and TYPE_CHECKING
    imports included: a circle through them is still a circle)."""
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[m] |= {t for t in targets if t in mods and t != m}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_stages_are_subpackages() -> None:
    for stage in STAGES:
        assert (PACKAGE / stage / "__init__.py").is_file(), stage


def test_no_import_circles() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_modules_stay_small() -> None:
    long = {
        m: n for m, f in modules().items() if (n := len(f.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_chroma_is_only_touched_by_the_store() -> None:
    for name, f in modules().items():
        text = f.read_text(encoding="utf-8")
        if name != "rag.index.store":
            assert "import chromadb" not in text and ".collection." not in text, name


def test_earlier_stages_never_import_later_ones() -> None:
    order = {stage: i for i, stage in enumerate(STAGES)}
    for m, targets in import_graph().items():
        parts = m.split(".")
        if len(parts) < 3 or parts[1] not in order or parts[1] == "eval":
            continue
        for t in targets:
            tp = t.split(".")
            if len(tp) >= 2 and tp[1] in order:
                assert order[tp[1]] <= order[parts[1]], f"{m} imports {t}"


def test_the_cli_starts_without_heavy_imports() -> None:
    """`rag --help` (and every command's start-up) must not import pydantic, the readers,
    llama-index, chromadb, numpy or the servers: they are imported by the commands that use them."""
    import subprocess
    import sys

    code = (
        "import sys, rag.interfaces.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'llama_index', "
        "'chromadb', 'numpy', 'fastapi', 'onnxruntime', 'bibtexparser', 'pypdf', 'mcp'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert (
        "rag.ingest"
        not in subprocess.run(
            [sys.executable, "-c", "import sys, rag.interfaces.cli; print(list(sys.modules))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
