"""Fusion: how the candidate lists of several sources become one ranking.

* :class:`WeightedFusion` (default): every candidate is scored exactly on both sides (cosine and
  BM25, whichever source proposed it); each score is normalised over the candidates and they are
  added, BM25's share (``lexical_weight``) tuned on SciFact train claims
  (``bench/retrieval.py --fit``).
* :class:`RRFFusion`: plain reciprocal rank fusion of the sources' rankings.
* :class:`SingleFusion`: one source's own score (``dense`` or ``bm25`` mode).

Registered in :data:`FUSIONS` by name (the ``fusion`` setting).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rag.retrieval.base import Candidate

#: The usual RRF constant (Cormack et al., 2009).
RRF_K = 60


def rrf_scores(
    rankings: Sequence[Sequence[str]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> dict[str, float]:
    """Reciprocal rank fusion: sum over rankings of ``weight / (k + rank)`` (rank from 1)."""
    weights = weights or [1.0] * len(rankings)
    out: dict[str, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        for rank, key in enumerate(ranking, start=1):
            out[key] = out.get(key, 0.0) + w / (k + rank)
    return out


def weighted_scores(
    cosines: Mapping[str, float], bm25: Mapping[str, float], lexical_weight: float
) -> dict[str, float]:
    """``(1 - w) * cos' + w * bm25'`` over one candidate set, where ``cos'`` is the cosine
    min-max normalised over the candidates and ``bm25'`` the BM25 score divided by the best one
    (a chunk sharing no term with the query scores 0). Both scores are exact for every
    candidate, whichever retriever proposed it."""
    keys = list(dict.fromkeys([*cosines, *bm25]))
    if not keys:
        return {}
    cos = np.array([cosines.get(c, -1.0) for c in keys], dtype=np.float64)
    lex = np.array([max(bm25.get(c, 0.0), 0.0) for c in keys], dtype=np.float64)
    span = cos.max() - cos.min()
    cos_n = (cos - cos.min()) / span if span > 1e-12 else np.ones_like(cos)
    lex_n = lex / lex.max() if lex.max() > 0 else np.zeros_like(lex)
    fused = (1.0 - lexical_weight) * cos_n + lexical_weight * lex_n
    return {c: float(v) for c, v in zip(keys, fused, strict=True)}


@dataclass(frozen=True)
class WeightedFusion:
    lexical_weight: float = 0.45

    def fuse(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        cands = [c for c in candidates if c.cosine is not None]  # None: gone from the store
        fused = weighted_scores(
            {c.chunk_id: c.cosine for c in cands if c.cosine is not None},
            {c.chunk_id: c.bm25 for c in cands},
            self.lexical_weight,
        )
        for c in cands:
            c.fused = fused.get(c.chunk_id, 0.0)
        return ranked(cands)


@dataclass(frozen=True)
class RRFFusion:
    k: int = RRF_K

    def fuse(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        lists = [
            [c.chunk_id for c in sorted(candidates, key=_dense_key) if c.dense_rank],
            [c.chunk_id for c in sorted(candidates, key=_bm25_key) if c.bm25_rank],
        ]
        fused = rrf_scores([x for x in lists if x], k=self.k)
        for c in candidates:
            c.fused = fused.get(c.chunk_id, 0.0)
        return ranked(candidates)


@dataclass(frozen=True)
class SingleFusion:
    """One source alone: its own score orders the candidates."""

    source: str  # "dense" or "bm25"

    def fuse(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        for c in candidates:
            c.fused = (
                (c.cosine if c.cosine is not None else -1.0) if self.source == "dense" else c.bm25
            )
        return ranked(candidates)


def ranked(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Best fused score first; ties broken by chunk id (deterministic)."""
    return sorted(candidates, key=lambda c: (-c.fused, c.chunk_id))


def _dense_key(c: Candidate) -> tuple[int, str]:
    return (c.dense_rank or 10**9, c.chunk_id)


def _bm25_key(c: Candidate) -> tuple[int, str]:
    return (c.bm25_rank or 10**9, c.chunk_id)


#: Fusions by the ``fusion`` setting's value.
FUSIONS: dict[str, Callable[..., object]] = {
    "weighted": lambda lexical_weight=0.45, **_: WeightedFusion(lexical_weight),
    "rrf": lambda **_: RRFFusion(),
}
