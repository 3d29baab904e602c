"""An optional second stage: a learned linear reranker over cheap features of the fused candidates.

No cross-encoder: none ships as an offline registry package. Instead each candidate chunk gets
features both retrievers already computed (no extra model call), and a linear model whose weights
were fitted by coordinate ascent on nDCG@10 over a deterministic half of SciFact train claims
(``bench/retrieval.py --fit``):

* ``cos``: cosine to the query, min-max normalised over the candidates;
* ``bm25``: BM25 score over the best candidate's;
* ``gap``: cosine minus the best candidate's cosine (unnormalised: how far from the top);
* ``dense_rr`` / ``bm25_rr``: ``60 / (60 + rank)`` in either list (rank ``2 * n`` if absent);
* ``title``: BM25 of the query against the paper title alone, over the best candidate's;
* ``coverage``: the idf-weighted share of query terms the chunk contains.

Measured (README "Retrieval"), it moves nDCG@10 by less than its cost, so ``rerank`` is off by
default; it stays as a switch and as the place for a stronger reranker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rag.retrieve import Candidate, HybridRetriever

FEATURES = ("cos", "bm25", "gap", "dense_rr", "bm25_rr", "title", "coverage")

#: Fitted by ``bench/retrieval.py --fit`` on SciFact train claims, half A (see that script).
WEIGHTS: dict[str, float] = {
    "cos": 0.55,
    "bm25": 0.45,
    "gap": 0.55,
    "dense_rr": -0.05,
    "bm25_rr": 0.0,
    "title": 0.0,
    "coverage": 0.0,
}


def features(
    cands: Sequence[Candidate],
    *,
    title_scores: np.ndarray | None = None,
    coverage: Callable[[Candidate], float] | None = None,
    depth: int = 100,
) -> np.ndarray:
    """The feature matrix (candidates x :data:`FEATURES`); candidates need their cosines."""
    n = len(cands)
    if n == 0:
        return np.zeros((0, len(FEATURES)))
    cos = np.array([c.cosine if c.cosine is not None else -1.0 for c in cands])
    bm25 = np.array([max(c.bm25, 0.0) for c in cands])
    span = cos.max() - cos.min()
    cos_n = (cos - cos.min()) / span if span > 1e-12 else np.ones(n)
    bm25_n = bm25 / bm25.max() if bm25.max() > 0 else np.zeros(n)
    gap = cos - cos.max()
    absent = 2 * depth
    dense_rr = np.array([60.0 / (60 + (c.dense_rank or absent)) for c in cands])
    bm25_rr = np.array([60.0 / (60 + (c.bm25_rank or absent)) for c in cands])
    if title_scores is not None:
        t = np.array([title_scores[c.row] if c.row is not None else 0.0 for c in cands])
        title = t / t.max() if t.max() > 0 else np.zeros(n)
    else:
        title = np.zeros(n)
    cover = np.array([coverage(c) for c in cands]) if coverage is not None else np.zeros(n)
    return np.stack([cos_n, bm25_n, gap, dense_rr, bm25_rr, title, cover], axis=1)


@dataclass
class Reranker:
    """``fused = features . weights`` for every candidate (higher is better)."""

    weights: Mapping[str, float]

    @property
    def vector(self) -> np.ndarray:
        return np.array([self.weights.get(f, 0.0) for f in FEATURES])

    def rescore(self, query: str, cands: Sequence[Candidate], retriever: HybridRetriever) -> None:
        lex = retriever.lexical
        if lex is None or not cands:
            return
        qids = lex.query_ids(query)
        w = self.weights
        title = lex.scores(qids, title=True) if w.get("title") and qids else None
        coverage = None
        if w.get("coverage") and qids:
            idf = lex.idf()[qids]
            total = float(idf.sum()) or 1.0
            q = np.asarray(qids)

            def coverage(c: Candidate) -> float:
                if c.row is None:
                    return 0.0
                return float(idf[np.isin(q, lex.doc_tokens[c.row])].sum()) / total

        x = features(cands, title_scores=title, coverage=coverage, depth=retriever.candidates)
        for c, s in zip(cands, x @ self.vector, strict=True):
            c.fused = float(s)


def default_reranker() -> Reranker:
    return Reranker(dict(WEIGHTS))


def coordinate_ascent(
    objective: Callable[[np.ndarray], float],
    start: Sequence[float],
    *,
    steps: Sequence[float] = (0.5, 0.25, 0.1, 0.05),
    rounds: int = 4,
    frozen: Sequence[int] = (),
) -> tuple[np.ndarray, float]:
    """Maximise ``objective(weights)`` one weight at a time (RankLib-style coordinate ascent):
    try each step up and down, keep any improvement; deterministic."""
    w = np.asarray(start, dtype=np.float64).copy()
    best = objective(w)
    for _ in range(rounds):
        improved = False
        for j in range(len(w)):
            if j in frozen:
                continue
            for step in steps:
                for sign in (1.0, -1.0):
                    trial = w.copy()
                    trial[j] += sign * step
                    value = objective(trial)
                    if value > best + 1e-6:
                        best, w, improved = value, trial, True
        if not improved:
            break
    return w, best
