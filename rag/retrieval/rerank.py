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
default; it stays as a switch and as the place for a stronger reranker. Any object with
``rerank(query, hits) -> hits`` is a reranker (:class:`rag.retrieval.base.Reranker`): it gets the
passages' text, so a cross-encoder plugs in with one entry in :data:`RERANKERS`.

The weights are package data (``rag/data/weights/rerank.json``), written by the fit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rag.retrieval.base import Candidate
from rag.schema import Hit

if TYPE_CHECKING:
    from rag.index.lexical import LexicalIndex

FEATURES = ("cos", "bm25", "gap", "dense_rr", "bm25_rr", "title", "coverage")
WEIGHTS_FILE = "rerank.json"


def load_weights() -> dict[str, float]:
    """The fitted weights, from package data."""
    from rag.weights import load_weights as packaged

    return {str(k): float(v) for k, v in packaged(WEIGHTS_FILE)["weights"].items()}


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


def candidate_of(hit: Hit) -> Candidate:
    """The features a retrieval left on a hit, as a candidate."""
    meta = hit.metadata

    def rank(key: str) -> int | None:
        value = meta.get(key)
        return int(value) if isinstance(value, (int, float)) and value else None

    bm25 = meta.get("bm25_score")
    return Candidate(
        chunk_id=hit.chunk_id,
        paper_id=hit.paper_id,
        dense_rank=rank("dense_rank"),
        bm25_rank=rank("bm25_rank"),
        cosine=hit.score,
        bm25=float(bm25) if isinstance(bm25, (int, float)) else 0.0,
    )


@dataclass
class FeatureReranker:
    """``score = features . weights`` for every hit (higher is better)."""

    weights: Mapping[str, float]
    lexical: LexicalIndex | None = None
    depth: int = 100

    @property
    def vector(self) -> np.ndarray:
        return np.array([self.weights.get(f, 0.0) for f in FEATURES])

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        if not hits:
            return hits
        cands = [candidate_of(h) for h in hits]
        lex = self.lexical
        title = coverage = None
        if lex is not None:
            with lex.lock:
                for c in cands:
                    c.row = lex.row(c.chunk_id)
                title, coverage = self._lexical_features(query, lex)
        x = features(cands, title_scores=title, coverage=coverage, depth=self.depth)
        scores = x @ self.vector
        order = sorted(range(len(hits)), key=lambda i: (-scores[i], hits[i].chunk_id))
        return [hits[i] for i in order]

    def _lexical_features(
        self, query: str, lex: LexicalIndex
    ) -> tuple[np.ndarray | None, Callable[[Candidate], float] | None]:
        qids = lex.query_ids(query)
        w = self.weights
        title = lex.scores(qids, title=True) if w.get("title") and qids else None
        if not (w.get("coverage") and qids):
            return title, None
        idf = lex.idf()[qids]
        total = float(idf.sum()) or 1.0
        q = np.asarray(qids)

        def coverage(c: Candidate) -> float:
            if c.row is None:
                return 0.0
            return float(idf[np.isin(q, lex.doc_tokens[c.row])].sum()) / total

        return title, coverage


def feature_reranker(lexical: LexicalIndex | None = None, depth: int = 100) -> FeatureReranker:
    return FeatureReranker(load_weights(), lexical, depth)


#: Rerankers by name (the ``reranker`` setting).
RERANKERS: dict[str, Callable[..., FeatureReranker]] = {"features": feature_reranker}


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
