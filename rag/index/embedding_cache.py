"""A SQLite cache in front of any embedder, keyed by (embedder name, sha256 of the text).

Several processes may share the file (WAL), and several threads one :class:`CachedEmbedder`: each
thread gets its own connection (sqlite3 connections must not cross threads).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.errors import BackendError
from rag.index.embedding import Embedder, Matrix

_CREATE = """CREATE TABLE IF NOT EXISTS embeddings (
    embedder TEXT NOT NULL, text_sha256 TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL,
    PRIMARY KEY (embedder, text_sha256)) WITHOUT ROWID"""
_SELECT = "SELECT text_sha256, dim, vector FROM embeddings WHERE embedder = ? AND text_sha256 IN "
_INSERT = "INSERT OR REPLACE INTO embeddings (embedder, text_sha256, dim, vector) VALUES (?,?,?,?)"


class CachedEmbedder:
    """Wraps an embedder with a SQLite cache keyed by (embedder name, sha256 of the text).

    ``hits``/``misses`` count distinct texts per call. Several processes may share the file (WAL).
    """

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner = inner
        self.path = Path(path).expanduser()
        self.hits = 0
        self.misses = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()  # guards the counters
        self._connections: list[sqlite3.Connection] = []
        with self._db:
            self._db.execute(_CREATE)

    @property
    def _db(self) -> sqlite3.Connection:
        """This thread's connection (sqlite3 connections must stay in the thread that made them)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def prepare(self) -> None:
        """Let the inner embedder load its model now (if it has such a step)."""
        prepare = getattr(self.inner, "prepare", None)
        if callable(prepare):
            prepare()

    def embed(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
        unique = list(dict.fromkeys(keys))
        found: dict[str, Matrix] = {}
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            sql = f"{_SELECT}({','.join('?' * len(chunk))})"
            for key, dim, blob in self._db.execute(sql, [self.name, *chunk]):
                if len(blob) == 4 * dim:
                    found[key] = np.frombuffer(blob, dtype="<f4").astype(np.float32)
        missing = [k for k in unique if k not in found]
        with self._lock:
            self.hits += len(unique) - len(missing)
            self.misses += len(missing)
        if missing:
            text_of = dict(zip(keys, texts, strict=True))
            fresh = np.asarray(self.inner.embed([text_of[k] for k in missing]), dtype=np.float32)
            if fresh.shape != (len(missing), self.dim):
                raise BackendError(f"{self.name} gave shape {fresh.shape} for {len(missing)} texts")
            rows = [
                (self.name, k, self.dim, v.astype("<f4").tobytes())
                for k, v in zip(missing, fresh, strict=True)
            ]
            with self._db:
                self._db.executemany(_INSERT, rows)
            found.update(zip(missing, fresh, strict=True))
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()
        self._local = threading.local()
