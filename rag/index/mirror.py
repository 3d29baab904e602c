"""A read-side copy of a small local library's chunks (ids, unit vectors, texts, metadata) in
one file beside the store, so that a cold ``rag ask`` or ``rag search`` need not import and open
Chroma (about 1 s of a 2.3 s cold ask): exact cosine over the copy gives Chroma's top-k.

Chroma stays the source of truth; ``HOME/mirror-<collection>.bin`` only mirrors it. Protocol
(local libraries only, like :mod:`rag.index.manifest`; a Chroma server is always asked):

* every write to the collection (:meth:`rag.index.store.Store.upsert_chunks`, ``delete_chunks``)
  first removes the file: a killed ingest leaves none behind;
* the library writes it again, from the store, under the write lock once an ingest or a remove
  has committed (and a reader that opened Chroma for want of one writes it when no write is
  under way and the library is small), atomically (a temporary file renamed over it);
* it records Chroma's write position (:func:`log_position`: the collection's id, the last
  sequence number of Chroma's write log and the number of stored rows, read from its SQLite file
  read-only). A reader uses the copy only while the store's position is the recorded one, and
  checks before every read (about 1 ms, loaded machine). The file's stat signature
  (:mod:`rag.index.filesig`) cannot serve: every process that opens Chroma's embedded client
  writes to its SQLite file (a row of its ``acquire_write`` table), so it changes on every read.

Anything else (missing, unreadable, another version, embedder or collection, more than
:data:`MAX_CHUNKS` chunks, a filter with a Chroma ``where`` clause) is served by Chroma.
At 100k chunks no copy is written (that library reads Chroma, as before; any copy left from
when it was smaller is removed by the write that grows it).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.index.manifest import remove, side_path

VERSION = 1
MAGIC = b"RAGMIR01"
#: No copy of a library with more chunks than this. Every committed write rewrites the whole
#: copy from Chroma: at 5,000 chunks that took 3.5 s (13 MB file, loaded in 0.08-0.4 s; 2-core
#: machine at load 9), at 482 (the bundled library) 0.7-1.1 s, so beyond this it costs more than
#: it saves.
MAX_CHUNKS = 5_000
#: A reader that had to open Chroma writes a missing copy only up to this many chunks.
READER_REFRESH_MAX = 2_000
PAGE = 5000

Position = tuple[str, int, int]


class Source(Protocol):
    """What :func:`write` reads: :class:`rag.index.store.Store` (not imported: it imports this)."""

    def count_chunks(self) -> int: ...

    def rows_with_vectors(self, *, offset: int = 0, limit: int | None = None) -> dict[str, Any]: ...


def mirror_path(home: Path, collection: str) -> Path:
    return side_path(home, "mirror", collection, ".bin")


def invalidate(home: Path, collection: str, chroma_url: str | None = None) -> None:
    """Remove the copy (before a write changes what it mirrors); none on a server."""
    if not chroma_url:
        remove(mirror_path(home, collection))


def log_position(home: Path, collection: str) -> Position | None:
    """Where Chroma's embedded store stands: (collection id, last write-log sequence number,
    stored rows), read-only with the standard library; None when it cannot be read (no store,
    no such collection, another schema, locked by a writer)."""
    db = home / "chroma" / "chroma.sqlite3"
    if not db.is_file():
        return None
    import sqlite3

    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=0.2)
        try:
            found = con.execute("SELECT id FROM collections WHERE name = ?", (collection,))
            row = found.fetchone()
            seq = con.execute("SELECT max(seq_id) FROM embeddings_queue").fetchone()
            rows = con.execute("SELECT count(*) FROM embeddings").fetchone()
        finally:
            con.close()
    except Exception:  # sqlite3.Error, or a schema this code does not know
        return None
    if row is None or seq is None or rows is None:
        return None
    return (str(row[0]), int(seq[0] or 0), int(rows[0] or 0))


@dataclass(frozen=True)
class Mirror:
    """One loaded copy (never changed after loading: threads share it)."""

    position: Position
    ids: list[str]
    vectors: np.ndarray  # (n, dim) float32, unit rows
    documents: list[str]
    metadatas: list[dict[str, Any]]
    row: dict[str, int]
    stamp: tuple[int, int, int]  # the file's (inode, size, mtime): reloaded when it changes

    def nearest(self, vector: Sequence[float], n: int) -> list[tuple[str, float]]:
        """The ``n`` chunks nearest ``vector`` by exact cosine, best first (Chroma's order up to
        float32 rounding; its index on a library this size is exhaustive in effect)."""
        if n <= 0 or not self.ids:
            return []
        q = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(q))
        scores = self.vectors @ (q / norm if norm else q)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        top = top[np.lexsort((top, -scores[top]))]
        return [(self.ids[i], float(scores[i])) for i in top]


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def load(home: Path, collection: str, embedder: str, dim: int) -> Mirror | None:
    """The copy, if there is one for this collection and embedder and Chroma is where it was
    when the copy was written; else None."""
    path = mirror_path(home, collection)
    stamp = file_stamp(path)
    if stamp is None:
        return None
    try:
        with path.open("rb") as f:
            data = f.read()
        if data[:8] != MAGIC:
            return None
        size = int.from_bytes(data[8:16], "little")
        head = json.loads(data[16 : 16 + size].decode("utf-8"))
        if head.get("version") != VERSION or head.get("collection") != collection:
            return None
        if head.get("embedder") != embedder or head.get("dim") != dim:
            return None
        ids, docs, metas = head["ids"], head["documents"], head["metadatas"]
        start = int(head["offset"])
        vectors = np.frombuffer(data, dtype="<f4", count=len(ids) * dim, offset=start)
        vectors = vectors.reshape(len(ids), dim)
        position = (str(head["position"][0]), int(head["position"][1]), int(head["position"][2]))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    if not (len(ids) == len(docs) == len(metas)) or log_position(home, collection) != position:
        return None
    row = {cid: i for i, cid in enumerate(ids)}
    return Mirror(position, ids, vectors, docs, metas, row, stamp)


def write(home: Path, collection: str, store: Source, embedder: str, dim: int) -> bool:
    """Copy the store into the file (the caller holds the write lock, so nothing writes in
    between); a store above :data:`MAX_CHUNKS` gets none. True if written."""
    position = log_position(home, collection)
    if position is None or store.count_chunks() > MAX_CHUNKS:
        invalidate(home, collection)
        return False
    ids: list[str] = []
    docs: list[str] = []
    metas: list[dict[str, Any]] = []
    vecs: list[np.ndarray] = []
    while True:
        got = store.rows_with_vectors(offset=len(ids), limit=PAGE)
        page = [str(i) for i in got["ids"]]
        ids += page
        docs += [d or "" for d in got.get("documents") or [""] * len(page)]
        metas += [dict(m or {}) for m in got.get("metadatas") or [{}] * len(page)]
        embs = got.get("embeddings")
        try:
            vecs.append(np.asarray(embs if page else [], dtype=np.float32).reshape(len(page), dim))
        except (ValueError, TypeError):  # vectors of another size than the embedder's: no copy
            invalidate(home, collection)
            return False
        if len(page) < PAGE:
            break
    vectors = np.concatenate(vecs)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = (vectors / np.where(norms > 0, norms, 1.0)).astype("<f4")
    if log_position(home, collection) != position:
        return False  # someone wrote meanwhile (without the lock): leave it to the next writer
    head: dict[str, Any] = {
        "version": VERSION, "collection": collection, "embedder": embedder, "dim": dim,
        "position": list(position), "ids": ids, "documents": docs, "metadatas": metas,
    }  # fmt: skip
    return _save(mirror_path(home, collection), head, vectors)


def _save(path: Path, head: dict[str, Any], vectors: np.ndarray) -> bool:
    """MAGIC, the header's length, the JSON header (with ``offset``), float32 vectors."""
    head["offset"] = 0
    for _ in range(2):  # the offset's own digits may change the header's length once
        text = json.dumps(head, ensure_ascii=False).encode("utf-8")
        offset = (16 + len(text) + 63) // 64 * 64
        if head["offset"] == offset:
            break
        head["offset"] = offset
    text = json.dumps(head, ensure_ascii=False).encode("utf-8")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".mirror-", suffix=".tmp")
    except OSError:
        return False  # read-only data directory: readers open the store
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + len(text).to_bytes(8, "little") + text)
            f.write(b"\0" * (head["offset"] - 16 - len(text)))
            f.write(vectors.tobytes())
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False
    return True
