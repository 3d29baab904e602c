"""Library plumbing with the FakeEmbedder (fast unit tests) and real embedded Chroma."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from rag.errors import ConfigError, InputError
from rag.library import Library
from tests.conftest import DATA
from tests.fakes import FakeEmbedder, fake_library


def test_ingest_then_reingest_adds_nothing(tmp_path: Path) -> None:
    lib = fake_library()
    first = lib.ingest([DATA / "tiny.jsonl", DATA / "tiny_daily.txt"], progress=False)
    assert (first.papers_added, first.duplicates) == (5, 1)
    chunks = lib.store.count_chunks()
    assert lib.store.count_papers() == 5
    again = fake_library().ingest([DATA / "tiny.jsonl", DATA / "tiny_daily.txt"], progress=False)
    assert (again.papers_added, again.papers_updated, again.papers_unchanged) == (0, 0, 5)
    assert again.chunks_written == 0
    assert fake_library().store.count_chunks() == chunks


def test_changed_abstract_replaces_its_chunks(tmp_path: Path) -> None:
    lib = fake_library(chunk_tokens=40)
    long = " ".join(f"Sentence number {i} talks about topic {i} in detail." for i in range(12))
    src = tmp_path / "p.jsonl"
    src.write_text(f'{{"id": "x", "title": "T", "abstract": "{long}"}}\n')
    lib.ingest([src], progress=False)
    before = lib.store.count_chunks()
    assert before > 2
    src.write_text('{"id": "x", "title": "T", "abstract": "Now a single short sentence."}\n')
    report = lib.ingest([src], progress=False)
    assert report.papers_updated == 1
    rows = lib.store.get_chunks()
    assert [r["text"] for r in rows] == ["Now a single short sentence."]
    assert lib.store.count_papers() == 1


def test_bad_record_leaves_the_store_untouched(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "ok", "title": "Fine", "abstract": "Good."}\n'
        '{"id": "b", "title": "B", "abstract": 5}\n'
    )
    lib = fake_library()
    with pytest.raises(InputError, match=r"bad\.jsonl:2"):
        lib.ingest([DATA / "tiny.jsonl", bad], progress=False)
    assert lib.store.count_chunks() == 0
    report = lib.ingest([DATA / "tiny.jsonl", bad], skip_errors=True, progress=False)
    assert report.papers_added == 4 and len(report.skipped) == 1


def test_failed_embedding_writes_nothing(tmp_path: Path) -> None:
    class Broken(FakeEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            if self.calls:
                raise RuntimeError("endpoint died")
            return super().embed(texts)

    lib = Library(embedder=Broken())
    src = tmp_path / "many.jsonl"
    src.write_text(
        "".join(f'{{"id": "{i}", "title": "T{i}", "abstract": "Text {i}."}}\n' for i in range(100))
    )
    with pytest.raises(RuntimeError):
        lib.ingest([src], progress=False)
    assert lib.store.count_chunks() == 0


def test_store_records_embedder_and_refuses_another(tmp_path: Path) -> None:
    lib = fake_library()
    lib.ingest([DATA / "tiny.jsonl"], progress=False)
    other = Library(embedder=FakeEmbedder(name="another-model"))
    with pytest.raises(ConfigError, match="built with embedder 'fake-bow' but 'another-model'"):
        _ = other.store


def test_chunks_carry_title_sentence_span_and_tokens() -> None:
    lib = fake_library(chunk_tokens=48)
    lib.ingest([DATA / "tiny.jsonl"], progress=False)
    rows = {r["id"]: r for r in lib.store.get_chunks()}
    meta = rows["101#0"]["metadata"]
    assert meta["paper_id"] == "101"
    assert meta["title"] == "Retrieval-Augmented Generation for Clinical Notes"
    assert meta["sentence_start"] == 0 and meta["n_tokens"] <= 48
    spans = sorted(
        (r["metadata"]["sentence_start"], r["metadata"]["sentence_end"])
        for r in rows.values()
        if r["metadata"]["paper_id"] == "101"
    )
    assert spans[0][0] == 0 and spans[-1][1] == 3
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


def test_remove_papers() -> None:
    lib = fake_library()
    lib.ingest([DATA / "tiny.jsonl"], progress=False)
    assert lib.remove(["p-2"]) >= 1
    assert lib.store.count_papers() == 2


def test_seeding_is_an_explicit_call_never_a_side_effect_of_reading() -> None:
    lib = fake_library(seed=False)
    assert lib.seed() is None and lib.stats().papers == 0
    fresh = fake_library()
    assert fresh.search("linear attention") == [] and fresh.stats().papers == 0  # reads: no seeding
    report = fresh.seed(progress=False)
    assert report is not None and fresh.stats().papers == 242
    assert fresh.seed() is None  # a library that holds papers is left alone
