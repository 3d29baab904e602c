"""Retrieval: BM25 index sync and persistence, fusion math, filters on both sides, per-paper caps
and MMR (FakeEmbedder unit tests), then the real model on the bundled corpus and a Chroma server."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from rag.errors import InputError, RagError
from rag.index.filters import Filters, parse_years
from rag.index.lexical import NO_YEAR, LexicalIndex, Tokenizer, TokenizerConfig, index_key, top_rows
from rag.library import Library
from rag.retrieval.base import Query
from rag.retrieval.diversity import cap_per_paper, mmr
from rag.retrieval.fusion import rrf_scores, weighted_scores
from rag.retrieval.hybrid import HybridRetriever
from rag.schema import Hit
from tests.conftest import DATA
from tests.fakes import fake_library

ALL_TINY = [DATA / "tiny.jsonl", DATA / "tiny_daily.txt", DATA / "tiny.json"]


def hit(paper: str, n: int, score: float = 0.5) -> Hit:
    return Hit(chunk_id=f"{paper}#{n}", paper_id=paper, title=paper, text="t", score=score)


# --- fusion math ------------------------------------------------------------------------------


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = rrf_scores([["a", "b", "c"], ["c", "a"]], k=60)
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert sorted(fused, key=lambda x: -fused[x]) == ["a", "c", "b"]
    weighted = rrf_scores([["a"], ["b"]], k=10, weights=[1.0, 2.0])
    assert weighted == {"a": pytest.approx(1 / 11), "b": pytest.approx(2 / 11)}


def test_weighted_fusion_normalises_each_side() -> None:
    fused = weighted_scores({"a": 0.9, "b": 0.5, "c": 0.7}, {"a": 0.0, "b": 10.0, "c": 5.0}, 0.5)
    # cosine min-max: a 1, b 0, c 0.5; BM25 over its max: a 0, b 1, c 0.5
    assert fused == {"a": pytest.approx(0.5), "b": pytest.approx(0.5), "c": pytest.approx(0.5)}
    dense_only = weighted_scores({"a": 0.9, "b": 0.5}, {"a": 0.0, "b": 0.0}, 0.3)
    assert dense_only == {"a": pytest.approx(0.7), "b": pytest.approx(0.0)}
    assert weighted_scores({}, {}, 0.5) == {}
    same = weighted_scores({"a": 0.4, "b": 0.4}, {"a": 2.0, "b": 1.0}, 0.5)
    assert same["a"] == pytest.approx(1.0) and same["b"] == pytest.approx(0.75)


def test_top_rows_is_deterministic_and_respects_mask() -> None:
    scores = np.array([0.0, 2.0, 5.0, 2.0, 1.0], dtype=np.float32)
    assert top_rows(scores, 3) == [(2, 5.0), (1, 2.0), (3, 2.0)]
    mask = np.array([True, False, False, True, True])
    assert top_rows(scores, 5, mask) == [(3, 2.0), (4, 1.0)]  # zero scores never returned


# --- tokenisation -------------------------------------------------------------------------------


def test_tokenizer_stems_drops_stopwords_and_splits_compounds() -> None:
    tok = Tokenizer(TokenizerConfig())
    assert tok("The studies of proteins") == ["studi", "protein"]
    assert tok("Block-LoRA shares") == ["block", "lora", "share"]
    assert "alzheim" in tok("Alzheimer's disease")
    assert tok("IL-6 and TNF-α in 2023") == ["il", "6", "tnf", "α", "2023"]
    joined = Tokenizer(TokenizerConfig(compounds=True))
    assert joined("Block-LoRA") == ["block", "lora", "blocklora"]


# --- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023", (2023, 2023)),
        ("2023..2024", (2023, 2024)),
        ("2023..", (2023, None)),
        ("..2024", (None, 2024)),
        (" 2023 .. 2024 ", (2023, 2024)),
        (2022, (2022, 2022)),
    ],
)
def test_parse_years(text: str, expected: tuple[int | None, int | None]) -> None:
    assert parse_years(text) == expected


@pytest.mark.parametrize("text", ["", "..", "23", "2023-2024", "abc", "2025..2023", "2023...2024"])
def test_bad_year_is_a_one_line_input_error(text: str) -> None:
    with pytest.raises(InputError) as err:
        parse_years(text)
    assert "\n" not in str(err.value) and "year" in str(err.value)


def test_filters_make_and_where() -> None:
    assert Filters.make() is None
    assert Filters.make(year="2023").where() == {  # type: ignore[union-attr]
        "$and": [{"year": {"$gte": 2023}}, {"year": {"$lte": 2023}}]
    }
    f = Filters.make(source="a.jsonl", paper=["x", "y", "x"])
    assert f is not None and f.paper_ids == ("x", "y")
    assert f.where() == {
        "$and": [{"source": {"$in": ["a.jsonl"]}}, {"paper_id": {"$in": ["x", "y"]}}]
    }
    assert Filters.make(year="..2020").where() == {"year": {"$lte": 2020}}  # type: ignore[union-attr]
    with pytest.raises(InputError, match="source"):
        Filters.make(source=["ok", " "])


def test_filter_mask_matches_the_metadata_rule() -> None:
    rng = random.Random(3)
    metas = []
    for i in range(200):
        meta: dict[str, object] = {"paper_id": f"p{i % 37}", "source": rng.choice("abc") + ".txt"}
        if rng.random() < 0.7:
            meta["year"] = rng.randint(2018, 2025)
        metas.append(meta)
    columns = {
        "paper_ids": np.array([m["paper_id"] for m in metas], dtype=object),
        "sources": np.array([m["source"] for m in metas], dtype=object),
        "years": np.array([m.get("year", NO_YEAR) for m in metas], dtype=np.int64),
    }
    for f in [
        Filters.make(year="2020..2022"),
        Filters.make(year="2024.."),
        Filters.make(source=["a.txt", "c.txt"]),
        Filters.make(paper=["p1", "p5"], year="..2021"),
        Filters.make(year="2019", source="b.txt", paper=[f"p{i}" for i in range(20)]),
    ]:
        assert f is not None
        mask = f.mask(**columns)
        assert mask.tolist() == [f.matches(m) for m in metas], f


def test_filters_select_the_same_chunks_in_chroma_and_in_the_lexical_index() -> None:
    lib = fake_library(seed=False, chunk_tokens=40)
    lib.ingest(ALL_TINY, progress=False)
    lex = lib.lexical
    for f in [
        Filters.make(year="2024"),
        Filters.make(year="2020.."),
        Filters.make(source="tiny.jsonl"),
        Filters.make(source=["tiny.json", "tiny_daily.txt"]),
        Filters.make(paper=["p-2", "j-1"]),
        Filters.make(paper="101", year="..2023"),
    ]:
        assert f is not None
        in_chroma = {r["id"] for r in lib.store.get_chunks(f.where())}
        mask = lex.mask(f)
        assert mask is not None
        assert {cid for cid, keep in zip(lex.ids, mask, strict=True) if keep} == in_chroma, f


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_search_with_filters_returns_only_matching_papers(mode: str) -> None:
    fake_library(seed=False).ingest(ALL_TINY, progress=False)
    lib = fake_library(seed=False, retrieval=mode)
    query = "attention models and forecasting"
    for kwargs, ok in [
        ({"source": "tiny.jsonl"}, lambda h: h.metadata["source"] == "tiny.jsonl"),
        ({"year": "2023..2024"}, lambda h: h.metadata.get("year") in (2023, 2024)),
        ({"paper": ["p-2", "j-1"]}, lambda h: h.paper_id in ("p-2", "j-1")),
        ({"year": "2024", "source": "tiny.jsonl"}, lambda h: h.paper_id == "101"),
    ]:
        hits = lib.search(query, k=10, **kwargs)  # type: ignore[arg-type]
        assert all(ok(h) for h in hits), (kwargs, [h.paper_id for h in hits])
        if mode != "bm25":  # dense and hybrid rank every passing paper
            assert hits, kwargs
    # issue 10: a filter no paper can pass is an error saying why, not a silent empty list
    with pytest.raises(InputError, match=r"no paper in this library is from 1999 \(years 2023"):
        lib.search(query, k=10, year="1999")


def test_unknown_source_or_paper_is_a_clear_error() -> None:
    lib = fake_library(seed=False)
    lib.ingest(ALL_TINY, progress=False)
    with pytest.raises(InputError, match=r"source 'nope\.txt' \(sources: tiny\.json, tiny\.jsonl"):
        lib.search("x", source="nope.txt")
    with pytest.raises(InputError, match="paper id 'zz'"):
        lib.ask("x", paper=["p-2", "zz"])
    with pytest.raises(InputError, match="bad year filter"):
        lib.retrieve("x", year="2024..2023")


# --- the lexical index stays in sync with the store ---------------------------------------------


def lexical_hits(lib: Library, query: str) -> list[str]:
    lex = lib.lexical
    return [lex.ids[row] for row, _ in lex.search(query, 10)]


def test_lexical_index_follows_ingest_reingest_and_remove(tmp_path: Path) -> None:
    lib = fake_library(seed=False)
    lib.ingest(ALL_TINY, progress=False)
    assert sorted(lib.lexical.ids) == sorted(r["id"] for r in lib.store.get_chunks())
    assert lexical_hits(lib, "coral heatwaves") == ["p-3#0"]

    src = tmp_path / "p.jsonl"
    src.write_text('{"id": "p-3", "title": "Coral Reef Bleaching", "abstract": "Zooxanthellae."}\n')
    report = lib.ingest([src], progress=False)
    assert report.papers_updated == 1
    assert lexical_hits(lib, "zooxanthellae") == ["p-3#0"]
    assert lexical_hits(lib, "heatwaves") == []  # the old abstract is gone from the index

    assert lib.remove(["p-3"]) == 1
    assert lexical_hits(lib, "zooxanthellae coral") == []
    assert "p-3#0" not in lib.lexical.ids
    assert "zooxanthella" not in lib.lexical.vocab  # unused terms are dropped
    assert len(lib.lexical) == lib.store.count_chunks()


def test_lexical_index_persists_and_detects_a_stale_copy() -> None:
    lib = fake_library(seed=False, chunk_tokens=40)
    lib.ingest(ALL_TINY, progress=False)
    path = lib.lexical.file
    assert path.is_file() and path.parent.parent == lib.home / "lexical"
    fingerprint = lib.lexical.fingerprint

    again = fake_library(seed=False)
    index = LexicalIndex(path.parent)
    assert index.fingerprint == fingerprint and len(index) == len(lib.lexical)
    assert index.sync(again.store) is False  # nothing to do: loaded, not rebuilt
    assert again.search("coral heatwaves", k=1)[0].paper_id == "p-3"

    # Written behind the index's back (no hook ran): the next library notices and resyncs.
    lib.store.delete_papers(["p-3"])
    fresh = fake_library(seed=False)
    assert "p-3#0" not in fresh.lexical.ids
    assert fresh.lexical.fingerprint != fingerprint
    # ... and so does a long-lived one, on its next query (the chunk count changed).
    assert all(h.paper_id != "p-3" for h in again.search("coral heatwaves", k=5))
    assert "p-3#0" not in again.lexical.ids


def test_lexical_index_grows_in_place_and_reloads_its_deltas_exactly(tmp_path: Path) -> None:
    """Adding papers tokenises only theirs and saves a delta; a reload (full copy + deltas)
    scores exactly like an index built in one go; a removal folds the deltas (fake embedder)."""
    lib = fake_library(seed=False)
    lib.ingest([DATA / "tiny.jsonl"], progress=False)
    before = len(lib.lexical)
    lib.ingest([DATA / "tiny_daily.txt"], progress=False)
    lib.ingest([DATA / "tiny.json"], progress=False)
    lex = lib.lexical
    assert lex.last_sync["saved"] == "delta" and lex.last_sync["removed"] == 0
    assert 0 < lex.last_sync["added"] < len(lex) and len(lex) > before
    assert len(list(lex.path.glob("delta-*.npz"))) == 2
    reloaded = LexicalIndex(lex.path)
    scratch = LexicalIndex(tmp_path / "scratch")
    assert scratch.sync(lib.store) and scratch.last_sync["added"] == len(lex)
    assert reloaded.fingerprint == lex.fingerprint == scratch.fingerprint
    for query in ["coral heatwaves", "attention models and forecasting"]:
        by_id = dict(zip(lex.ids, lex.scores(query), strict=True))
        assert max(by_id.values()) > 0, query
        for other in (reloaded, scratch):
            got = dict(zip(other.ids, other.scores(query), strict=True))
            assert got.keys() == by_id.keys()
            assert all(math.isclose(got[c], by_id[c], abs_tol=1e-5) for c in got), query
    lib.remove(["p-3"])
    assert lib.lexical.last_sync["saved"] == "full" and not list(lex.path.glob("delta-*.npz"))
    assert LexicalIndex(lex.path).fingerprint == lib.lexical.fingerprint


def test_a_damaged_index_file_is_rebuilt() -> None:
    lib = fake_library(seed=False)
    lib.ingest(ALL_TINY, progress=False)
    lib.lexical.file.write_bytes(b"not an index")
    fresh = fake_library(seed=False)
    assert len(fresh.lexical) == fresh.store.count_chunks()
    assert fresh.search("coral heatwaves", k=1)[0].paper_id == "p-3"


def test_index_key_separates_collections_and_servers() -> None:
    assert index_key("papers", None) == "papers"
    a = index_key("papers", "http://127.0.0.1:8000")
    assert a.startswith("server-") and a != index_key("other", "http://127.0.0.1:8000")
    assert a == index_key("papers", "http://127.0.0.1:8000/")
    assert a != index_key("papers", "http://127.0.0.1:8001")


# --- ask and summarize: per-paper caps, MMR -----------------------------------------------------


def test_cap_per_paper_keeps_rank_order() -> None:
    hits = [hit("a", 0), hit("a", 1), hit("a", 2), hit("b", 0), hit("a", 3), hit("c", 0)]
    assert [h.chunk_id for h in cap_per_paper(hits, 4, 2)] == ["a#0", "a#1", "b#0", "c#0"]
    assert [h.chunk_id for h in cap_per_paper(hits, 2, 1)] == ["a#0", "b#0"]


def test_ask_reads_at_most_two_passages_per_paper(tmp_path: Path) -> None:
    long = " ".join(
        f"Sparse routing experiment {i} improves perplexity by {i}%." for i in range(30)
    )
    src = tmp_path / "long.jsonl"
    src.write_text(
        json.dumps({"id": "big", "title": "Sparse routing", "abstract": long})
        + "\n"
        + json.dumps({"id": "small", "title": "Routing", "abstract": "Sparse routing helps."})
        + "\n"
    )
    lib = fake_library(seed=False, chunk_tokens=40, top_k=4)
    lib.ingest([src], progress=False)
    assert lib.store.count_chunks() > 4
    seen: list[list[Hit]] = []
    backend = lib.backend

    class Spy:  # a backend injected through the constructor, recording what it is given
        name = "spy"

        def draft(self, question: str, sources: list[Hit], on_delta: object = None) -> object:
            seen.append(sources)
            return backend.draft(question, sources)

    spied = Library(home=lib.home, embedder=lib.embedder, backend=Spy(), seed=False, top_k=4)  # type: ignore[arg-type]
    spied.ask("sparse routing perplexity")
    sources = seen[0]
    assert sum(1 for s in sources if s.paper_id == "big") == 2
    assert [s.paper_id for s in sources].count("small") == 1


def test_mmr_prefers_a_different_paper_over_a_near_duplicate() -> None:
    vectors = np.array([[1.0, 0.0], [0.99, 0.14], [0.6, 0.8]])
    assert mmr([1.0, 0.98, 0.7], vectors, 2, lam=0.5) == [0, 2]
    assert mmr([1.0, 0.98, 0.7], vectors, 2, lam=1.0) == [0, 1]
    assert mmr([], np.zeros((0, 2)), 3) == []


def test_summarize_keeps_one_passage_per_paper_and_honours_filters(tmp_path: Path) -> None:
    from rag.answering.summary import diverse_sources

    lib = fake_library(seed=False, chunk_tokens=40)
    lib.ingest(ALL_TINY, progress=False)
    sources = diverse_sources(lib.pipeline, "attention language models", 5)
    assert len({s.paper_id for s in sources}) == len(sources)
    query = "byte-level language models without tokenizers"
    only = diverse_sources(lib.pipeline, query, 5, filters=Filters.make(source="tiny.json"))
    assert only and {s.metadata["source"] for s in only} == {"tiny.json"}


def test_hybrid_candidates_carry_exact_scores_from_both_sides() -> None:
    lib = fake_library(seed=False)
    lib.ingest(ALL_TINY, progress=False)
    retriever = lib.retriever
    assert isinstance(retriever, HybridRetriever)
    query = "coral heatwaves bleaching"
    q = Query(query, 3)
    ranked = retriever.rank(q)
    vector = q.vector
    assert vector is not None
    assert ranked[0].paper_id == "p-3"
    assert all(c.cosine is not None for c in ranked)  # bm25-only candidates got their cosine
    hits = lib.retrieve(query, 3)
    stored = lib.embedder.embed([f"{hits[0].title}. {hits[0].text}"])[0]
    assert hits[0].score == pytest.approx(float(stored @ vector), abs=1e-4)  # score = cosine
    assert hits[0].metadata["fused_score"] == pytest.approx(1.0)


# --- real model, bundled corpus -----------------------------------------------------------------


@pytest.mark.integration
def test_hybrid_finds_a_paper_by_a_rare_exact_term_that_dense_misses(seeded_home: Path) -> None:
    # "PRepBN" appears in one abstract only (SLAB: ... Progressive Re-parameterized BatchNorm);
    # for the embedder it is an unknown string, so the paper is nowhere near dense's top 5.
    query = "PRepBN"
    # Since chunks fit the embedder's window (482 chunks, was 401) the SLAB chunk ranks second,
    # not first: the top chunk's cosine sets the scale of the normalised dense side.
    dense = Library(home=seeded_home, retrieval="dense").search(query, k=5)
    hybrid = Library(home=seeded_home).search(query, k=5)
    slab = [h for h in hybrid[:2] if h.title.startswith("SLAB")]
    assert slab and "PRepBN" in slab[0].text
    assert slab[0].paper_id not in [h.paper_id for h in dense]


@pytest.mark.integration
def test_filters_by_source_file_on_the_bundled_corpus(seeded_home: Path) -> None:
    from rag.ingest import bundled_seed_dir

    files = sorted(p.name for p in bundled_seed_dir().glob("*.txt"))
    lib = Library(home=seeded_home)
    for name in files:
        hits = lib.search("diffusion models for video", k=8, source=name)
        assert hits and {h.metadata["source"] for h in hits} == {name}
    with pytest.raises(RagError, match="no paper in the library has source"):
        lib.search("x", source="missing.txt")
    answer = lib.ask("What does Block-LoRA share across its sub-matrices?", source=files[0])
    assert answer.citations and all(
        c.paper_id in {h.paper_id for h in lib.search("Block-LoRA", k=50, source=files[0])}
        for c in answer.citations
    )


# --- a Chroma server -----------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.server
def test_hybrid_and_filters_over_a_chroma_server(chroma_server: str, tmp_path: Path) -> None:
    lib = fake_library(chroma_url=chroma_server, collection="hybrid-server", seed=False)
    lib.ingest(ALL_TINY, progress=False)
    key = index_key("hybrid-server", chroma_server)
    assert (tmp_path / "home" / "lexical" / key / "index.npz").is_file()
    again = fake_library(chroma_url=chroma_server, collection="hybrid-server", seed=False)
    assert again.search("coral heatwaves", k=1)[0].paper_id == "p-3"
    hits = again.search("attention language models", k=10, year="2023..", source="tiny.jsonl")
    assert hits and {h.paper_id for h in hits} <= {"101", "p-2"}
    again.remove(["p-2"])
    assert all(h.paper_id != "p-2" for h in lib.search("linear attention softmax", k=10))
    assert math.isfinite(lib.search("linear attention", k=1)[0].score)


def test_cli_filter_errors_are_one_line(tmp_path: Path) -> None:
    from tests.test_cli import assert_one_line_error, run

    home = tmp_path / "lib"
    out = run("search", "attention", "--year", "2024..2023", home=home, RAG_SEED="false")
    assert_one_line_error(out, "bad year filter '2024..2023'")
    out = run("ask", "what?", "--source", "nope.txt", home=home, RAG_SEED="false")
    assert_one_line_error(out, "no paper in the library has source 'nope.txt'")
    out = run("summarize", "x", "--paper", "p-1", "--papers", "3", home=home, RAG_SEED="false")
    assert_one_line_error(out, "paper id 'p-1'")


@pytest.mark.integration
def test_cli_filters_on_the_bundled_corpus(seeded_home: Path) -> None:
    from rag.ingest import bundled_seed_dir
    from tests.test_cli import run

    name = sorted(p.name for p in bundled_seed_dir().glob("*.txt"))[0]
    out = run("search", "linear attention", "--source", name, "--json", home=seeded_home)
    assert out.returncode == 0, out.stderr
    ids = {h["paper_id"] for h in json.loads(out.stdout)}
    allowed = {h.paper_id for h in Library(home=seeded_home).search("x", k=200, source=name)}
    assert ids and ids <= allowed
    out = run("search", "linear attention", "--year", "2023", "--json", home=seeded_home)
    # Daily Papers carry no year: a filter no paper can pass says so (issue 10), exit 1
    assert out.returncode == 1 and out.stdout == ""
    assert "no paper in this library has a year" in out.stderr


def test_the_retriever_is_a_llama_index_retriever() -> None:
    from llama_index.core.base.base_retriever import BaseRetriever
    from llama_index.core.schema import NodeWithScore

    lib = fake_library(seed=False)
    lib.ingest(ALL_TINY, progress=False)
    retriever = lib.retriever.as_llama(k=3, per_paper=1)  # type: ignore[attr-defined]
    assert isinstance(retriever, BaseRetriever)
    nodes = retriever.retrieve("coral heatwaves bleaching")
    assert nodes and all(isinstance(n, NodeWithScore) for n in nodes)
    assert len({n.node.metadata["paper_id"] for n in nodes}) == len(nodes)
    hits = lib.retrieve("coral heatwaves bleaching", 3, max_per_paper=1)
    assert [n.node.node_id for n in nodes] == [h.chunk_id for h in hits]
    assert [n.score for n in nodes] == [h.score for h in hits]


def test_unknown_reranker_is_a_config_error() -> None:
    lib = fake_library(seed=False, rerank=True, reranker="cross-encoder")
    with pytest.raises(RagError, match="unknown reranker 'cross-encoder'"):
        _ = lib.retriever
