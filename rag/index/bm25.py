"""BM25 scoring over token-id documents (bm25s), and the flat layout the lexical index saves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def flatten(rows: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    if rows:
        offsets[1:] = np.cumsum([len(r) for r in rows])
        flat = np.concatenate(rows).astype(np.int32) if offsets[-1] else np.zeros(0, np.int32)
    else:
        flat = np.zeros(0, dtype=np.int32)
    return flat, offsets


def unflatten(flat: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


class BM25:
    """bm25s over token-id documents, scoring every document for a query."""

    def __init__(self, docs: Sequence[np.ndarray], vocab_size: int, k1: float, b: float) -> None:
        import bm25s

        self.n = len(docs)
        self.model: Any = None
        if self.n == 0:
            return
        # bm25s wants a vocab dict token->index; our ids are already dense 0..V-1, plus one
        # empty token it may add for documents without any term.
        vocab = {i: i for i in range(vocab_size + 1)}
        model = bm25s.BM25(k1=k1, b=b, method="lucene")
        model.index(([d.tolist() for d in docs], vocab), show_progress=False)
        self.model = model

    def scores(self, query_ids: Sequence[int]) -> np.ndarray:
        if self.model is None or not query_ids:
            return np.zeros(self.n, dtype=np.float32)
        return np.asarray(self.model.get_scores_from_ids(list(query_ids)), dtype=np.float32)
