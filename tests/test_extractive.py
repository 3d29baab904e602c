"""The extractive answerer adds the chosen paper's own claim sentence ("we ... show that") to a
one-paper answer, never another paper's, and never repeats a chosen sentence (fake bag-of-words
embedder)."""

from __future__ import annotations

from rag.answering.extractive import CLAIM_RE, ExtractiveBackend
from rag.schema import Hit
from tests.fakes import FakeEmbedder

A = (  # one paper, one sentence per chunk
    "Critical learning periods are periods early in development where temporary sensory "
    "deficits have a permanent effect on learned representations.",
    "To isolate the key factors, we focus on deep linear network models, and show that critical "
    "periods depend on the depth of the model.",
    "Biological systems are known to have them.",
)
B = "We propose a new optimiser for learning periods in development of deep networks."


def _draft(question: str) -> list[tuple[str, list[int]]]:
    backend = ExtractiveBackend(FakeEmbedder(dim=512), min_score=0.05, paper_margin=0.5)
    hits = [
        Hit(chunk_id=f"a{i}", paper_id="pa", title="Critical periods", text=t, score=1.0)
        for i, t in enumerate(A)
    ]
    hits.append(Hit(chunk_id="b1", paper_id="pb", title="An optimiser", text=B, score=0.5))
    return [(s.text, s.citations) for s in backend.draft(question, hits).sentences]


def test_one_paper_answer_gets_its_claim_sentence() -> None:
    sentences = _draft(
        "Do temporary sensory deficits early in development have permanent effects on deep models?"
    )
    texts = [t for t, _ in sentences]
    assert texts[0].startswith("Critical learning periods")  # the only one within `margin`
    claims = [t for t, cites in sentences if CLAIM_RE.search(t)]
    assert any("depend on the depth" in t for t in claims)
    assert all(cites != [4] for t, cites in sentences if CLAIM_RE.search(t))  # never paper B's
    assert len(texts) == len(set(texts))
