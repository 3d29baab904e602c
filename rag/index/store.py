"""The Chroma vector store: embedded (PersistentClient under the data directory) or a server.

This is the only module that talks to Chroma; every other stage goes through :class:`Store`
(the dense retriever through :meth:`Store.vector_store`, llama-index's ``ChromaVectorStore``).

One collection holds every chunk. Its metadata records which embedder built it: opening it with
another embedder is a :class:`~rag.errors.ConfigError`, never silent garbage. Chunks of a paper
are written together and replaced together when the paper's abstract changes.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from rag.errors import ConfigError, RagError
from rag.index import manifest, mirror
from rag.index.filesig import Signature, files_signature
from rag.index.filters import where_in
from rag.index.metadata import chunk_metadata
from rag.index.quick_import import quick_import
from rag.schema import Chunk, Paper

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

PAGE = 5000  # ids per read of all of them


def open_client(home: Path, chroma_url: str | None, timeout: float = 30.0) -> ClientAPI:
    with quick_import():
        return _open_client(home, chroma_url, timeout)


def _open_client(home: Path, chroma_url: str | None, timeout: float) -> ClientAPI:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        url = urlparse(chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"RAG_CHROMA_URL must look like http://host:port, got {chroma_url!r}")
        from rag.index.remote import bound_client, check_server

        check_server(chroma_url, timeout)
        try:
            client = chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
            bound_client(client, chroma_url, timeout)
            return client
        except RagError:
            raise
        except Exception as e:  # chromadb raises bare ValueError/ConnectionError here
            raise RagError(f"cannot reach the Chroma server at {chroma_url}: {e}") from None
    path = home / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class Store:
    """The chunk collection of one library."""

    def __init__(
        self,
        home: Path,
        *,
        chroma_url: str | None = None,
        collection: str = "papers",
        embedder_name: str,
        dim: int,
        timeout: float = 30.0,
    ) -> None:
        self.home = home
        self.chroma_url = chroma_url
        self._lock = threading.Lock()
        self._vector_store: Any = None
        self._journal: Collection | None = None
        self._count: tuple[Signature, int] | None = None  # (SQLite files' signature, chunks)
        self.timeout = timeout
        self.client = open_client(home, chroma_url, timeout)
        self.embedder_name, self.dim = embedder_name, dim
        try:
            self.collection: Collection = self.client.get_or_create_collection(
                collection,
                metadata={
                    "hnsw:space": "cosine",
                    "hnsw:search_ef": 200,
                    "hnsw:construction_ef": 200,
                    "embedder": embedder_name,
                    "dim": dim,
                    "title_key": 1,  # first chunks hold ``title_key`` (rag.index.reconcile)
                },
                embedding_function=None,
            )
        except RagError:
            raise
        except Exception as e:
            where = chroma_url or str(home / "chroma")
            raise RagError(
                f"cannot open the Chroma collection {collection!r} at {where}: {e}"
            ) from None
        built_with = (self.collection.metadata or {}).get("embedder")
        if built_with != embedder_name:
            raise ConfigError(
                f"this library was built with embedder {built_with!r} but {embedder_name!r} is "
                "configured",
                hint=f"set RAG_EMBEDDER to match, or use another --home; library: {self.location}",
            )

    @property
    def location(self) -> str:
        return self.chroma_url or str(self.home / "chroma")

    def reopen(self) -> None:
        """Drop this process's view of an embedded store and open it again. Chroma's local client
        caches one per path, and a view taken before another process wrote may stay stale
        ("Error finding id"); :func:`rag.index.locks.with_fresh_view` calls this and retries."""
        from chromadb.api.client import SharedSystemClient

        with self._lock:
            name = self.collection.name
            SharedSystemClient.clear_system_cache()
            self.client = open_client(self.home, self.chroma_url, self.timeout)
            self.collection = self.client.get_collection(name, embedding_function=None)
            self._vector_store = None

    @property
    def titles_keyed(self) -> bool:  # first chunks hold ``title_key`` (newer collections)
        return bool((self.collection.metadata or {}).get("title_key"))

    # --- reading --------------------------------------------------------------------------

    def count_chunks(self) -> int:
        """Chunks in the collection. Chroma counts by a scan (36 ms at 100k chunks: every query
        asks), so a local store keeps the count while its SQLite files are unchanged."""
        db = self.home / "chroma" / "chroma.sqlite3"
        files = [db, db.with_name(f"{db.name}-wal"), db.with_name(f"{db.name}-journal")]
        sig = None if self.chroma_url else files_signature(files)
        cached = self._count
        if sig is not None and cached is not None and cached[0] == sig:
            return cached[1]
        n = int(self.collection.count())
        self._count = None if sig is None else (sig, n)
        return n

    def count_papers(self) -> int:
        return len(self.collection.get(where={"chunk_index": 0}, include=[])["ids"])

    def paper_hashes(self, paper_ids: Sequence[str]) -> dict[str, str]:
        """content_hash of each given paper that the store holds."""
        out: dict[str, str] = {}
        ids = list(paper_ids)
        for i in range(0, len(ids), 500):
            got = self.collection.get(
                where={"$and": [where_in("paper_id", ids[i : i + 500]), {"chunk_index": 0}]},
                include=["metadatas"],
            )
            for meta in got["metadatas"] or []:
                out[str(meta["paper_id"])] = str(meta["content_hash"])
        return out

    def get_chunks(self, where: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every chunk (id, text, metadata), optionally filtered; for lexical indexes and eval.
        Read in pages: one read of more than ~32k rows fails ("too many SQL variables")."""
        out: list[dict[str, Any]] = []
        while True:
            got = self.collection.get(
                where=where, include=["documents", "metadatas"], limit=PAGE, offset=len(out)
            )
            rows = zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=False)
            out += [{"id": i, "text": d, "metadata": m} for i, d, m in rows]
            if len(got["ids"]) < PAGE:
                return out

    def values_present(self, field: str, values: Sequence[str]) -> set[str]:
        """Which of ``values`` some paper holds in metadata ``field`` (e.g. source, paper_id)."""
        got = self.collection.get(
            where={"$and": [where_in(field, values), {"chunk_index": 0}]}, include=["metadatas"]
        )
        return {str(m.get(field)) for m in got["metadatas"] or []}

    def field_values(self, field: str) -> set[str]:
        """Every value of metadata ``field`` over the papers (their first chunks)."""
        got = self.collection.get(where={"chunk_index": 0}, include=["metadatas"])
        return {str(m.get(field, "")) for m in got["metadatas"] or []}

    def texts(self, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """Text and metadata of the chunks with these ids that the store still holds."""
        if not ids:
            return {}
        got = self.collection.get(ids=list(ids), include=["documents", "metadatas"])
        docs = got.get("documents") or []
        metas = got.get("metadatas") or []
        return {cid: (docs[i] or "", dict(metas[i] or {})) for i, cid in enumerate(got["ids"])}

    def embeddings(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of the chunks with these ids (those the store still holds)."""
        if not ids:
            return {}
        got = self.collection.get(ids=list(ids), include=["embeddings"])  # type: ignore[list-item]
        embs = got.get("embeddings")
        if embs is None:
            return {}
        return {cid: np.asarray(embs[i], dtype=np.float32) for i, cid in enumerate(got["ids"])}

    def columns(
        self, ids: Sequence[str] | None = None, *, offset: int = 0, limit: int | None = None
    ) -> dict[str, Any]:
        """Ids, texts and metadata of some chunks: by ``ids``, or a page of all of them."""
        include: Any = ["documents", "metadatas"]
        if ids is not None:
            return dict(self.collection.get(ids=list(ids), include=include))
        return dict(self.collection.get(include=include, limit=limit, offset=offset))

    def rows_with_vectors(self, *, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        """Ids, vectors, texts and metadata of a page of chunks (for :mod:`rag.index.mirror`)."""
        include: Any = ["embeddings", "documents", "metadatas"]
        return dict(self.collection.get(include=include, limit=limit, offset=offset))

    def digests(self, *, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        """Ids and metadata (no text) of a page of chunks, for fingerprints."""
        include: Any = ["metadatas"]
        return dict(self.collection.get(include=include, limit=limit, offset=offset))

    def chunk_ids(self) -> list[str]:
        """Every chunk id (no metadata: a fraction of the cost of :meth:`digests`)."""
        out: list[str] = []
        while True:
            got = self.collection.get(include=[], limit=PAGE, offset=len(out))["ids"]
            out.extend(str(x) for x in got)
            if len(got) < PAGE:
                return out

    def chunk_hashes(self, paper_ids: Sequence[str]) -> dict[str, str]:
        """content_hash of every chunk of the given papers, by chunk id."""
        out: dict[str, str] = {}
        for i in range(0, len(paper_ids), 500):
            got = self.collection.get(
                where=where_in("paper_id", paper_ids[i : i + 500]), include=["metadatas"]
            )
            for cid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                out[str(cid)] = str((meta or {}).get("content_hash", ""))
        return out

    def nearest(
        self, vector: Sequence[float], n: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """The ``n`` chunks nearest ``vector``: (id, cosine), best first. The query
        :meth:`vector_store` runs, without importing llama-index, and without reading the
        candidates' text and metadata (the retriever reads them for the few it keeps: at 10k
        chunks, 100 candidates cost 21 ms p50 this way and 52 ms with their documents)."""
        query: list[Sequence[float]] = [list(vector)]
        got = self.collection.query(
            query_embeddings=query,
            n_results=n,
            where=where or None,
            include=["distances"],  # type: ignore[list-item]
        )
        dists = (got.get("distances") or [[]])[0]
        return [(cid, 1.0 - float(dists[i])) for i, cid in enumerate(got["ids"][0])]

    def vector_store(self) -> Any:
        """This collection as a llama-index ``ChromaVectorStore`` (built once; thread-safe)."""
        with self._lock:
            if self._vector_store is None:
                from llama_index.vector_stores.chroma import ChromaVectorStore

                self._vector_store = ChromaVectorStore(chroma_collection=self.collection)
            return self._vector_store

    # --- writing --------------------------------------------------------------------------

    def _journal_collection(self, *, create: bool) -> Collection | None:
        """The side collection of papers being written (:mod:`rag.index.journal`), or None when
        no write ever made it (and ``create`` is false). Readers never open it."""
        if self._journal is None:
            name = f"{self.collection.name[:50]}-journal"
            try:
                if create:
                    self._journal = self.client.get_or_create_collection(
                        name, embedding_function=None
                    )
                else:
                    self._journal = self.client.get_collection(name, embedding_function=None)
            except Exception as e:
                if not create and "does not exist" in str(e).lower():
                    return None
                raise RagError(
                    f"cannot open the write journal {name!r} at {self.location}: {e}"
                ) from None
        return self._journal

    def journal_entries(self) -> dict[str, dict[str, Any]]:
        """The write journal: ``{paper id: entry}`` of papers an unfinished write touched."""
        journal = self._journal_collection(create=False)
        if journal is None:
            return {}
        got = journal.get(include=["metadatas"])
        return {
            str(i): dict(m or {}) for i, m in zip(got["ids"], got["metadatas"] or [], strict=False)
        }

    def journal_put(self, entries: dict[str, dict[str, Any]]) -> None:
        journal = self._journal_collection(create=True)
        assert journal is not None
        ids = list(entries)
        metas: Any = [entries[i] for i in ids]
        journal.upsert(
            ids=ids, embeddings=np.ones((len(ids), 1), dtype=np.float32), metadatas=metas
        )

    def journal_drop(self, paper_ids: Sequence[str]) -> None:
        journal = self._journal_collection(create=True)
        assert journal is not None
        ids = list(paper_ids)
        for i in range(0, len(ids), 500):
            journal.delete(ids=ids[i : i + 500])

    def chunk_metadatas(self, paper_ids: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        """(chunk id, metadata) of every chunk of the given papers."""
        out: list[tuple[str, dict[str, Any]]] = []
        ids = list(paper_ids)
        for i in range(0, len(ids), 500):
            got = self.collection.get(
                where=where_in("paper_id", ids[i : i + 500]), include=["metadatas"]
            )
            out += [
                (str(c), dict(m or {}))
                for c, m in zip(got["ids"], got["metadatas"] or [], strict=False)
            ]
        return out

    def _invalidate_side_files(self) -> None:
        """Before any write: drop the counts manifest and the mirror, which it would outdate."""
        manifest.invalidate(self.home, self.collection.name, self.chroma_url)
        mirror.invalidate(self.home, self.collection.name, self.chroma_url)

    def upsert_chunks(
        self, ids: Sequence[str], embeddings: np.ndarray, documents: Sequence[str], metadatas: Any
    ) -> None:
        """One upsert call (all applied or none)."""
        self._invalidate_side_files()
        self.collection.upsert(
            ids=list(ids), embeddings=embeddings, documents=list(documents), metadatas=metadatas
        )

    def delete_chunks(self, ids: Sequence[str]) -> None:
        self._invalidate_side_files()
        self.collection.delete(ids=list(ids))

    def replace_papers(
        self,
        papers: Sequence[Paper],
        chunks: Sequence[Chunk],
        embeddings: np.ndarray,
        digests: dict[str, str],
    ) -> None:
        """Write the chunks of ``papers`` (grouped by paper) and drop their stale chunks, each
        paper all or nothing (:mod:`rag.index.journal`): a re-run repairs what a kill left."""
        from rag.index.journal import write_papers

        by_id = {p.paper_id: p for p in papers}
        metas = [chunk_metadata(c, by_id[c.paper_id], digests[c.paper_id]) for c in chunks]
        write_papers(self, papers, chunks, embeddings, metas, digests)

    def delete_papers(self, paper_ids: Sequence[str]) -> int:
        """Remove every chunk of the given papers (journaled); returns how many chunks went."""
        from rag.index.journal import delete_papers

        return delete_papers(self, paper_ids)

    def repair(self, keep: Sequence[str] = ()) -> int:
        """Settle papers an interrupted write left half-written (see :mod:`rag.index.journal`);
        returns how many. Papers whose chunks had to go, and that ``keep`` (the ids the caller is
        about to write) does not bring back, are named on stderr."""
        from rag.index.journal import repair

        settled, dropped = repair(self)
        lost = sorted(set(dropped) - set(keep))
        if lost:
            more = " ..." if len(lost) > 10 else ""
            print(
                f"note: {len(lost)} paper(s) half-written by an interrupted ingest were removed; "
                f"ingest their file again: {', '.join(lost[:10])}{more}",
                file=sys.stderr,
            )
        return settled
