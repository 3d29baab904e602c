"""The Python API: one :class:`Library` per data directory (or Chroma server).

>>> from rag import Library
>>> lib = Library(home="/tmp/my-library")        # explicit arguments beat RAG_* variables
>>> lib.ingest(["papers.jsonl"])                 # doctest: +SKIP
>>> lib.ask("What does Block-LoRA share?").answer  # doctest: +SKIP

The CLI is a thin layer over this class.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from rag.errors import ConfigError
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.answer import Backend
    from rag.chat import ChatSession
    from rag.embedding import Embedder
    from rag.lexical import LexicalIndex
    from rag.retrieve import HybridRetriever
    from rag.schema import Answer, Hit
    from rag.store import Filters, Store
    from rag.support import SupportScorer


class IngestReport(BaseModel):
    files: int
    records: int
    duplicates: int
    papers_added: int
    papers_updated: int
    papers_unchanged: int
    chunks_written: int
    skipped: list[str]
    seconds: float


class Stats(BaseModel):
    papers: int
    chunks: int
    embedder: str
    location: str
    home: str


class Library:
    """A library of papers: ingest, search, ask."""

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        overrides = {k: v for k, v in overrides.items() if v is not None}
        try:
            settings = (
                Settings(**overrides)
                if settings is None
                else (Settings(**{**settings.model_dump(), **overrides}) if overrides else settings)
            )
        except ValidationError as e:
            first = e.errors()[0]
            name = ".".join(str(x) for x in first["loc"])
            raise ConfigError(
                f"invalid setting {name} (RAG_{name.upper()}): {first['msg']}"
            ) from None
        self.settings = settings
        self.home: Path = settings.resolved_home()

    # --- components, built on first use -----------------------------------------------------

    @cached_property
    def embedder(self) -> Embedder:
        from rag.embedding import make_embedder

        return make_embedder(self.settings)

    @cached_property
    def store(self) -> Store:
        from rag.store import Store

        return Store(
            self.home,
            chroma_url=self.settings.chroma_url,
            collection=self.settings.collection,
            embedder_name=self.embedder.name,
            dim=self.embedder.dim,
        )

    @cached_property
    def lexical(self) -> LexicalIndex:
        """The BM25 index beside the store (``HOME/lexical/...``), synced with it on open."""
        from rag.lexical import LexicalIndex, index_key

        key = index_key(self.settings.collection, self.settings.chroma_url)
        index = LexicalIndex(self.home / "lexical" / key)
        index.sync(self.store)
        return index

    @cached_property
    def retriever(self) -> HybridRetriever:
        """Dense, BM25 or hybrid retrieval, per ``settings.retrieval`` (see rag/retrieve.py)."""
        from rag.retrieve import DenseRetriever, HybridRetriever

        s = self.settings
        reranker = None
        if s.rerank and s.retrieval == "hybrid":
            from rag.rerank import default_reranker

            reranker = default_reranker()
        return HybridRetriever(
            DenseRetriever(self.store, self.embedder),
            self.lexical if s.retrieval != "dense" else None,
            mode=s.retrieval,
            fusion=s.fusion,
            lexical_weight=s.lexical_weight,
            candidates=s.candidates,
            reranker=reranker,
        )

    def _sync_lexical(self) -> None:
        """Keep the lexical index in step with the store after a write (if it is in use)."""
        if "lexical" in self.__dict__:
            self.lexical.sync(self.store)
        elif self.settings.retrieval != "dense":
            self.lexical  # noqa: B018 (opening syncs it)

    @cached_property
    def backend(self) -> Backend:
        """The answer backend named by ``settings.llm`` (extractive unless an LLM is chosen)."""
        from rag.answer import ExtractiveBackend, LLMBackend
        from rag.llm import make_llm

        llm = make_llm(self.settings)
        if llm is None:
            return ExtractiveBackend(
                self.embedder,
                max_sentences=self.settings.answer_sentences,
                min_score=self.settings.min_answer_score,
            )
        return LLMBackend(
            llm,
            context_tokens=self.settings.context_tokens,
            max_answer_tokens=self.settings.max_answer_tokens,
            structured=self.settings.structured_output,
        )

    @cached_property
    def scorer(self) -> SupportScorer:
        """The offline support check every answer sentence passes before it is shown."""
        from rag.support import SupportScorer

        return SupportScorer(self.embedder)

    # --- writing ------------------------------------------------------------------------------

    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        skip_errors: bool = False,
        progress: bool | None = None,
    ) -> IngestReport:
        """Parse, chunk, embed and store papers. All input is validated before anything is
        written: a bad record raises :class:`~rag.errors.InputError` and the store is untouched
        (unless ``skip_errors``, which skips and reports bad records)."""
        from rag.chunking import chunk_paper, embed_text
        from rag.ingest import content_hash, iter_input_files, parse_paths

        started = time.perf_counter()
        paths = list(paths)
        files = iter_input_files(paths)
        parsed = parse_paths(files, skip_errors=skip_errors)
        digests = {p.paper_id: content_hash(p) for p in parsed.papers}
        existing = self.store.paper_hashes(list(digests))
        todo = [p for p in parsed.papers if existing.get(p.paper_id) != digests[p.paper_id]]
        updated = [p.paper_id for p in todo if p.paper_id in existing]
        chunks = [c for p in todo for c in chunk_paper(p, self.settings.chunk_tokens)]
        texts = [embed_text(c.title, c.text) for c in chunks]
        vectors = self._embed_with_progress(texts, progress, desc="Embedding chunks")
        if chunks:
            self.store.replace_papers(todo, chunks, vectors, digests, replaced=updated)
            self._sync_lexical()
        return IngestReport(
            files=len(files),
            records=parsed.records,
            duplicates=parsed.duplicates,
            papers_added=len(todo) - len(updated),
            papers_updated=len(updated),
            papers_unchanged=len(parsed.papers) - len(todo),
            chunks_written=len(chunks),
            skipped=parsed.skipped,
            seconds=round(time.perf_counter() - started, 3),
        )

    def _embed_with_progress(
        self, texts: Sequence[str], progress: bool | None, *, desc: str
    ) -> Any:
        import numpy as np
        from tqdm import tqdm

        batch = 64
        out = []
        with tqdm(
            total=len(texts),
            desc=desc,
            unit="chunk",
            file=sys.stderr,
            disable=progress is False if progress is not None else None,
            leave=False,
        ) as bar:
            for i in range(0, len(texts), batch):
                out.append(self.embedder.embed(texts[i : i + batch]))
                bar.update(len(texts[i : i + batch]))
        if not out:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.concatenate(out)

    def ensure_seeded(self, progress: bool | None = None) -> IngestReport | None:
        """Fill an empty library from the bundled corpus (when the ``seed`` setting allows)."""
        if not self.settings.seed or self.store.count_chunks() > 0:
            return None
        from rag.ingest import bundled_seed_dir

        if progress is not False:
            print(
                f"Empty library at {self.store.location}: adding the bundled papers...",
                file=sys.stderr,
            )
        return self.ingest([bundled_seed_dir()], progress=progress)

    def remove(self, paper_ids: Sequence[str]) -> int:
        """Remove papers by id; returns the number of chunks removed."""
        removed = self.store.delete_papers(list(paper_ids))
        if removed:
            self._sync_lexical()
        return removed

    # --- reading ------------------------------------------------------------------------------

    def filters(
        self,
        *,
        year: str | int | None = None,
        source: str | Sequence[str] | None = None,
        paper: str | Sequence[str] | None = None,
    ) -> Filters | None:
        """Validated metadata filters (None without any). ``year``: ``2023``, ``"2023..2024"``,
        ``"2023.."`` or ``"..2024"``; ``source``: file name(s) papers came from; ``paper``: paper
        id(s). A malformed value, or a source or paper id the library does not hold, raises
        :class:`~rag.errors.InputError`."""
        from rag.store import Filters

        filters = Filters.make(year=year, source=source, paper=paper)
        if filters is not None:
            self.ensure_seeded()
            self._check_known(filters)
        return filters

    def _check_known(self, filters: Filters) -> None:
        from rag.errors import InputError
        from rag.store import where_in

        for field, values, what in (
            ("source", filters.sources, "source"),
            ("paper_id", filters.paper_ids, "paper id"),
        ):
            if not values:
                continue
            got = self.store.collection.get(
                where={"$and": [where_in(field, values), {"chunk_index": 0}]},
                include=["metadatas"],
            )
            found = {str(m.get(field)) for m in got["metadatas"] or []}
            missing = [v for v in values if v not in found]
            if missing:
                hint = ""
                if field == "source":
                    known = sorted(self._known_sources())
                    shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
                    hint = f" (sources: {shown})" if known else " (the library is empty)"
                raise InputError(f"no paper in the library has {what} {missing[0]!r}{hint}")

    def _known_sources(self) -> set[str]:
        if "lexical" in self.__dict__ or self.settings.retrieval != "dense":
            return self.lexical.known_sources()
        got = self.store.collection.get(where={"chunk_index": 0}, include=["metadatas"])
        return {str(m.get("source", "")) for m in got["metadatas"] or []}

    def retrieve(
        self,
        query: str,
        k: int | None = None,
        *,
        year: str | int | None = None,
        source: str | Sequence[str] | None = None,
        paper: str | Sequence[str] | None = None,
        filters: Filters | None = None,
        max_per_paper: int | None = None,
    ) -> list[Hit]:
        """The best ``k`` chunks for ``query`` (several may come from one paper, at most
        ``max_per_paper`` if given), optionally only from papers passing the filters (see
        :meth:`filters`)."""
        self.ensure_seeded()
        if filters is None:
            filters = self.filters(year=year, source=source, paper=paper)
        return self.retriever.retrieve(
            query, k or self.settings.top_k, filters, per_paper=max_per_paper
        )

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        year: str | int | None = None,
        source: str | Sequence[str] | None = None,
        paper: str | Sequence[str] | None = None,
        filters: Filters | None = None,
    ) -> list[Hit]:
        """The best ``k`` papers for ``query``, each with its best-matching passage."""
        if filters is None:
            filters = self.filters(year=year, source=source, paper=paper)
        return self.retrieve(query, k or self.settings.top_k, filters=filters, max_per_paper=1)

    def ask(
        self,
        question: str,
        *,
        on_delta: Callable[[str], None] | None = None,
        search_query: str | None = None,
        year: str | int | None = None,
        source: str | Sequence[str] | None = None,
        paper: str | Sequence[str] | None = None,
        filters: Filters | None = None,
    ) -> Answer:
        """Answer from the library's papers, every sentence cited and checked, or refuse.

        ``on_delta`` receives the LLM's text as it streams (LLM backends only); verification runs
        on the finished answer, so what was streamed may lose sentences: see ``answer.dropped``.
        ``search_query`` (default: the question) is what retrieval searches with. ``year``,
        ``source``, ``paper`` (or ``filters``) restrict the papers read (see :meth:`filters`).
        At most ``settings.max_per_paper`` of the ``top_k`` passages come from any one paper.
        """
        t0 = time.perf_counter()
        if filters is None:
            filters = self.filters(year=year, source=source, paper=paper)
        sources = self.retrieve(
            search_query or question,
            self.settings.top_k,
            filters=filters,
            max_per_paper=self.settings.max_per_paper,
        )
        return self._answer(question, sources, t0, on_delta=on_delta)

    def _answer(
        self,
        question: str,
        sources: list[Hit],
        t0: float,
        *,
        on_delta: Callable[[str], None] | None = None,
        backend: Backend | None = None,
        separator: str = " ",
    ) -> Answer:
        """Draft with ``backend`` (default: the library's), verify, time. Shared by ask and
        summarize."""
        from rag.answer import finalize

        backend = backend or self.backend
        t1 = time.perf_counter()
        if hasattr(backend, "on_delta"):
            backend.on_delta = on_delta
        draft = backend.draft(question, sources)
        answer = finalize(
            question,
            draft,
            sources,
            backend.name,
            scorer=self.scorer,
            unsupported=self.settings.unsupported,
            separator=separator,
        )
        t2 = time.perf_counter()
        answer.timings_ms = {
            "retrieve": round((t1 - t0) * 1000, 1),
            "answer": round((t2 - t1) * 1000, 1),
            "total": round((t2 - t0) * 1000, 1),
        }
        return answer

    def summarize(
        self,
        topic: str,
        *,
        max_papers: int = 8,
        on_delta: Callable[[str], None] | None = None,
        year: str | int | None = None,
        source: str | Sequence[str] | None = None,
        paper: str | Sequence[str] | None = None,
        filters: Filters | None = None,
    ) -> Answer:
        """What the papers say about ``topic``: findings grouped by paper, every one cited.
        ``year``, ``source``, ``paper`` (or ``filters``) restrict the papers (see
        :meth:`filters`)."""
        from rag.summary import summarize

        if filters is None:
            filters = self.filters(year=year, source=source, paper=paper)
        return summarize(self, topic, max_papers=max_papers, on_delta=on_delta, filters=filters)

    def chat(self) -> ChatSession:
        """A conversation: follow-ups are rewritten into standalone questions before retrieval."""
        from rag.chat import ChatSession

        return ChatSession(self)

    def stats(self) -> Stats:
        self.ensure_seeded()
        return Stats(
            papers=self.store.count_papers(),
            chunks=self.store.count_chunks(),
            embedder=self.embedder.name,
            location=self.store.location,
            home=str(self.home),
        )
