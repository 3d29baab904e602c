"""The read-side dense mirror (:mod:`rag.index.mirror`): a cold ``rag ask`` over a current
mirror does not import chromadb; a mirror that no longer matches the store is not used; and the
mirror's exact cosine gives Chroma's results. The first tests use the real MiniLM embedder on the
bundled library (``seeded_home``, copied before anything writes to it); the last ones use the
fake embedder (tests/fakes.py) on a real Chroma store. Runtime: 16-23 s for the module's tests
on the 2-core machine at load 5-8 (four child processes, one of them ingesting), plus the
session's shared ``seeded_home`` (85-97 s, built once for every module that uses it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.index import mirror
from rag.index.mirrored import MirroredStore
from rag.index.store import Store
from rag.library import Library
from tests.conftest import REPO
from tests.fakes import fake_library

QUESTIONS = [
    "What does Block-LoRA share across its sub-matrices?",
    "linear attention for long sequences",
    "Which papers use curriculum learning for RL fine-tuning?",
    "reward models for reasoning",
    "What is the boiling point of ethanol?",
    "diffusion models for video generation",
]
NEW_PAPER = {
    "id": "zz-mirror-test",
    "title": "Quokka Gradient Folding for Marsupial Transformers",
    "abstract": "We introduce quokka gradient folding, which folds marsupial transformer "
    "gradients into a pouch buffer. Quokka folding halves the memory of marsupial training.",
}


def run_cli(home: Path, *argv: str) -> tuple[str, bool]:
    """``rag ARGV`` in a new process: its stdout, and whether it imported chromadb."""
    code = (
        "import sys\nfrom rag.interfaces.cli import cli\n"
        f"try:\n    cli({list(argv)!r})\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('chromadb' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAG_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-800:]
    out, _, flag = done.stdout.rstrip().rpartition("\n")
    return out, flag == "True"


def test_mirror_gives_chromas_results(seeded_home: Path) -> None:
    """The library reads through the mirror; a library given the Chroma store itself finds the
    same chunks in the same order with the same cosines (to float32 rounding)."""
    mirrored = Library(home=seeded_home)
    assert isinstance(mirrored.store, MirroredStore)
    chroma = Store(seeded_home, embedder_name=mirrored.embedder.name, dim=mirrored.embedder.dim)
    plain = Library(home=seeded_home, store=chroma, embedder=mirrored.embedder)
    assert mirrored.store.count_chunks() == chroma.count_chunks() > 400
    for q in QUESTIONS:
        a, b = mirrored.retrieve(q, 10), plain.retrieve(q, 10)
        assert [h.chunk_id for h in a] == [h.chunk_id for h in b], q
        assert max(abs(x.score - y.score) for x, y in zip(a, b, strict=True)) < 1e-5
        v = [float(x) for x in mirrored.embedder.embed([q])[0]]
        near_m, near_c = mirrored.store.nearest(v, 50), chroma.nearest(v, 50)
        assert [c for c, _ in near_m[:20]] == [c for c, _ in near_c[:20]], q
        assert {c for c, _ in near_m[:45]} <= {c for c, _ in near_c}
    assert mirrored.store._store is None  # Chroma was never opened by the mirrored library


def test_cold_ask_skips_chroma_and_a_stale_mirror_is_not_used(
    seeded_home: Path, tmp_path: Path
) -> None:
    """A new process answers from a current mirror without importing chromadb. Then another
    process ingests a paper; a mirror from before that (put back, as a writer that bypassed the
    invalidation would leave it) no longer matches the store, so the next process reads Chroma
    and finds the new paper; and the ingest itself left a current mirror that finds it too."""
    home = tmp_path / "copy"
    shutil.copytree(seeded_home, home)
    out, imported = run_cli(home, "ask", "--json", QUESTIONS[0])
    assert not imported
    assert json.loads(out)["citations"], out
    old = mirror.mirror_path(home, "papers").read_bytes()
    papers = tmp_path / "new.jsonl"
    papers.write_text(json.dumps(NEW_PAPER) + "\n", encoding="utf-8")
    run_cli(home, "ingest", str(papers))
    fresh = mirror.mirror_path(home, "papers").read_bytes()
    assert fresh != old
    mirror.mirror_path(home, "papers").write_bytes(old)  # stale: recorded before the ingest
    out, imported = run_cli(home, "search", "--json", "quokka gradient folding", "-k", "3")
    assert imported and json.loads(out)[0]["paper_id"] == NEW_PAPER["id"]
    mirror.mirror_path(home, "papers").write_bytes(fresh)
    out, imported = run_cli(home, "search", "--json", "quokka gradient folding", "-k", "3")
    assert not imported and json.loads(out)[0]["paper_id"] == NEW_PAPER["id"]


def write_papers(path: Path, n: int, start: int = 0) -> list[str]:
    rows = [
        {"id": f"p{i}", "title": f"Title {i}", "abstract": f"Paper {i} studies topic{i} well."}
        for i in range(start, start + n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return [str(r["id"]) for r in rows]


def test_writes_remove_the_mirror_and_commits_write_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fake embedder. A store write removes the file first; an ingest and a remove through the
    library write a current one; a reader holding the old one sees the other library's remove."""
    home = tmp_path / "home"
    ids = write_papers(tmp_path / "a.jsonl", 5)
    monkeypatch.setattr(mirror, "PAGE", 1)  # read in pages; a count that is a multiple of it
    writer = fake_library(home)
    writer.ingest([tmp_path / "a.jsonl"], progress=False)
    path = mirror.mirror_path(home, "papers")
    assert path.is_file()
    reader = fake_library(home)
    assert isinstance(reader.store, MirroredStore)
    assert {h.paper_id for h in reader.search("topic1 topic2", 5)} >= {"p1", "p2"}
    writer.remove(ids[:2])
    assert path.is_file()  # written again after the remove committed
    assert {h.paper_id for h in reader.search("topic1 topic2", 5)} & {"p0", "p1"} == set()
    assert reader.store.count_chunks() == writer.store.count_chunks()
    writer.store.delete_chunks([f"{ids[2]}#0"])  # a direct write: the file goes first
    assert not path.exists()
    assert reader.store.current() is None


def test_no_mirror_above_the_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake embedder. A library with more chunks than MAX_CHUNKS gets no mirror (and reads
    Chroma); a reader of a small one without a mirror writes one."""
    home = tmp_path / "home"
    write_papers(tmp_path / "a.jsonl", 4)
    monkeypatch.setattr(mirror, "MAX_CHUNKS", 2)
    fake_library(home).ingest([tmp_path / "a.jsonl"], progress=False)
    assert not mirror.mirror_path(home, "papers").exists()
    assert isinstance(fake_library(home).store, Store)
    monkeypatch.setattr(mirror, "MAX_CHUNKS", 100)
    assert isinstance(fake_library(home).store, Store)  # opened Chroma, then wrote the mirror
    assert isinstance(fake_library(home).store, MirroredStore)
