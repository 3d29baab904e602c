"""The Python API: one :class:`Library` per data directory (or Chroma server).

>>> from rag import Library
>>> lib = Library(home="/tmp/my-library")        # explicit arguments beat RAG_* variables
>>> lib.ingest(["papers.jsonl"])                 # doctest: +SKIP
>>> lib.ask("What does Block-LoRA share?").answer  # doctest: +SKIP

A library owns the stored side (embedder, Chroma store, lexical index) and writes to it
(:meth:`ingest`, :meth:`remove`, :meth:`seed`); the query side is its :attr:`pipeline`
(:class:`rag.pipeline.Pipeline`). Every component is built once, from settings, on first use and
under a lock, or passed in: ``Library(embedder=..., store=..., backend=...)``. Nothing is mutated
per request, so one library serves many threads. The CLI and the servers are thin layers over it.
Reading never fills an empty library: :meth:`seed` does, when called.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import rag.components as components
from rag.components import build_lexical, build_pipeline, build_store, build_verifier
from rag.index.embedders import embedder_name
from rag.index.locks import with_fresh_view, write_lock
from rag.schema import IngestReport, Stats
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.answering.backend import Backend
    from rag.answering.chat import ChatSession
    from rag.answering.llm import LLM
    from rag.answering.verify import Verifier
    from rag.index.embedding import Embedder
    from rag.index.filters import Filters
    from rag.index.lexical import LexicalIndex
    from rag.index.store import Store
    from rag.ingest.lookup import Lookup
    from rag.pipeline import Pipeline
    from rag.retrieval.base import Retriever
    from rag.schema import Answer, Hit, Paper

T = TypeVar("T")

#: Components that may be passed to :class:`Library` instead of built from settings.
COMPONENTS = ("embedder", "store", "lexical", "retriever", "backend", "verifier", "llm_client")


class Library:
    """A library of papers: ingest, search, ask."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        store: Store | None = None,
        lexical: LexicalIndex | None = None,
        retriever: Retriever | None = None,
        backend: Backend | None = None,
        verifier: Verifier | None = None,
        llm_client: LLM | None = None,
        **overrides: Any,
    ) -> None:
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if settings is None:
            settings = Settings(**overrides)
        elif overrides:
            settings = Settings(**{**settings.model_dump(), **overrides})
        self.settings = settings
        self.home: Path = settings.resolved_home()
        self._lock = threading.RLock()
        given = {
            "embedder": embedder, "store": store, "lexical": lexical, "retriever": retriever,
            "backend": backend, "verifier": verifier, "llm_client": llm_client,
        }  # fmt: skip
        self._parts: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        self._own_store = store is None  # ours: its counts are kept in a manifest too
        if llm_client is None and backend is not None:
            self._parts.setdefault("llm_client", None)  # a given backend: no LLM of our own

    # --- components: passed in, or built once from settings ----------------------------------

    def _part(self, name: str) -> Any:
        if name in self._parts:
            return self._parts[name]
        with self._lock:
            if name not in self._parts:
                self._parts[name] = getattr(self, f"_build_{name}")()
            return self._parts[name]

    @property
    def embedder(self) -> Embedder:
        return self._part("embedder")  # type: ignore[no-any-return]

    @property
    def store(self) -> Store:
        return self._part("store")  # type: ignore[no-any-return]

    @property
    def lexical(self) -> LexicalIndex:
        """The BM25 index beside the store (``HOME/lexical/...``), synced with it on open."""
        return self._part("lexical")  # type: ignore[no-any-return]

    @property
    def retriever(self) -> Retriever:
        return self._part("retriever")  # type: ignore[no-any-return]

    @property
    def llm_client(self) -> LLM | None:
        """The LLM the ``llm`` setting names (None for the extractive backend)."""
        return self._part("llm_client")  # type: ignore[no-any-return]

    @property
    def backend(self) -> Backend:
        return self._part("backend")  # type: ignore[no-any-return]

    @property
    def verifier(self) -> Verifier:
        return self._part("verifier")  # type: ignore[no-any-return]

    @property
    def pipeline(self) -> Pipeline:
        """The query side (retrieve -> answer -> verify) over this library."""
        return self._part("pipeline")  # type: ignore[no-any-return]

    def _build_embedder(self) -> Embedder:
        from rag.index.embedders import make_embedder

        return make_embedder(self.settings)

    def _build_store(self) -> Store:
        return build_store(self.settings, self.home, self.embedder)

    def _read(self, read: Callable[[], T]) -> T:
        """``read()``, retried on a reopened local store if its view went stale."""
        return with_fresh_view(self.store, read)

    def _build_lexical(self) -> LexicalIndex:
        return build_lexical(self.settings, self.home, self.store)

    def _build_retriever(self) -> Retriever:
        from rag.retrieval import build_retriever

        lexical = self.lexical if self.settings.retrieval != "dense" else None
        return build_retriever(self.settings, self.store, self.embedder, lexical)

    def _build_llm_client(self) -> LLM | None:
        from rag.answering.llm import make_llm

        return make_llm(self.settings)

    def _build_backend(self) -> Backend:
        from rag.answering.backend import make_backend

        return make_backend(self.settings, self.embedder, self.llm_client)

    def _build_verifier(self) -> Verifier:
        lexicon = self.lexical if self.settings.retrieval != "dense" else None
        return build_verifier(self.settings, self.embedder, lexicon)

    def _build_pipeline(self) -> Pipeline:
        retriever = self.retriever  # ours reads the store: many-paper questions read it too
        return build_pipeline(self.settings, retriever, self.backend, self.verifier,
                              self.llm_client, self._parts.get("store"))  # fmt: skip

    def _sync_lexical(self, papers: Sequence[str] = ()) -> None:
        """Keep the lexical index in step with the store after a write of ``papers``."""
        if self._lexical_in_use():
            self.lexical.sync(self.store, full=False, papers=papers)

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
        (unless ``skip_errors``, which skips and reports bad records). A paper already held
        (same DOI, arXiv id, PMID or title) is merged into the stored one and keeps its id
        (:mod:`rag.index.reconcile`). Then batches of ``ingest_batch`` papers are written, each
        paper all or nothing (a killed ingest, run again, repairs what the kill left)."""
        from rag.index.indexer import Indexer
        from rag.index.reconcile import reconcile
        from rag.ingest import iter_input_files, parse_paths

        started = time.perf_counter()
        files = iter_input_files(list(paths))
        max_bytes = self.settings.max_input_mb * 2**20
        parsed = parse_paths(files, skip_errors=skip_errors, max_bytes=max_bytes)
        indexer = Indexer(
            self.store, self.embedder, chunk_tokens=self.settings.chunk_tokens, progress=progress
        )
        with self._lock, write_lock(self.home, self.settings.chroma_url):  # readers go on
            self.store.repair(keep=[p.paper_id for p in parsed.papers])
            known = reconcile(self.store, parsed.papers)  # papers the library already holds
            # built here: the writer thread calling ``commit`` must not wait for self._lock
            lexical, store = (self.lexical if self._lexical_in_use() else None), self.store

            def commit(papers: Sequence[str]) -> None:
                if lexical is not None:
                    lexical.sync(store, full=False, papers=papers)

            commit([p.paper_id for p in known.papers])  # what a killed run left out of the index
            report = indexer.add(known.papers, batch=self.settings.ingest_batch, on_commit=commit)
            components.save_manifest(self.settings, self.home, self.store, own=self._own_store)
        return report.model_copy(
            update={
                "files": len(files),
                "records": parsed.records,
                "duplicates": parsed.duplicates,
                "merged": parsed.merged + known.merged,
                "merged_into_library": known.merged,
                "title_only": sum(1 for p in known.papers if p.title_only),
                "formats": parsed.formats,
                "skipped": parsed.skipped,
                "warnings": parsed.warnings,
                "seconds": round(time.perf_counter() - started, 3),
            }
        )

    def add(self, identifiers: Sequence[str], *, lookup: Lookup | None = None) -> IngestReport:
        """Papers by identifier (``arxiv:ID``, ``doi:10...``, ``pmid:N``) looked up online and
        ingested; opt-in (``offline`` setting), replies cached (:mod:`rag.ingest.lookup`)."""
        from rag.ingest.lookup import Lookup

        found = (lookup or Lookup(self.settings)).fetch(identifiers)
        report = self.ingest(found.files, progress=False)
        return report.model_copy(update={"fetched": found.fetched, "from_cache": found.cached})

    def _lexical_in_use(self) -> bool:
        return "lexical" in self._parts or self.settings.retrieval != "dense"

    def is_empty(self) -> bool:
        return self.stats().chunks == 0

    def seed(self, progress: bool | None = None) -> IngestReport | None:
        """Fill an empty library from the bundled corpus (when the ``seed`` setting allows).

        Called by ``rag setup`` and by the CLI before it reads an empty library; never by a
        search itself."""
        if not self.settings.seed or not self.is_empty():
            return None
        from rag.ingest import bundled_seed_dir

        if progress is not False:
            print(
                f"Empty library at {self.store.location}: adding the bundled papers...",
                file=sys.stderr,
            )
        return self.ingest([bundled_seed_dir()], progress=progress)

    ensure_seeded = seed  # the name earlier releases used

    def remove(self, paper_ids: Sequence[str] = (), *, source: str | None = None) -> int:
        """Remove papers by id, or every paper from the input file named ``source``; returns
        the number of chunks removed (the lexical index follows)."""
        if source is not None:
            from rag.index.catalog import paper_rows
            from rag.index.filters import where_in

            rows = paper_rows(self.store, where_in("source", [source]))
            paper_ids = [*paper_ids, *(str(m["paper_id"]) for m in rows)]
        with self._lock, write_lock(self.home, self.settings.chroma_url):
            self.store.repair()  # journaled like ingest: a killed remove, run again, finishes
            removed = self.store.delete_papers(list(paper_ids))
            self._sync_lexical()  # also when a killed remove left only the index behind
            components.save_manifest(self.settings, self.home, self.store, own=self._own_store)
        return removed

    # --- reading ------------------------------------------------------------------------------

    def filters(
        self,
        *,
        year: str | int | None = None,
        source: str | Sequence[str] | None = None,
        paper: str | Sequence[str] | None = None,
        author: str | Sequence[str] | None = None,
        venue: str | Sequence[str] | None = None,
    ) -> Filters | None:
        """Validated metadata filters (None without any). ``year``: ``2023``, ``"2023..2024"``,
        ``"2023.."`` or ``"..2024"``; ``source``: file name(s) papers came from; ``paper``: paper
        id(s); ``author``/``venue``: words of an author's name or of the venue. A malformed
        value, or filters no paper of the library passes, raise :class:`~rag.errors.InputError`
        saying why (e.g. "no paper in this library has a year")."""
        from rag.errors import InputError
        from rag.index.catalog import paper_rows, unsatisfiable
        from rag.index.filters import Filters

        filters = Filters.make(year=year, source=source, paper=paper, author=author, venue=venue)
        if filters is not None:
            rows = paper_rows(self.store)
            filters = filters.bind(rows)
            problem = unsatisfiable(filters, rows)
            if problem:
                raise InputError(problem)
        return filters

    def _filters(
        self, filters: Filters | None, year: Any, source: Any, paper: Any
    ) -> Filters | None:
        if filters is not None:
            return filters
        return self._read(lambda: self.filters(year=year, source=source, paper=paper))

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
        ``max_per_paper`` if given), optionally only from papers passing the filters."""
        f = self._filters(filters, year, source, paper)
        return self._read(
            lambda: self.pipeline.retrieve(query, k, filters=f, per_paper=max_per_paper)
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
        f = self._filters(filters, year, source, paper)
        return self._read(lambda: self.pipeline.search(query, k, filters=f))

    def ask(
        self,
        question: str,
        *,
        search_query: str | None = None,
        year: str | int | None = None,
        source: str | Sequence[str] | None = None,
        paper: str | Sequence[str] | None = None,
        filters: Filters | None = None,
    ) -> Answer:
        """Answer from the library's papers, every sentence cited and checked, or refuse (see
        :meth:`rag.pipeline.Pipeline.ask`; :meth:`rag.pipeline.Pipeline.stream` streams)."""
        f = self._filters(filters, year, source, paper)
        return self._read(lambda: self.pipeline.ask(question, filters=f, search_query=search_query))

    def summarize(
        self,
        topic: str,
        *,
        max_papers: int = 8,
        year: str | int | None = None,
        source: str | Sequence[str] | None = None,
        paper: str | Sequence[str] | None = None,
        filters: Filters | None = None,
    ) -> Answer:
        """What the papers say about ``topic``: findings grouped by paper, every one cited."""
        f = self._filters(filters, year, source, paper)
        return self._read(lambda: self.pipeline.summarize(topic, max_papers=max_papers, filters=f))

    def chat(self) -> ChatSession:
        """A conversation: follow-ups are rewritten into standalone questions before retrieval."""
        return self.pipeline.chat()

    def papers(self, filters: Filters | None = None) -> list[dict[str, Any]]:
        """Each paper's stored metadata (first chunk), by title, optionally filtered."""
        from rag.index.catalog import paper_rows

        return [m for m in paper_rows(self.store) if filters is None or filters.matches(m)]

    def paper(self, paper_id: str) -> Paper:
        """One paper rebuilt from the store (metadata, abstract, full text by section and page)."""
        from rag.errors import InputError
        from rag.index.catalog import stored_papers

        found = stored_papers(self.store, [paper_id])
        if not found:
            raise InputError(f"no paper in the library has paper id {paper_id!r}")
        return found[0]

    def stats(self) -> Stats:
        """From the manifest when current (Chroma not opened), else from the store (recorded)."""
        given = self._parts.get("embedder")  # else its name, without building it
        name = given.name if given is not None else embedder_name(self.settings)
        own = self._own_store
        return components.stats(self.settings, self.home, name, lambda: self.store, self._read, own)
