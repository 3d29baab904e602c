"""Coordinating processes that share one embedded (local) library.

Chroma's embedded client is not built for several processes: two of them creating a fresh store
at once fail ("table collections already exists"), two writing at once can corrupt it, and a
process that read the store before another one wrote to it may keep a stale view ("Error finding
id" on every query after). So, for a local library:

* opening the store (which may create it) and every write (ingest, re-ingest, remove, with the
  lexical index sync that follows) hold an exclusive ``fcntl`` lock on ``<home>/write.lock``:
  writers and first creations are serialized, one waits for the other (saying so on stderr);
* readers take no lock and never wait (they see other processes' writes as they land). A read
  that fails inside Chroma, as a view taken before another process's write may ("Error finding
  id" on every query after), is retried on a reopened store
  (:meth:`rag.index.store.Store.reopen`, :func:`with_fresh_view`): measured, one reopen (~0.3 s)
  and the reader goes on.

A Chroma server serializes its own clients, so none of this applies with ``RAG_CHROMA_URL``. On a
file system without ``flock`` or a read-only data directory, the lock is skipped.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from rag.index.store import Store

T = TypeVar("T")
LOCK_FILE = "write.lock"
#: Attempts of a read that keeps failing inside Chroma (reopening the store in between).
READ_ATTEMPTS = 3


_held: dict[Path, int] = {}  # homes whose lock this process holds (nested use does not wait)
_held_lock = threading.Lock()


@contextmanager
def write_lock(home: Path, chroma_url: str | None = None) -> Iterator[None]:
    """Hold a local library's exclusive write lock (waits for another process's write to end);
    nothing for a Chroma server (``chroma_url``) or when this process holds it already."""
    key = home.resolve()
    with _held_lock:
        nested = bool(chroma_url) or _held.get(key, 0) > 0
        if not nested:
            _held[key] = 1
    if nested:
        yield
        return
    try:
        with _flock(home):
            yield
    finally:
        with _held_lock:
            _held.pop(key, None)


@contextmanager
def try_write_lock(home: Path, chroma_url: str | None = None) -> Iterator[bool]:
    """The local write lock if no one holds it (never waits): yields whether it is held (also
    when this process holds it already). False for a server, or without ``flock``."""
    key = home.resolve()
    with _held_lock:
        nested = _held.get(key, 0) > 0
    if nested or chroma_url:
        yield not chroma_url
        return
    fd, held = -1, False
    try:
        try:
            fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with _held_lock:
                _held[key] = 1
            held = True
        except OSError:  # another process writes, or no lock here: do without
            pass
        yield held
    finally:
        if held:
            with _held_lock:
                _held.pop(key, None)
        if fd >= 0:
            os.close(fd)


@contextmanager
def _flock(home: Path) -> Iterator[None]:
    try:
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield  # read-only data directory: nothing to coordinate with
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(
                f"Waiting for another process writing to the library at {home}...",
                file=sys.stderr,
            )
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass  # no flock here (some network file systems): go on unlocked
        yield
    finally:
        os.close(fd)  # releases the lock


def is_chroma_error(e: BaseException) -> bool:
    """True for errors raised inside chromadb (a stale or half-written view of the store)."""
    return type(e).__module__.split(".")[0] == "chromadb"


def with_fresh_view(store: Store, read: Callable[[], T]) -> T:
    """Run ``read``; if it fails inside Chroma on a local store, reopen the store and retry."""
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            return read()
        except Exception as e:
            if store.chroma_url or not is_chroma_error(e) or attempt == READ_ATTEMPTS:
                raise
            time.sleep(0.05 * attempt)
            store.reopen()
    raise AssertionError("unreachable")
