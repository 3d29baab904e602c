"""The dense source: nearest chunks by embedding, from the Chroma collection.

Scores are cosine similarities (the collection uses cosine space: cosine = 1 - distance).
Candidates carry ids and cosines only; the hybrid retriever reads the text and metadata of the
few that make the final list. The query
is the one llama-index's ``ChromaVectorStore`` runs (``Store.vector_store()`` still gives that
store), asked directly so that answering a question does not import llama-index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.retrieval.base import Candidate, Query

if TYPE_CHECKING:
    from rag.index.embedding import Embedder
    from rag.index.store import Store


def paper_of(chunk_id: str) -> str:
    """The paper a chunk id (``PAPER#INDEX``, :func:`rag.index.chunking.chunk_paper`) belongs to."""
    return chunk_id.rsplit("#", 1)[0]


def cosine(a: np.ndarray, b: Any) -> float:
    v = np.asarray(b, dtype=np.float32)
    denom = float(np.linalg.norm(a) * np.linalg.norm(v))
    return float(a @ v) / denom if denom else 0.0


class DenseSource:
    name = "dense"

    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def vector(self, query: Query) -> np.ndarray:
        if query.vector is None:
            query.vector = np.asarray(self.embedder.embed([query.text])[0], dtype=np.float32)
        return query.vector

    def propose(self, query: Query, n: int) -> list[Candidate]:
        total = self.store.count_chunks()
        if n <= 0 or total == 0:
            return []
        where = query.filters.where() if query.filters else None
        nearest = self.store.nearest(self.vector(query).tolist(), min(n, total), where)
        # text and metadata are read later, for the candidates that make the final k
        return [
            Candidate(chunk_id=cid, paper_id=paper_of(cid), dense_rank=rank, cosine=cos)
            for rank, (cid, cos) in enumerate(nearest, start=1)
        ]

    def score(self, query: Query, candidates: Sequence[Candidate]) -> None:
        """Exact cosines for candidates another source proposed (one read of their vectors)."""
        missing = [c for c in candidates if c.cosine is None]
        if not missing:
            return
        vectors = self.store.embeddings([c.chunk_id for c in missing])
        v = self.vector(query)
        for c in missing:
            emb = vectors.get(c.chunk_id)
            c.cosine = cosine(v, emb) if emb is not None else None
