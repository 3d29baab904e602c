"""Retrieval: dense (llama-index over the Chroma store), lexical (BM25) and their fusion.

* ``dense``: the ``k`` chunks nearest the query embedding, through llama-index's
  ``VectorStoreIndex`` over the Chroma collection.
* ``bm25``: the lexical index (:mod:`rag.lexical`).
* ``hybrid`` (default): both, fused. ``fusion="rrf"`` is plain reciprocal rank fusion;
  ``fusion="weighted"`` (default) takes the union of both top-``candidates`` lists, scores every
  candidate exactly on both sides (cosine and BM25), normalises each score over the candidates
  and adds them, BM25's share (``lexical_weight``) tuned on SciFact train claims
  (``bench/retrieval.py --fit``). An optional learned reranker (:mod:`rag.rerank`) rescores them.

Every hit's ``score`` stays the cosine similarity of the passage to the query (the JSON contract),
whatever ordered it; the fused score is in ``hit.metadata["fused_score"]``. Metadata filters
(:class:`rag.store.Filters`) go to Chroma as a ``where`` clause and to the lexical index as the
same rule over its columns.

llama-index is imported lazily (it takes seconds): only the first search pays for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from rag.schema import Hit

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.retrievers import BaseRetriever

    from rag.embedding import Embedder
    from rag.lexical import LexicalIndex
    from rag.rerank import Reranker
    from rag.store import Filters, Store

Mode = Literal["dense", "bm25", "hybrid"]
Fusion = Literal["rrf", "weighted"]

#: The usual RRF constant (Cormack et al., 2009).
RRF_K = 60


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


def cosine_from_llama(raw: float | None) -> float:
    """ChromaVectorStore reports exp(-distance); with cosine space distance = 1 - cos."""
    raw = raw if raw is not None else 0.0
    return 1.0 + math.log(raw) if raw > 0 else -1.0


class DenseRetriever:
    """Semantic search over the chunk collection through llama-index's VectorStoreIndex."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        from llama_index.core import VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self.store = store
        self.embedder = embedder
        self._embed_model = llama_embedding(embedder)
        self._vector_store = ChromaVectorStore(chroma_collection=store.collection)
        self._index = VectorStoreIndex.from_vector_store(
            self._vector_store, embed_model=self._embed_model
        )
        self._retrievers: dict[int, BaseRetriever] = {}

    def _retriever(self, k: int) -> BaseRetriever:
        if k not in self._retrievers:
            self._retrievers[k] = self._index.as_retriever(similarity_top_k=k)
        return self._retrievers[k]

    def embed_query(self, query: str) -> np.ndarray:
        return np.asarray(self.embedder.embed([query])[0], dtype=np.float32)

    def retrieve(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        """The ``k`` chunks nearest to ``query``; ``score`` is the cosine similarity."""
        total = self.store.count_chunks()
        if k <= 0 or total == 0:
            return []
        k = min(k, total)
        if filters:
            from llama_index.core.vector_stores import VectorStoreQuery

            result = self._vector_store.query(
                VectorStoreQuery(
                    query_embedding=self.embed_query(query).tolist(), similarity_top_k=k
                ),
                where=filters.where(),
            )
            scored: list[tuple[Any, float | None]] = list(
                zip(result.nodes or [], result.similarities or [], strict=False)
            )
        else:
            scored = [(s.node, s.score) for s in self._retriever(k).retrieve(query)]
        hits = []
        for node, raw in scored:
            meta = dict(node.metadata)
            hits.append(
                Hit(
                    chunk_id=node.node_id,
                    paper_id=str(meta.get("paper_id", "")),
                    title=str(meta.get("title", "")),
                    text=node.get_content(),
                    score=round(cosine_from_llama(raw), 6),
                    metadata=meta,
                )
            )
        return hits

    def search(
        self, vector: np.ndarray, n: int, filters: Filters | None = None, total: int | None = None
    ) -> list[tuple[str, float]]:
        """Ids and cosines of the ``n`` chunks nearest ``vector`` (no documents fetched)."""
        total = self.store.count_chunks() if total is None else total
        if n <= 0 or total == 0:
            return []
        got = self.store.collection.query(
            query_embeddings=[vector.tolist()],
            n_results=min(n, total),
            where=filters.where() if filters else None,
            include=["distances"],  # type: ignore[list-item]
        )
        ids = got["ids"][0] if got["ids"] else []
        dists = (got.get("distances") or [[]])[0]
        return [(str(i), 1.0 - float(d)) for i, d in zip(ids, dists, strict=False)]


@dataclass
class Candidate:
    """One chunk proposed by either retriever, with what each said about it."""

    chunk_id: str
    paper_id: str
    row: int | None = None  # row in the lexical index
    dense_rank: int | None = None  # 1-based rank in the dense list, None if not in it
    cosine: float | None = None  # exact cosine to the query (None: not known yet)
    bm25_rank: int | None = None  # 1-based rank in the BM25 list, None if not in it
    bm25: float = 0.0  # exact BM25 score of the chunk (0 when it shares no term)
    fused: float = 0.0


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


class HybridRetriever:
    """Dense and BM25 candidates, fused (and optionally reranked); filters on both sides."""

    def __init__(
        self,
        dense: DenseRetriever,
        lexical: LexicalIndex | None,
        *,
        mode: Mode = "hybrid",
        fusion: Fusion = "weighted",
        lexical_weight: float = 0.45,
        rrf_k: int = RRF_K,
        candidates: int = 100,
        reranker: Reranker | None = None,
    ) -> None:
        if mode != "dense" and lexical is None:
            raise ValueError(f"retrieval mode {mode!r} needs a lexical index")
        self.dense = dense
        self.lexical = lexical
        self.store = dense.store
        self.mode: Mode = mode
        self.fusion: Fusion = fusion
        self.lexical_weight = lexical_weight
        self.rrf_k = rrf_k
        self.candidates = candidates
        self.reranker = reranker

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
        if self.mode == "dense" or self.lexical is None:
            return self._dense_capped(query, k, filters, per_paper)
        total = self.store.count_chunks()
        if total == 0:
            return []
        if total != len(self.lexical):  # another process wrote to the store
            self.lexical.sync(self.store)
        vector = self.dense.embed_query(query)
        cands = self.candidates_for(query, vector, max(self.candidates, k), filters, total)
        ranked = self.rank(query, cands, vector)
        if per_paper is not None:
            ranked = cap_per_paper(ranked, len(ranked), per_paper)
        return self.hydrate(ranked, k, vector)

    def _dense_capped(
        self, query: str, k: int, filters: Filters | None, per_paper: int | None
    ) -> list[Hit]:
        if per_paper is None:
            return self.dense.retrieve(query, k, filters)
        n = k * 3
        while True:
            hits = self.dense.retrieve(query, n, filters)
            capped = cap_per_paper(hits, k, per_paper)
            if len(capped) == k or len(hits) < n:
                return capped
            n *= 4

    def candidates_for(
        self,
        query: str,
        vector: np.ndarray,
        n: int,
        filters: Filters | None = None,
        total: int | None = None,
    ) -> list[Candidate]:
        """The union of both retrievers' top ``n`` (BM25 only in ``bm25`` mode), each with its
        rank in either list and its exact BM25 score."""
        lex = self.lexical
        assert lex is not None
        by_id: dict[str, Candidate] = {}
        if self.mode == "hybrid":
            for rank, (cid, cos) in enumerate(
                self.dense.search(vector, n, filters, total=total), start=1
            ):
                row = lex.row(cid)
                pid = str(lex.paper_ids[row]) if row is not None else cid.rsplit("#", 1)[0]
                by_id[cid] = Candidate(cid, pid, row=row, dense_rank=rank, cosine=cos)
        qids = lex.query_ids(query)
        if qids and len(lex):
            from rag.lexical import top_rows

            body = lex.scores(qids)
            for rank, (row, _) in enumerate(top_rows(body, n, lex.mask(filters)), start=1):
                cid = lex.ids[row]
                cand = by_id.get(cid)
                if cand is None:
                    cand = by_id[cid] = Candidate(cid, str(lex.paper_ids[row]), row=row)
                cand.bm25_rank = rank
            for cand in by_id.values():
                if cand.row is not None:
                    cand.bm25 = float(body[cand.row])
        return list(by_id.values())

    def rank(self, query: str, cands: list[Candidate], vector: np.ndarray) -> list[Candidate]:
        """Candidates by fused (or reranked) score, best first; ties broken by chunk id."""
        if self.mode == "bm25":
            for c in cands:
                c.fused = c.bm25
        elif self.fusion == "rrf":
            fused = rrf_scores(
                [
                    [c.chunk_id for c in sorted(cands, key=_dense_key) if c.dense_rank],
                    [c.chunk_id for c in sorted(cands, key=_bm25_key) if c.bm25_rank],
                ],
                k=self.rrf_k,
            )
            for c in cands:
                c.fused = fused.get(c.chunk_id, 0.0)
        else:
            self.fill_cosines(cands, vector)
            cands = [c for c in cands if c.cosine is not None]  # None: gone from the store
            fused = weighted_scores(
                {c.chunk_id: c.cosine for c in cands if c.cosine is not None},
                {c.chunk_id: c.bm25 for c in cands},
                self.lexical_weight,
            )
            for c in cands:
                c.fused = fused.get(c.chunk_id, 0.0)
        if self.reranker is not None and self.mode == "hybrid":
            self.fill_cosines(cands, vector)
            self.reranker.rescore(query, cands, self)
        return sorted(cands, key=lambda c: (-c.fused, c.chunk_id))

    def fill_cosines(self, cands: Sequence[Candidate], vector: np.ndarray) -> None:
        """Exact cosines for candidates that only BM25 proposed (one read of their vectors)."""
        missing = [c for c in cands if c.cosine is None]
        if not missing:
            return
        got = self.store.collection.get(
            ids=[c.chunk_id for c in missing],
            include=["embeddings"],  # type: ignore[list-item]
        )
        embs = got.get("embeddings")
        vectors = {cid: embs[i] for i, cid in enumerate(got["ids"])} if embs is not None else {}
        for c in missing:
            emb = vectors.get(c.chunk_id)
            c.cosine = _cosine(vector, emb) if emb is not None else None

    def hydrate(self, ranked: list[Candidate], k: int, vector: np.ndarray) -> list[Hit]:
        """Hits (text, metadata, cosine) for the first ``k`` candidates still in the store."""
        top = ranked[: k + 5]  # a few spare in case some were removed since the index synced
        if not top:
            return []
        self.fill_cosines(top, vector)
        got = self.store.collection.get(
            ids=[c.chunk_id for c in top], include=["documents", "metadatas"]
        )
        docs = got.get("documents") or []
        metas = got.get("metadatas") or []
        found: dict[str, tuple[str, dict[str, object]]] = {
            cid: (docs[i] or "", dict(metas[i] or {})) for i, cid in enumerate(got["ids"])
        }
        hits = []
        for c in top:
            if c.chunk_id not in found:
                continue
            text, meta = found[c.chunk_id]
            meta = dict(meta)
            meta["fused_score"] = round(c.fused, 6)
            meta["bm25_score"] = round(c.bm25, 4)
            hits.append(
                Hit(
                    chunk_id=c.chunk_id,
                    paper_id=str(meta.get("paper_id", c.paper_id)),
                    title=str(meta.get("title", "")),
                    text=text,
                    score=round(c.cosine if c.cosine is not None else 0.0, 6),
                    metadata=meta,
                )
            )
            if len(hits) == k:
                break
        return hits


def _dense_key(c: Candidate) -> tuple[int, str]:
    return (c.dense_rank or 10**9, c.chunk_id)


def _bm25_key(c: Candidate) -> tuple[int, str]:
    return (c.bm25_rank or 10**9, c.chunk_id)


def _cosine(a: np.ndarray, b: Any) -> float:
    v = np.asarray(b, dtype=np.float32)
    denom = float(np.linalg.norm(a) * np.linalg.norm(v))
    return float(a @ v) / denom if denom else 0.0


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
