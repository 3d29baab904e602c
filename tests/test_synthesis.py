"""Extractive synthesis for multi-paper and summary questions: a question's clauses
(:func:`rag.answering.facets.facets`), each paper's finding sentence, each clause's best sentence,
and the neighbouring chunks a many-paper question reads (:func:`rag.pipeline.neighbours`).
The answerer tests use the fake bag-of-words embedder (no model); the neighbour test a fake
chunk reader."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.answering.extractive import ExtractiveBackend
from rag.answering.facets import FINDING_RE, REASON_RE, facets, fits
from rag.library import Library
from rag.pipeline import neighbours
from rag.schema import Hit
from tests.fakes import FakeEmbedder, fake_library


def _hits(papers: dict[str, tuple[str, ...]]) -> list[Hit]:
    return [
        Hit(chunk_id=f"{pid}#{i}", paper_id=pid, title=f"Paper {pid}", text=t, score=1.0)
        for pid, texts in papers.items()
        for i, t in enumerate(texts)
    ]


def test_facets_split_a_multi_part_question_and_keep_its_setup() -> None:
    question = (
        "AutoThink and AdaCtrl both shorten reasoning on easy problems. How is each trained, "
        "and what length reductions do they report?"
    )
    parts = facets(question)
    assert [p.kind for p in parts] == ["method", "quantity"]
    assert all(p.text.startswith("AutoThink and AdaCtrl both") for p in parts)  # setup kept
    assert parts[1].text.endswith("what length reductions do they report?")
    assert facets("What does Block-LoRA share across its sub-matrices?") == []
    why = facets("Why does linear attention fall short, and which fix has been proposed?")
    limits = facets("What limits linear attention, and how has it been fixed?")
    assert [p.kind for p in limits] == ["reason", "general"]
    assert [p.kind for p in why] == ["reason", "general"]
    assert fits(why[0], "The drop is due to the low-rank feature map.")
    assert not fits(why[0], "Linear attention is fast.")
    assert fits(parts[1], "It cuts token usage by 52 percent.")
    assert not fits(parts[1], "It cuts token usage on easy problems.")


def test_finding_and_reason_patterns() -> None:
    assert FINDING_RE.search("Our experiments indicate that the drop is due to the low rank.")
    assert FINDING_RE.search("Firstly, we prove that linear attention is not injective.")
    assert not FINDING_RE.search("Recent work has explored linear attention.")
    assert not FINDING_RE.search("We present two perspectives on attention.")  # a contribution
    assert REASON_RE.search("This limits its expressiveness.")
    assert not REASON_RE.search("Linear attention runs in linear time.")


WHY_A = (  # the paper's best sentence restates the question; its finding gives the reason
    "Linear attention falls short of softmax attention in quality on many tasks and benchmarks.",
    "Softmax attention is used in transformers for language and vision tasks today.",
    "We prove that the linear attention map is not injective, which explains the gap.",
)
WHY_B = ("Linear attention falls short of softmax attention quality in vision transformers.",)


def test_why_summary_adds_each_papers_finding_that_gives_a_reason() -> None:
    """A "what do the papers say about why ..." question: paper A's finding that gives a reason
    (lower-scored than its background sentence) is added, grouped with A's best sentence; with
    ``finding_margin=0`` it is not."""
    question = "What do the papers say about why linear attention falls short of softmax quality?"
    hits = _hits({"a": WHY_A, "b": WHY_B})
    got = {}
    for margin in (0.0, 0.6):
        backend = ExtractiveBackend(
            FakeEmbedder(dim=512), min_score=0.05, per_paper_extra=0, few_papers=0,
            finding_margin=margin,
        )  # fmt: skip
        draft = backend.draft(question, hits)
        got[margin] = [(s.text, hits[s.citations[0] - 1].paper_id) for s in draft.sentences]
    with_finding = [t for t, _ in got[0.6]]
    assert WHY_A[2] in with_finding and WHY_A[2] not in [t for t, _ in got[0.0]]
    assert WHY_A[1] not in with_finding  # background that is no finding stays out
    papers = [p for _, p in got[0.6]]
    assert papers == sorted(papers, key=papers.index)  # grouped by paper
    assert with_finding.index(WHY_A[2]) == with_finding.index(WHY_A[0]) + 1


COUNT_A = (
    "AutoThink trains reasoning models with multi-stage reinforcement learning to think less.",
    "AutoThink reports length reductions of 52 percent on easy problems.",
    "Reasoning models are slow.",
)
COUNT_B = ("AdaCtrl trains reasoning models with a two-stage pipeline to think less.",)


def test_each_clause_of_a_multi_part_question_gets_its_best_sentence() -> None:
    """ "How is each trained, and what length reductions ...": the sentence stating the number
    answers the second clause and is added to its paper's group; without clause scores
    (``facet_weight=0``) it is left out (fake embedder)."""
    question = (
        "AutoThink and AdaCtrl both teach reasoning models to think less. How is each trained, "
        "and what length reductions do they report?"
    )
    hits = _hits({"a": COUNT_A, "b": COUNT_B})
    got = {}
    for weight in (0.0, 0.5):
        backend = ExtractiveBackend(
            FakeEmbedder(dim=512), min_score=0.05, per_paper_extra=0, few_papers=0,
            finding_margin=0.0, facet_weight=weight,
        )  # fmt: skip
        scored = backend.score(question, hits)
        assert all(len(s.facets) == (2 if weight else 0) for s in scored)
        got[weight] = [s.text for s in backend.draft(question, hits).sentences]
    assert COUNT_A[1] in got[0.5] and COUNT_A[1] not in got[0.0]
    assert COUNT_A[2] not in got[0.5]
    assert got[0.5].index(COUNT_A[1]) < got[0.5].index(COUNT_B[0])  # grouped with paper a


def test_neighbours_are_the_adjacent_chunks_not_already_retrieved() -> None:
    """Fake reader: a many-paper question's passages get their papers' adjacent chunks (index
    -1 and +1, never negative, never one already retrieved, only those the store holds)."""
    stored = {
        "p#0": "First half of p.", "p#1": "Second half of p.",
        "q#0": "First half of q.", "q#1": "Middle of q.", "q#2": "End of q.",
    }  # fmt: skip
    asked: list[str] = []

    def read(ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        asked.extend(ids)
        return {
            i: (stored[i], {"paper_id": i[0], "title": i[0].upper()}) for i in ids if i in stored
        }

    hits = [
        Hit(chunk_id=c, paper_id=c[0], title=c[0].upper(), text=stored[c], score=1.0,
            metadata={"chunk_index": int(c[-1])})
        for c in ("p#0", "q#1", "p#1")
    ]  # fmt: skip
    got = neighbours(hits, read)
    assert asked == ["q#0", "q#2", "p#2"]  # p#1 is a hit already; no p#-1
    assert [(h.chunk_id, h.paper_id, h.text) for h in got] == [
        ("q#0", "q", stored["q#0"]), ("q#2", "q", stored["q#2"])
    ]  # fmt: skip
    assert neighbours(hits[:1], lambda ids: {}) == []  # nothing stored: nothing added


def test_a_many_paper_question_reads_its_passages_neighbours(tmp_path: Path) -> None:
    """Wiring, through ``Library`` (fake embedder, real Chroma, a spy backend): a "which papers"
    question gives the backend each retrieved passage's adjacent chunks too (one passage per
    paper is retrieved); a one-paper question gets the retrieved passages only."""
    long = " ".join(
        f"Sparse routing experiment {i} improves perplexity by {i}%." for i in range(30)
    )
    src = tmp_path / "long.jsonl"
    rows = [
        {"id": "big", "title": "Sparse routing", "abstract": long},
        {"id": "small", "title": "Routing", "abstract": "Sparse routing helps."},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    lib = fake_library(seed=False, chunk_tokens=40, top_k=4)
    lib.ingest([src], progress=False)
    seen: list[list[Hit]] = []
    backend = lib.backend

    class Spy:  # a backend injected through the constructor, recording what it is given
        name = "spy"

        def draft(self, question: str, sources: list[Hit], on_delta: object = None) -> object:
            seen.append(list(sources))
            return backend.draft(question, sources)

    spied = Library(home=lib.home, embedder=lib.embedder, backend=Spy(), seed=False, top_k=4)  # type: ignore[arg-type]
    retrieved = spied.pipeline.retrieve(
        "Which papers improve perplexity with sparse routing?", 12, per_paper=1
    )
    spied.ask("Which papers improve perplexity with sparse routing?")
    many = seen[-1]
    assert [h.chunk_id for h in many[: len(retrieved)]] == [h.chunk_id for h in retrieved]
    big = next(h for h in retrieved if h.paper_id == "big")
    index = int(str(big.metadata["chunk_index"]))
    near = {f"big#{j}" for j in (index - 1, index + 1) if j >= 0}
    assert near and near <= {h.chunk_id for h in many}  # the big paper's neighbours are read
    assert len({h.chunk_id for h in many}) == len(many)  # none twice
    spied.ask("Does sparse routing improve perplexity?")
    assert len(seen[-1]) <= 4  # a one-paper question: its top_k passages only
