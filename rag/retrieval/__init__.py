"""Stage 3, retrieval: candidate sources (dense, BM25) -> fusion -> per-paper cap -> reranker.

Each stage has one interface (:mod:`rag.retrieval.base`); :func:`build_retriever` assembles them
from settings, through the registries :data:`RETRIEVERS` (by mode),
:data:`rag.retrieval.fusion.FUSIONS` and :data:`rag.retrieval.rerank.RERANKERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rag.errors import ConfigError

if TYPE_CHECKING:
    from rag.index.embedding import Embedder
    from rag.index.lexical import LexicalIndex
    from rag.index.store import Store
    from rag.retrieval.base import Fusion
    from rag.retrieval.hybrid import HybridRetriever
    from rag.settings import Settings


def _fusion(settings: Settings) -> Fusion:
    from rag.retrieval.fusion import FUSIONS, SingleFusion

    if settings.retrieval == "dense":
        return SingleFusion("dense")
    if settings.retrieval == "bm25":
        return SingleFusion("bm25")
    return FUSIONS[settings.fusion](lexical_weight=settings.lexical_weight)  # type: ignore[return-value]


def _hybrid(
    settings: Settings, store: Store, embedder: Embedder, lexical: LexicalIndex | None
) -> HybridRetriever:
    from rag.retrieval.dense import DenseSource
    from rag.retrieval.hybrid import HybridRetriever
    from rag.retrieval.lexical import LexicalSource
    from rag.retrieval.rerank import RERANKERS

    reranker = None
    if settings.rerank and settings.retrieval == "hybrid":
        make = RERANKERS.get(settings.reranker)
        if make is None:
            known = ", ".join(RERANKERS)
            raise ConfigError(f"unknown reranker {settings.reranker!r} (choose from {known})")
        reranker = make(lexical, settings.candidates)
    return HybridRetriever(
        # the lexical index post-filters the dense query when hybrid retrieval keeps it in sync
        DenseSource(store, embedder, lexical if settings.retrieval == "hybrid" else None),
        LexicalSource(lexical, store) if lexical is not None else None,
        mode=settings.retrieval,
        fusion=_fusion(settings),
        candidates=settings.candidates,
        reranker=reranker,
    )


#: Retrievers by the ``retrieval`` setting: all three share the engine, with other sources.
RETRIEVERS: dict[str, Callable[..., HybridRetriever]] = {
    "dense": _hybrid,
    "bm25": _hybrid,
    "hybrid": _hybrid,
}


def build_retriever(
    settings: Settings, store: Store, embedder: Embedder, lexical: LexicalIndex | None
) -> HybridRetriever:
    return RETRIEVERS[settings.retrieval](settings, store, embedder, lexical)
