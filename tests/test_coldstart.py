"""Cold start (issue 12): what a new ``rag`` process imports and loads before it answers.
``bench/coldstart.py`` measures the times; these check the mechanisms. Runtime: ~10 s for the
module on the 2-core machine at load ~16 (two child processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from rag.interfaces.cli_common import warm_embedder
from tests.conftest import REPO

HEAVY = ("chromadb", "numpy", "nltk", "onnxruntime", "llama_index")


def run_python(code: str, home: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAG_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-800:]
    return done.stdout


def test_rag_stats_reads_the_manifest_without_importing_chroma(tmp_path: Path) -> None:
    """A current manifest (written here by hand, beside a stand-in store file): ``rag stats``
    reports its counts and imports none of the heavy packages."""
    home = tmp_path / "home"
    (home / "chroma").mkdir(parents=True)
    (home / "chroma" / "chroma.sqlite3").write_bytes(b"")
    from rag.index import manifest

    manifest.write(home, "papers", "all-MiniLM-L6-v2", papers=7, chunks=9)
    code = (
        "import sys; from rag.interfaces.cli import cli\n"
        "try:\n    cli(['stats', '--json'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    out = run_python(code, home).strip().splitlines()
    stats = json.loads(out[0])
    assert (stats["papers"], stats["chunks"], stats["location"]) == (7, 9, str(home / "chroma"))
    assert out[1] == "[]"


def test_chroma_opens_without_overrides_checks_and_puts_them_back(tmp_path: Path) -> None:
    """In a new process: the store opens (and writes) with ``overrides``' checks skipped while
    chromadb is imported; afterwards ``overrides`` and ``httpx``'s command line tool are back."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from rag.index.store import Store\n"
        "import numpy as np\n"
        "s = Store(Path(sys.argv[-1]), embedder_name='e', dim=3)\n"
        "vectors = np.ones((1, 3), dtype=np.float32)\n"
        "s.upsert_chunks(['a'], vectors, ['text'], [{'chunk_index': 0}])\n"
        "import overrides\n"
        "real = sys.modules['overrides.overrides']\n"
        "import httpx._main\n"
        "print(s.count_chunks(), overrides.override is real.override, 'rich' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "lib")],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.split() == ["1", "True", "True"]  # rich: imported by httpx's CLI, later


def test_warm_embedder_loads_the_model_in_a_thread() -> None:
    """Uses a stand-in embedder whose ``prepare`` records the thread it ran in."""
    seen: list[str] = []
    embedder = SimpleNamespace(prepare=lambda: seen.append(threading.current_thread().name))
    warm_embedder(SimpleNamespace(embedder=embedder)).join(timeout=10)  # type: ignore[arg-type]
    assert seen == ["rag-warm-embedder"]


def test_a_failing_warm_up_is_left_to_the_embedding_to_report() -> None:
    """Uses a stand-in embedder whose ``prepare`` raises: the thread ends quietly."""
    failures: list[object] = []
    previous = threading.excepthook
    threading.excepthook = failures.append
    try:

        def broken() -> None:
            time.sleep(0.01)
            raise RuntimeError("no model")

        lib = SimpleNamespace(embedder=SimpleNamespace(prepare=broken))
        warm_embedder(lib).join(timeout=10)  # type: ignore[arg-type]
    finally:
        threading.excepthook = previous
    assert failures == []
