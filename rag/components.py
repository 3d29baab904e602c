"""Default components of a :class:`rag.Library`, each built once from settings (the library
calls these on first use; anything passed to ``Library(...)`` replaces them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rag.index.locks import is_chroma_error, try_write_lock, with_fresh_view, write_lock
from rag.schema import Stats
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
    """The library's store: for a local library with a current mirror (:mod:`rag.index.mirror`)
    a :class:`~rag.index.mirrored.MirroredStore` that opens Chroma only when a read needs it;
    else the Chroma store (and a small local library without a mirror gets one, if no write is
    under way)."""

    def open_store() -> Store:
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

    if settings.chroma_url:
        return open_store()
    from rag.index import mirror

    name, dim = embedder.name, embedder.dim
    found = mirror.load(home, settings.collection, name, dim)
    if found is not None:
        from rag.index.mirrored import MirroredStore

        return cast(
            "Store",
            MirroredStore(
                found, home, collection=settings.collection, embedder_name=name, dim=dim,
                open_store=open_store,
            ),
        )  # fmt: skip
    store = open_store()
    with try_write_lock(home) as held:
        if held:

            def refresh() -> None:
                if 0 < store.count_chunks() <= mirror.READER_REFRESH_MAX:
                    mirror.write(home, settings.collection, store, name, dim)

            try:  # a view taken before another process wrote is reopened (and retried)
                with_fresh_view(store, refresh)
            except Exception as e:  # still failing inside Chroma: the read reports it, not this
                if not is_chroma_error(e):
                    raise
    return store


def quick_stats(settings: Settings, home: Path, embedder_name: str) -> Stats | None:
    """A local library's counts from its manifest (:mod:`rag.index.manifest`) without opening
    Chroma, or None when there is no current one (or the library is on a server)."""
    from rag.index import manifest

    if settings.chroma_url:
        return None
    counts = manifest.read(home, settings.collection, embedder_name)
    if counts is None:
        return None
    location = str(home / "chroma")
    return Stats(**counts, embedder=embedder_name, location=location, home=str(home))


def store_stats(store: Store, embedder_name: str, home: Path) -> Stats:
    """What the store holds, counted by Chroma."""
    papers, chunks = store.count_papers(), store.count_chunks()
    return Stats(
        papers=papers,
        chunks=chunks,
        embedder=embedder_name,
        location=store.location,
        home=str(home),
    )


def stats(
    settings: Settings,
    home: Path,
    embedder_name: str,
    store: Callable[[], Store],
    read: Callable[[Callable[[], Stats]], Stats],
    own: bool,
) -> Stats:
    """:meth:`rag.Library.stats`: from the manifest when it is current (Chroma not even
    imported), else counted in the store (``read`` retries on a stale view), and then recorded
    if the store is the library's ``own`` and no write is under way (this never waits)."""
    if own and (quick := quick_stats(settings, home, embedder_name)) is not None:
        return quick
    with try_write_lock(home, settings.chroma_url if own else "given") as held:
        counted = read(lambda: store_stats(store(), embedder_name, home))
        if held:
            save_manifest(settings, home, store(), own=True, stats=counted, mirror=False)
    return counted


def save_manifest(
    settings: Settings,
    home: Path,
    store: Store,
    *,
    own: bool,
    stats: Stats | None = None,
    mirror: bool = True,
) -> None:
    """Record the counts of a library's ``own`` local store (``stats``, or counted now) for
    :func:`quick_stats`, and (``mirror``) its chunks for :mod:`rag.index.mirror`; the caller
    holds the write lock."""
    from rag.index import manifest
    from rag.index import mirror as mirror_file

    if own and not settings.chroma_url:
        s = stats or store_stats(store, store.embedder_name, Path(home))
        manifest.write(home, settings.collection, s.embedder, s.papers, s.chunks)
        if mirror:
            mirror_file.write(home, settings.collection, store, s.embedder, store.dim)


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
    store: Store | None = None,
) -> Pipeline:
    """The pipeline; with ``store``, many-paper questions also read their passages' neighbours."""
    from rag.answering.summary import summary_backend
    from rag.pipeline import Pipeline

    def read(ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        assert store is not None
        return with_fresh_view(store, lambda: store.texts(ids))

    return Pipeline(
        retriever,
        backend,
        verifier,
        top_k=settings.top_k,
        max_per_paper=settings.max_per_paper,
        summary_backend=summary_backend(backend),
        condenser=llm_client,
        passages=read if store is not None else None,
    )
