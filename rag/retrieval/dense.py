"""The dense source: nearest chunks by embedding, from the Chroma collection.

Scores are cosine similarities (the collection uses cosine space: cosine = 1 - distance).
Candidates carry ids and cosines only; the hybrid retriever reads the text and metadata of the
few that make the final list. The query
is the one llama-index's ``ChromaVectorStore`` runs (``Store.vector_store()`` still gives that
store), asked directly so that answering a question does not import llama-index.

With a filter, Chroma's ``where`` prefilters its HNSW search, which costs hundreds of ms on a
broad filter (a year range: 437 ms at 10k chunks, against 9 ms for an unfiltered query of 600).
So when the lexical index is at hand (hybrid retrieval; it holds every chunk's year, source and
paper id, :meth:`rag.index.lexical.LexicalIndex.mask`), a filter that passes at least
:data:`MIN_SHARE` of the chunks is applied after an unfiltered query for enough more candidates;
when fewer than ``n`` of those pass, the prefiltered query runs as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.retrieval.base import Candidate, Query

if TYPE_CHECKING:
    from rag.index.embedding import Embedder
    from rag.index.lexical import LexicalIndex
    from rag.index.store import Store

#: Post-filter only filters passing at least this share of the chunks (narrower ones prefilter).
MIN_SHARE = 0.05
#: Most candidates an unfiltered query reads for post-filtering.
POST_FILTER_MAX = 2000


def paper_of(chunk_id: str) -> str:
    """The paper a chunk id (``PAPER#INDEX``, :func:`rag.index.chunking.chunk_paper`) belongs to."""
    return chunk_id.rsplit("#", 1)[0]


def cosine(a: np.ndarray, b: Any) -> float:
    v = np.asarray(b, dtype=np.float32)
    denom = float(np.linalg.norm(a) * np.linalg.norm(v))
    return float(a @ v) / denom if denom else 0.0


class DenseSource:
    name = "dense"

    def __init__(self, store: Store, embedder: Embedder, rows: LexicalIndex | None = None) -> None:
        self.store = store
        self.embedder = embedder
        #: The lexical index, kept in sync by the hybrid retriever (which holds its lock while
        #: sources propose): its columns post-filter broad filters. None: always prefilter.
        self.rows = rows

    def vector(self, query: Query) -> np.ndarray:
        if query.vector is None:
            query.vector = np.asarray(self.embedder.embed([query.text])[0], dtype=np.float32)
        return query.vector

    def propose(self, query: Query, n: int) -> list[Candidate]:
        if n <= 0:
            return []  # (Chroma returns what it has when asked for more than it holds)
        vector = self.vector(query).tolist()
        nearest = self._post_filtered(query, vector, n) if query.filters else None
        if nearest is None:
            where = query.filters.where() if query.filters else None
            nearest = self.store.nearest(vector, n, where)
        # text and metadata are read later, for the candidates that make the final k
        return [
            Candidate(chunk_id=cid, paper_id=paper_of(cid), dense_rank=rank, cosine=cos)
            for rank, (cid, cos) in enumerate(nearest, start=1)
        ]

    def _post_filtered(
        self, query: Query, vector: list[float], n: int
    ) -> list[tuple[str, float]] | None:
        """The ``n`` nearest chunks passing ``query.filters``, from an unfiltered query and the
        lexical index's columns; None when the filter is too narrow for that or when too few of
        the candidates pass (the caller then prefilters)."""
        index = self.rows
        if index is None or not len(index):
            return None
        mask = index.mask(query.filters)
        if mask is None:
            return None
        passing = int(mask.sum())
        if passing < MIN_SHARE * len(mask):
            return None
        want = min(len(mask), n * len(mask) * 13 // (10 * max(passing, 1)) + 10)
        if want > POST_FILTER_MAX:
            return None
        out = []
        for cid, cos in self.store.nearest(vector, want):
            row = index.row(cid)
            if row is not None and mask[row]:
                out.append((cid, cos))
                if len(out) == n:
                    return out
        return out if want >= len(mask) else None

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
