"""The store a local library reads through: its mirror (:mod:`rag.index.mirror`) while that
matches Chroma, else the Chroma store itself, opened on first need.

:class:`MirroredStore` answers what a query asks of the store (chunk count and ids, nearest
chunks without a ``where`` clause, vectors, texts and metadata by id) from the mirror when it is
current, checking Chroma's write position before each read; anything else (writes, filtered
queries, the catalog) goes to the real :class:`~rag.index.store.Store`, opened then. When the
mirror has gone stale (another process wrote) and a new one is on disk, it is loaded; until
then reads go to Chroma. The loaded mirror is never changed in place: a newer one replaces the
reference, so concurrent readers each use one consistent copy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.index import mirror as mirror_file
from rag.index.mirror import Mirror, log_position

if TYPE_CHECKING:
    from rag.index.store import Store


class MirroredStore:
    """A :class:`~rag.index.store.Store` stand-in for reading (see the module doc)."""

    chroma_url: str | None = None  # local libraries only

    def __init__(
        self,
        mirror: Mirror,
        home: Path,
        *,
        collection: str,
        embedder_name: str,
        dim: int,
        open_store: Callable[[], Store],
    ) -> None:
        self.home = home
        self.collection_name = collection
        self.embedder_name = embedder_name
        self.dim = dim
        self._mirror: Mirror | None = mirror
        self._open_store = open_store
        self._store: Store | None = None
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        return str(self.home / "chroma")

    @property
    def real(self) -> Store:
        """The Chroma store (opened on first use; thread-safe)."""
        with self._lock:
            if self._store is None:
                self._store = self._open_store()
            return self._store

    def current(self) -> Mirror | None:
        """The mirror if it matches the store now (a newer file is loaded), else None."""
        m = self._mirror
        if m is not None and log_position(self.home, self.collection_name) == m.position:
            return m
        path = mirror_file.mirror_path(self.home, self.collection_name)
        if m is not None and mirror_file.file_stamp(path) == m.stamp:
            return None  # the same file, gone stale: Chroma until a writer replaces it
        fresh = mirror_file.load(self.home, self.collection_name, self.embedder_name, self.dim)
        if fresh is not None or m is not None:
            with self._lock:
                self._mirror = fresh
        return fresh

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.real, name)

    # --- what a query reads -------------------------------------------------------------------

    def count_chunks(self) -> int:
        m = self.current()
        return len(m.ids) if m is not None else self.real.count_chunks()

    def chunk_ids(self) -> list[str]:
        m = self.current()
        return list(m.ids) if m is not None else self.real.chunk_ids()

    def nearest(
        self, vector: Sequence[float], n: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        m = None if where else self.current()
        return m.nearest(vector, n) if m is not None else self.real.nearest(vector, n, where)

    def embeddings(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        m = self.current()
        if m is None:
            return self.real.embeddings(ids)
        return {cid: m.vectors[m.row[cid]] for cid in ids if cid in m.row}

    def texts(self, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        m = self.current()
        if m is None:
            return self.real.texts(ids)
        rows = [(cid, m.row[cid]) for cid in ids if cid in m.row]
        return {cid: (m.documents[i], dict(m.metadatas[i])) for cid, i in rows}

    def columns(
        self, ids: Sequence[str] | None = None, *, offset: int = 0, limit: int | None = None
    ) -> dict[str, Any]:
        m = self.current() if ids is not None else None
        if m is None:
            return self.real.columns(ids, offset=offset, limit=limit)
        rows = [m.row[cid] for cid in ids or () if cid in m.row]
        return {
            "ids": [m.ids[i] for i in rows],
            "documents": [m.documents[i] for i in rows],
            "metadatas": [dict(m.metadatas[i]) for i in rows],
        }
