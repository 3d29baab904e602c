"""Diversity over a ranking: per-paper caps (``ask`` keeps at most two passages of a paper,
``summarize`` and ``search`` one) and maximal marginal relevance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from rag.retrieval.base import Candidate
from rag.schema import Hit


def best_per_paper(hits: list[Hit], k: int) -> list[Hit]:
    """Keep each paper's best chunk, in rank order, up to ``k`` papers."""
    return cap_per_paper(hits, k, 1)


_Ranked = TypeVar("_Ranked", Hit, Candidate)


def cap_per_paper(hits: Sequence[_Ranked], k: int, per_paper: int) -> list[_Ranked]:
    """The first ``k`` hits in rank order with at most ``per_paper`` from any one paper."""
    counts: dict[str, int] = {}
    out: list[_Ranked] = []
    if k <= 0:
        return out
    for hit in hits:
        if counts.get(hit.paper_id, 0) < per_paper:
            counts[hit.paper_id] = counts.get(hit.paper_id, 0) + 1
            out.append(hit)
            if len(out) == k:
                break
    return out


def mmr(relevance: Sequence[float], vectors: np.ndarray, k: int, lam: float = 0.7) -> list[int]:
    """Maximal marginal relevance: greedily pick the index maximising
    ``lam * relevance - (1 - lam) * max cosine to those already picked``."""
    n = len(relevance)
    if n == 0 or k <= 0:
        return []
    raw = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    v = raw / np.where(norms > 0, norms, 1.0)
    sims = v @ v.T
    rel = np.asarray(relevance, dtype=np.float64)
    chosen: list[int] = []
    best_sim = np.full(n, -np.inf)
    while len(chosen) < min(k, n):
        penalty = np.where(np.isfinite(best_sim), best_sim, 0.0)
        score = lam * rel - (1 - lam) * penalty
        score[chosen] = -np.inf
        pick = int(np.argmax(score))
        chosen.append(pick)
        best_sim = np.maximum(best_sim, sims[pick])
    return chosen
