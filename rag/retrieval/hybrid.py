"""The retrieval engine: candidate sources -> fusion -> per-paper cap -> passages -> reranker.

* ``dense``: the chunks nearest the query embedding (:mod:`rag.retrieval.dense`, through
  llama-index's ``ChromaVectorStore``);
* ``bm25``: the lexical index (:mod:`rag.retrieval.lexical`);
* ``hybrid`` (default): both, fused (:mod:`rag.retrieval.fusion`), optionally reranked
  (:mod:`rag.retrieval.rerank`).

Every hit's ``score`` stays the cosine similarity of the passage to the query (the JSON contract),
whatever ordered it; the fused score is in ``hit.metadata["fused_score"]``. Metadata filters go to
Chroma as a ``where`` clause and to the lexical index as the same rule over its columns.

:class:`HybridRetriever` is plain Python; :meth:`HybridRetriever.as_llama` wraps it as a
llama-index ``BaseRetriever`` (:mod:`rag.retrieval.llama`), which is what the answering pipeline
calls. It holds no per-query state: one instance serves many threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from rag.retrieval.base import Candidate, CandidateSource, Fusion, Query, Reranker
from rag.retrieval.dense import DenseSource
from rag.retrieval.diversity import cap_per_paper
from rag.retrieval.lexical import LexicalSource
from rag.schema import Hit

if TYPE_CHECKING:
    from rag.index.filters import Filters
    from rag.retrieval.llama import PaperRetriever

Mode = Literal["dense", "bm25", "hybrid"]

#: Candidates read for a reranker (it sees their text), when one is configured.
RERANK_DEPTH = 30


class HybridRetriever:
    """Candidate sources, fused, capped per paper, read, optionally reranked."""

    def __init__(
        self,
        dense: DenseSource,
        lexical: LexicalSource | None,
        *,
        mode: Mode = "hybrid",
        fusion: Fusion,
        candidates: int = 100,
        reranker: Reranker | None = None,
        rerank_depth: int = RERANK_DEPTH,
    ) -> None:
        if mode != "dense" and lexical is None:
            raise ValueError(f"retrieval mode {mode!r} needs a lexical index")
        self.dense = dense
        self.lexical = lexical
        self.store = dense.store
        self.mode: Mode = mode
        self.fusion = fusion
        self.candidates = candidates
        self.reranker = reranker
        self.rerank_depth = rerank_depth

    @property
    def sources(self) -> list[CandidateSource]:
        if self.mode == "dense" or self.lexical is None:
            return [self.dense]
        return [self.lexical] if self.mode == "bm25" else [self.dense, self.lexical]

    def retrieve(
        self,
        query: str,
        k: int,
        filters: Filters | None = None,
        *,
        per_paper: int | None = None,
    ) -> list[Hit]:
        """The best ``k`` chunks for ``query``, at most ``per_paper`` from one paper if given."""
        if k <= 0:
            return []
        total = self.store.count_chunks()
        if total == 0:
            return []
        q = Query(query, k, filters, per_paper)
        ranked = self.rank(q, total)
        if per_paper is not None:
            ranked = cap_per_paper(ranked, len(ranked), per_paper)
        if self.reranker is None:
            return self.hydrate(q, ranked, k)
        hits = self.hydrate(q, ranked, max(k, self.rerank_depth))
        return self.reranker.rerank(query, hits)[:k]

    def rank(self, q: Query, total: int | None = None) -> list[Candidate]:
        """Every candidate of every source, scored on all of them and fused, best first."""
        total = self.store.count_chunks() if total is None else total
        if self.lexical is not None and self.mode != "dense":
            self.lexical.refresh(total)  # another process may have written to the store
            with self.lexical.index.lock:  # one consistent view of the index for this query
                return self._rank(q)
        return self._rank(q)

    def _rank(self, q: Query) -> list[Candidate]:
        n = max(self.candidates, q.k)
        by_id: dict[str, Candidate] = {}
        for source in self.sources:
            for c in source.propose(q, n):
                have = by_id.get(c.chunk_id)
                if have is None:
                    by_id[c.chunk_id] = c
                else:
                    _merge(have, c)
        cands = list(by_id.values())
        for source in self.sources:
            source.score(q, cands)
        return self.fusion.fuse(cands)

    def hydrate(self, q: Query, ranked: Sequence[Candidate], k: int) -> list[Hit]:
        """Hits (text, metadata, cosine) for the first ``k`` candidates still in the store."""
        top = list(ranked[: k + 5])  # a few spare in case some were removed since the index synced
        if not top:
            return []
        self.dense.score(q, top)
        unread = [c.chunk_id for c in top if c.text is None]
        found = self.store.texts(unread)
        hits = []
        for c in top:
            if c.text is None:
                if c.chunk_id not in found:
                    continue
                c.text, c.metadata = found[c.chunk_id]
            meta = dict(c.metadata)
            meta["fused_score"] = round(c.fused, 6)
            meta["bm25_score"] = round(c.bm25, 4)
            meta["dense_rank"] = c.dense_rank or 0
            meta["bm25_rank"] = c.bm25_rank or 0
            hits.append(
                Hit(
                    chunk_id=c.chunk_id,
                    paper_id=str(meta.get("paper_id", c.paper_id)),
                    title=str(meta.get("title", "")),
                    text=c.text,
                    score=round(c.cosine if c.cosine is not None else 0.0, 6),
                    metadata=meta,
                )
            )
            if len(hits) == k:
                break
        return hits

    def as_llama(
        self, k: int, filters: Filters | None = None, *, per_paper: int | None = None
    ) -> PaperRetriever:
        """This retriever as a llama-index ``BaseRetriever`` returning ``NodeWithScore``\\ s."""
        from rag.retrieval.llama import PaperRetriever

        return PaperRetriever(self, k, filters=filters, per_paper=per_paper)


def _merge(into: Candidate, other: Candidate) -> None:
    """What a second source knows about a candidate the first already proposed."""
    into.dense_rank = into.dense_rank or other.dense_rank
    into.bm25_rank = into.bm25_rank or other.bm25_rank
    into.cosine = into.cosine if into.cosine is not None else other.cosine
    into.row = into.row if into.row is not None else other.row
    if other.bm25_rank is not None:
        into.bm25 = other.bm25
    if into.text is None and other.text is not None:
        into.text, into.metadata = other.text, other.metadata
