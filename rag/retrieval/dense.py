"""The dense source: nearest chunks by embedding, through llama-index's ``ChromaVectorStore``.

Scores are cosine similarities (the collection uses cosine space; ``ChromaVectorStore`` reports
``exp(-distance)``, converted back here). Candidates come with their text and metadata, so the
passages need not be read again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.retrieval.base import Candidate, Query

if TYPE_CHECKING:
    from rag.index.embedding import Embedder
    from rag.index.store import Store


def cosine_from_llama(raw: float | None) -> float:
    """ChromaVectorStore reports exp(-distance); with cosine space distance = 1 - cos."""
    raw = raw if raw is not None else 0.0
    return 1.0 + math.log(raw) if raw > 0 else -1.0


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
        from llama_index.core.vector_stores import VectorStoreQuery

        total = self.store.count_chunks()
        if n <= 0 or total == 0:
            return []
        result = self.store.vector_store().query(
            VectorStoreQuery(
                query_embedding=self.vector(query).tolist(), similarity_top_k=min(n, total)
            ),
            where=query.filters.where() if query.filters else None,
        )
        out = []
        for rank, (node, raw) in enumerate(
            zip(result.nodes or [], result.similarities or [], strict=False), start=1
        ):
            meta = dict(node.metadata)
            out.append(
                Candidate(
                    chunk_id=node.node_id,
                    paper_id=str(meta.get("paper_id", "")),
                    dense_rank=rank,
                    cosine=cosine_from_llama(raw),
                    text=node.get_content(),
                    metadata=meta,
                )
            )
        return out

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
