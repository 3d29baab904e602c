"""What a local library holds, in a small file beside the store, so that ``rag stats`` (and the
"is the library empty?" check before every read) need not import and open Chroma.

``HOME/manifest-<collection>.json`` holds the counts (papers, chunks) and the embedder that
built the collection. Protocol (local libraries only; a Chroma server is always asked):

* every write to the collection (:meth:`rag.index.store.Store.upsert_chunks` and
  ``delete_chunks``, so also a write that bypasses :class:`rag.Library`) first removes the
  file: from then on it is missing, and readers fall back to opening the store;
* the library writes it again, from the store's own counts, under the write lock once an
  ingest or a remove has committed (and when a reader had to fall back and no write is under
  way), atomically (a temporary file renamed over it).

So a killed ingest leaves no manifest (the first chunk it wrote removed it) and the next read
counts from the store. A manifest is used only when the chunk store it describes is there
(``chroma/chroma.sqlite3``) and names the configured embedder and collection; anything else
(missing, unreadable, another format version) is treated as missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

VERSION = 1


def side_path(home: Path, kind: str, collection: str, suffix: str) -> Path:
    """A file kept beside a local store (the manifest, the mirror): ``HOME/<kind>-<collection>``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in collection)
    return home / f"{kind}-{safe}{suffix}"


def remove(path: Path) -> None:
    with contextlib.suppress(OSError):  # gone already, or a read-only data directory
        path.unlink()


def manifest_path(home: Path, collection: str) -> Path:
    return side_path(home, "manifest", collection, ".json")


def invalidate(home: Path, collection: str, chroma_url: str | None = None) -> None:
    """Remove the manifest (before a write changes what it describes); none on a server."""
    if not chroma_url:
        remove(manifest_path(home, collection))


def read(home: Path, collection: str, embedder: str) -> dict[str, Any] | None:
    """The manifest's counts (``papers``, ``chunks``), or None when missing or not usable."""
    if not (home / "chroma" / "chroma.sqlite3").is_file():
        return None
    try:
        data = json.loads(manifest_path(home, collection).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return None
    if data.get("collection") != collection or data.get("embedder") != embedder:
        return None
    papers, chunks = data.get("papers"), data.get("chunks")
    if not isinstance(papers, int) or not isinstance(chunks, int):
        return None
    return {"papers": papers, "chunks": chunks}


def write(home: Path, collection: str, embedder: str, papers: int, chunks: int) -> None:
    """Write the manifest atomically (the caller holds the library's write lock)."""
    data = {
        "version": VERSION,
        "collection": collection,
        "embedder": embedder,
        "papers": papers,
        "chunks": chunks,
    }
    path = manifest_path(home, collection)
    try:
        fd, tmp = tempfile.mkstemp(dir=home, prefix=".manifest-", suffix=".tmp")
    except OSError:
        return  # read-only data directory: readers open the store
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
