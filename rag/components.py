"""Default components of a :class:`rag.Library`, each built once from settings (the library
calls these on first use; anything passed to ``Library(...)`` replaces them)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rag.index.locks import write_lock
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.answering.backend import Backend
    from rag.answering.llm import LLM
    from rag.answering.verify import Verifier
    from rag.index.embedding import Embedder
    from rag.index.lexical import LexicalIndex
    from rag.index.store import Store
    from rag.pipeline import Pipeline
    from rag.retrieval.base import Retriever


def build_store(settings: Settings, home: Path, embedder: Embedder) -> Store:
    from rag.index.store import Store

    # opening may create the store: one process at a time
    with write_lock(home, settings.chroma_url):
        return Store(
            home,
            chroma_url=settings.chroma_url,
            collection=settings.collection,
            embedder_name=embedder.name,
            dim=embedder.dim,
            timeout=settings.chroma_timeout,
        )


def build_lexical(settings: Settings, home: Path, store: Store) -> LexicalIndex:
    from rag.index.lexical import LexicalIndex, index_key

    key = index_key(settings.collection, settings.chroma_url)
    index = LexicalIndex(home / "lexical" / key)
    # local: kept current by every writer (ids suffice); server: other clients' writes too
    index.sync(store, full=bool(settings.chroma_url))
    return index


def build_verifier(
    settings: Settings, embedder: Embedder, lexicon: LexicalIndex | None
) -> Verifier:
    from rag.answering.answerable import AnswerabilityScorer
    from rag.answering.support import SupportScorer
    from rag.answering.verify import Verifier

    s = settings
    near_miss = AnswerabilityScorer(embedder) if s.check_question else None
    return Verifier(SupportScorer(embedder), s.unsupported, lexicon, s.check_question, near_miss)


def build_pipeline(
    settings: Settings,
    retriever: Retriever,
    backend: Backend,
    verifier: Verifier,
    llm_client: LLM | None,
) -> Pipeline:
    from rag.answering.summary import summary_backend
    from rag.pipeline import Pipeline

    return Pipeline(
        retriever,
        backend,
        verifier,
        top_k=settings.top_k,
        max_per_paper=settings.max_per_paper,
        summary_backend=summary_backend(backend),
        condenser=llm_client,
    )
