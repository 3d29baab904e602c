"""The counts manifest (:mod:`rag.index.manifest`): ``Library.stats`` answers from it without
opening Chroma, and it never describes a store that changed after it was written (ingest, remove,
a direct store write, a SIGKILLed ingest). Uses the fake embedder (tests/fakes.py) on a real
Chroma store. Runtime: ~40 s for the module on the 2-core machine at load ~17 (most of it the three
killed ingests, each a new process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rag.components import store_stats
from rag.index import manifest
from rag.schema import Stats
from tests.conftest import REPO
from tests.fakes import fake_library


def write_papers(path: Path, n: int, words: int = 40) -> list[str]:
    ids = [f"p{i}" for i in range(n)]
    lines = []
    for i, pid in enumerate(ids):
        sentences = [
            f"Paper {i} sentence {j} about topic{i % 3} and method{j}." for j in range(words)
        ]
        lines.append(
            json.dumps({"id": pid, "title": f"Title {i}", "abstract": " ".join(sentences)})
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ids


def counted(home: Path) -> Stats:
    """What the store holds, counted in Chroma by a library of its own."""
    lib = fake_library(home)
    return store_stats(lib.store, lib.embedder.name, lib.home)


def from_manifest(home: Path) -> Stats | None:
    """``stats`` of a fresh library, or None when it had to open the store."""
    lib = fake_library(home)
    stats = lib.stats()
    return None if "store" in lib._parts else stats


def test_stats_come_from_the_manifest_after_ingest_and_remove(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ids = write_papers(tmp_path / "a.jsonl", 6)
    lib = fake_library(home)
    lib.ingest([tmp_path / "a.jsonl"], progress=False)
    after_ingest = from_manifest(home)
    assert after_ingest is not None and after_ingest == counted(home)
    assert after_ingest.papers == 6 and after_ingest.chunks > 6
    lib.remove(ids[:2])
    after_remove = from_manifest(home)
    assert after_remove is not None and after_remove == counted(home)
    assert after_remove.papers == 4 and after_remove.chunks < after_ingest.chunks
    assert not fake_library(home).is_empty()


def test_a_write_outside_the_library_drops_the_manifest(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_papers(tmp_path / "a.jsonl", 4)
    lib = fake_library(home)
    lib.ingest([tmp_path / "a.jsonl"], progress=False)
    path = manifest.manifest_path(home, "papers")
    assert path.is_file()
    lib.store.delete_chunks([lib.store.chunk_ids()[0]])  # bypasses Library.remove
    assert not path.is_file()
    fresh = fake_library(home)
    assert fresh.stats() == counted(home) and "store" in fresh._parts  # counted, not read
    assert from_manifest(home) == counted(home)  # ... and recorded again


def test_a_manifest_of_another_embedder_or_version_is_not_used(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_papers(tmp_path / "a.jsonl", 3)
    fake_library(home).ingest([tmp_path / "a.jsonl"], progress=False)
    path = manifest.manifest_path(home, "papers")
    data = json.loads(path.read_text())
    assert manifest.read(home, "papers", "fake-bow") == {k: data[k] for k in ("papers", "chunks")}
    assert manifest.read(home, "papers", "other-embedder") is None
    assert manifest.read(home, "other-collection", "fake-bow") is None
    path.write_text(json.dumps({**data, "version": 99, "papers": 1000}))
    assert manifest.read(home, "papers", "fake-bow") is None
    assert fake_library(home).stats().papers == 3
    assert manifest.read(tmp_path / "empty", "papers", "fake-bow") is None  # no store there


def test_a_killed_ingest_never_leaves_a_stale_manifest(tmp_path: Path) -> None:
    """Ingests killed (SIGKILL, the journal's fault hook) at their 1st to 3rd write step."""
    home = tmp_path / "home"
    write_papers(tmp_path / "a.jsonl", 3)
    write_papers(tmp_path / "b.jsonl", 8, words=60)
    fake_library(home).ingest([tmp_path / "a.jsonl"], progress=False)
    code = (
        "import sys; from tests.fakes import fake_library; "
        "fake_library(sys.argv[1], ingest_batch=2).ingest([sys.argv[2]], progress=False)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    dropped = []
    for kill_at in (1, 2, 3):
        env["RAGPAPERS_FAULT_KILL_AT"] = str(kill_at)
        run = [sys.executable, "-c", code, str(home), str(tmp_path / "b.jsonl")]
        done = subprocess.run(run, env=env, cwd=REPO, capture_output=True, timeout=120)
        assert done.returncode == -9, done.stderr[-500:]
        quick = from_manifest(home)
        assert quick is None or quick == counted(home), kill_at
        dropped.append(quick is None)
    assert any(dropped)  # some kill came after the first chunks were written
    assert fake_library(home).stats() == counted(home)
