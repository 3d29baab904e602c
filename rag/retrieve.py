"""Retrieval: a llama-index retriever over the Chroma store.

llama-index is imported lazily (it takes seconds): only the first search pays for it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rag.schema import Hit

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.retrievers import BaseRetriever

    from rag.embedding import Embedder
    from rag.store import Store


def llama_embedding(embedder: Embedder) -> BaseEmbedding:
    """Wrap our embedder as a llama-index embedding model."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class _Wrapped(BaseEmbedding):
        _embedder: Any = PrivateAttr()

        def __init__(self, inner: Embedder) -> None:
            super().__init__(model_name=inner.name, embed_batch_size=64)
            self._embedder = inner

        def _get_query_embedding(self, query: str) -> list[float]:
            return [float(x) for x in self._embedder.embed([query])[0]]

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._get_query_embedding(text)

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return [[float(x) for x in row] for row in self._embedder.embed(texts)]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    return _Wrapped(embedder)


class DenseRetriever:
    """Semantic search over the chunk collection through llama-index's VectorStoreIndex."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        from llama_index.core import VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self.store = store
        self.embedder = embedder
        self._embed_model = llama_embedding(embedder)
        vector_store = ChromaVectorStore(chroma_collection=store.collection)
        self._index = VectorStoreIndex.from_vector_store(
            vector_store, embed_model=self._embed_model
        )
        self._retrievers: dict[int, BaseRetriever] = {}

    def _retriever(self, k: int) -> BaseRetriever:
        if k not in self._retrievers:
            self._retrievers[k] = self._index.as_retriever(similarity_top_k=k)
        return self._retrievers[k]

    def retrieve(self, query: str, k: int) -> list[Hit]:
        """The ``k`` chunks nearest to ``query``; ``score`` is the cosine similarity."""
        if k <= 0 or self.store.count_chunks() == 0:
            return []
        k = min(k, self.store.count_chunks())
        hits = []
        for scored in self._retriever(k).retrieve(query):
            node = scored.node
            meta = dict(node.metadata)
            # ChromaVectorStore reports exp(-distance); with cosine space distance = 1 - cos.
            raw = scored.score if scored.score is not None else 0.0
            cosine = 1.0 + math.log(raw) if raw > 0 else -1.0
            hits.append(
                Hit(
                    chunk_id=node.node_id,
                    paper_id=str(meta.get("paper_id", "")),
                    title=str(meta.get("title", "")),
                    text=node.get_content(),
                    score=round(cosine, 6),
                    metadata=meta,
                )
            )
        return hits


def best_per_paper(hits: list[Hit], k: int) -> list[Hit]:
    """Keep each paper's best chunk, in rank order, up to ``k`` papers."""
    seen: set[str] = set()
    out = []
    for hit in hits:
        if hit.paper_id not in seen:
            seen.add(hit.paper_id)
            out.append(hit)
            if len(out) == k:
                break
    return out
