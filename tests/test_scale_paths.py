"""The paths that keep ingest and search flat as a library grows (issue 12): an ingest reads only
its own batch's papers from the store, and a broad filter is applied after an unfiltered dense
query (the lexical index's columns) with the same result as Chroma's prefiltered query. All use
the FakeEmbedder (tests.fakes) on the tiny test files; each takes a few seconds."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.index.catalog import paper_rows
from rag.index.filters import Filters
from rag.index.lexical import LexicalIndex, top_rows
from rag.retrieval.base import Query
from rag.retrieval.dense import DenseSource
from rag.retrieval.hybrid import HybridRetriever
from tests.conftest import DATA
from tests.fakes import fake_library

ALL_TINY = [DATA / "tiny.jsonl", DATA / "tiny_daily.txt", DATA / "tiny.json"]


def test_an_ingest_reads_only_its_own_papers_from_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reconcile looks stored papers up by the batch's ids and keys, and the writer's lexical
    sync reads the batch's chunks: neither lists the whole library. A re-listed paper (same
    title, other id and case) is still merged into the stored one."""
    lib = fake_library(seed=False, chunk_tokens=40)
    lib.ingest(ALL_TINY, progress=False)
    assert lib.store.titles_keyed
    stored = {m["paper_id"]: m for m in paper_rows(lib.store)}
    title = next(str(m["title"]) for m in stored.values() if len(str(m["title"]).split()) >= 3)
    whole: list[Any] = []
    import rag.index.reconcile as reconcile

    def spy_rows(store: Any, where: Any = None) -> list[dict[str, Any]]:
        if where is None:
            whole.append("paper_rows")
        return paper_rows(store, where)

    monkeypatch.setattr(reconcile, "paper_rows", spy_rows)
    monkeypatch.setattr(type(lib.store), "chunk_ids", lambda self: whole.append("chunk_ids") or [])
    new = tmp_path / "more.jsonl"
    records = [
        {"id": "new-1", "title": "A fresh paper on glacier melt rates", "abstract": "Ice. Melt."},
        {"id": "other-id", "title": title.upper() + "!", "abstract": "The same paper again."},
    ]
    new.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    report = lib.ingest([new], progress=False)
    assert whole == []
    assert report.merged_into_library == 1
    assert report.papers_added == 1
    # the index the writer kept equals one rebuilt from the store
    fresh = LexicalIndex(tmp_path / "fresh")
    fresh.sync(lib.store)
    assert lib.lexical.fingerprint == fresh.fingerprint
    assert sorted(lib.lexical.ids) == sorted(fresh.ids)


def test_a_broad_filter_post_filters_the_dense_query_with_the_prefilters_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lib = fake_library(seed=False, chunk_tokens=40)
    lib.ingest(ALL_TINY, progress=False)
    retriever = lib.retriever
    assert isinstance(retriever, HybridRetriever)
    dense = retriever.dense
    assert dense.rows is not None
    plain = DenseSource(lib.store, lib.embedder)  # no index: Chroma's where, as before
    wheres: list[Any] = []
    nearest = type(lib.store).nearest

    def spy(self: Any, vector: Any, n: int, where: Any = None) -> Any:
        wheres.append(where)
        return nearest(self, vector, n, where)

    monkeypatch.setattr(type(lib.store), "nearest", spy)
    query = "attention models and forecasting"
    for f in [
        Filters.make(year="2023..2024"),
        Filters.make(source="tiny.jsonl"),
        Filters.make(paper=["p-2", "j-1"]),
    ]:
        assert f is not None
        for n in (3, 100):
            wheres.clear()
            with dense.rows.lock:
                post = [c.chunk_id for c in dense.propose(Query(query, 3, f), n)]
            assert wheres[0] is None, f  # the unfiltered query ran first
            pre = [c.chunk_id for c in plain.propose(Query(query, 3, f), n)]
            assert wheres[-1] is not None
            assert post == pre, (f, n)
            assert post and all(f.matches(lib.store.texts([c])[c][1]) for c in post)


def test_top_rows_sorts_only_the_k_best_with_the_full_sorts_result() -> None:
    """Ties (many equal scores), zeros, masks, k from 0 to past the row count; instant."""
    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(1, 300))
        scores = rng.integers(0, 6, n).astype(np.float32)
        mask = rng.random(n) > 0.3 if trial % 2 else None
        k = int(rng.integers(0, n + 3))
        s = scores if mask is None else np.where(mask, scores, 0.0)
        pos = np.flatnonzero(s > 0)
        want = [(int(i), float(s[i])) for i in pos[np.lexsort((pos, -s[pos]))][:k]]
        assert top_rows(scores, k, mask) == want


def test_the_chunk_count_is_kept_while_the_store_files_are_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chroma's count (a scan) runs again only once the SQLite files changed, and never on files
    written in the last ``SETTLED_S`` s; a write through another store object (as another
    process's) is seen at once. FakeEmbedder; about 2 s."""
    import rag.index.filesig as filesig

    lib = fake_library(seed=False, chunk_tokens=40)
    lib.ingest(ALL_TINY[:1], progress=False)
    store = lib.store
    calls: list[int] = []
    count = type(store.collection).count

    def spy(self: Any) -> int:
        if self is store.collection:
            calls.append(1)
        return int(count(self))

    monkeypatch.setattr(type(store.collection), "count", spy)
    first = store.count_chunks()
    assert store.count_chunks() == first and len(calls) == 2  # just written: not trusted yet
    monkeypatch.setattr(filesig, "SETTLED_S", 0.0)
    assert store.count_chunks() == first and store.count_chunks() == first
    assert len(calls) == 3  # kept
    time.sleep(0.05)  # past the file system's timestamp tick
    other = fake_library(home=lib.home, seed=False, chunk_tokens=40)
    other.ingest(ALL_TINY[1:], progress=False)
    grown = store.count_chunks()
    assert grown > first and len(calls) == 4
    assert grown == int(count(other.store.collection))
