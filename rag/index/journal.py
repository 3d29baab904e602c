"""Paper-level atomic writes: a journal of the papers being written, kept in the store itself.

Replacing a paper's chunks takes several store calls (upsert the new chunks, delete the stale
ones), and a process can die between any two. So before a batch of papers is touched, each gets
an entry in a small side collection of the same Chroma store (``<collection>-journal``: embedded
or server alike): the operation, the old and new content hash and chunk counts. The entries go
once the batch is written. An entry still present means "this paper may be half-written", and
:func:`repair` (run by every ingest and remove before it writes) settles it from what the store
holds, without needing the input file:

* all the new chunks are there -> roll forward: drop any chunk of the paper that is not one of
  them (the stale tail a kill left);
* only the complete old version is there (or nothing) -> it was never touched: keep it;
* anything else (a kill inside an upsert that Chroma did not apply whole) -> the paper's chunks
  are deleted and its id reported; the re-run of the same ingest adds it again;
* a removal -> finished.

Each paper's chunks go to the store in one upsert call (papers never straddle two calls), so a
reader, or a repair run by another process during a live write, sees every paper either as its
old version, or as its new version plus, until the batch's stale chunks are deleted a moment
later, old chunks past the new version's end.

``RAGPAPERS_FAULT_KILL_AT=N`` (tests only) SIGKILLs the process at its Nth write step.
"""

from __future__ import annotations

import itertools
import os
import signal
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from rag.schema import Chunk, Paper

if TYPE_CHECKING:
    import numpy as np


class Store(Protocol):
    """What the journal needs of :class:`rag.index.store.Store` (which calls into this module)."""

    def chunk_metadatas(self, paper_ids: Sequence[str]) -> list[tuple[str, dict[str, Any]]]: ...

    def upsert_chunks(
        self, ids: Sequence[str], embeddings: np.ndarray, documents: Sequence[str], metadatas: Any
    ) -> None: ...

    def delete_chunks(self, ids: Sequence[str]) -> None: ...

    def journal_entries(self) -> dict[str, dict[str, Any]]: ...

    def journal_put(self, entries: dict[str, dict[str, Any]]) -> None: ...

    def journal_drop(self, paper_ids: Sequence[str]) -> None: ...


#: Most chunks per upsert call (a paper with more still goes in one call of its own).
WRITE_BATCH = 1000
#: The fault tests' hook: SIGKILL this process at its Nth write step.
KILL_VAR = "RAGPAPERS_FAULT_KILL_AT"
_steps = itertools.count(1)


def step() -> None:
    """Mark one write step (a point where a kill leaves a distinct state behind)."""
    at = os.environ.get(KILL_VAR)
    if at and next(_steps) >= int(at):
        os.kill(os.getpid(), signal.SIGKILL)


def paper_chunks(store: Store, paper_ids: Sequence[str]) -> dict[str, list[tuple[str, int, str]]]:
    """``{paper id: [(chunk id, chunk index, content hash), ...]}`` of the given papers."""
    out: dict[str, list[tuple[str, int, str]]] = {}
    for cid, m in store.chunk_metadatas(paper_ids):
        row = (cid, int(m.get("chunk_index", -1)), str(m.get("content_hash", "")))
        out.setdefault(str(m.get("paper_id", "")), []).append(row)
    return out


def _one_hash(rows: list[tuple[str, int, str]]) -> str:
    hashes = {h for _, _, h in rows}
    return hashes.pop() if len(hashes) == 1 else ""


def _slices(chunks: Sequence[Chunk]) -> list[tuple[int, int]]:
    """[start, end) ranges of at most WRITE_BATCH chunks (grouped by paper) that never split a
    paper: one upsert call writes all of a paper or none of it."""
    out: list[tuple[int, int]] = []
    start = i = 0
    while i < len(chunks):
        j = i
        while j < len(chunks) and chunks[j].paper_id == chunks[i].paper_id:
            j += 1
        if j - start > WRITE_BATCH and i > start:
            out.append((start, i))
            start = i
        i = j
    if start < len(chunks):
        out.append((start, len(chunks)))
    return out


def write_papers(
    store: Store,
    papers: Sequence[Paper],
    chunks: Sequence[Chunk],
    embeddings: np.ndarray,
    metadatas: Sequence[dict[str, Any]],
    digests: dict[str, str],
) -> None:
    """Replace the chunks of ``papers`` by ``chunks`` (grouped by paper), journaled."""
    pids = [p.paper_id for p in papers]
    before = paper_chunks(store, pids)
    new_n = Counter(c.paper_id for c in chunks)
    entries = {
        pid: {
            "op": "replace",
            "new": digests[pid],
            "new_n": new_n[pid],
            "old": _one_hash(before.get(pid, [])),
            "old_n": len(before.get(pid, [])),
        }
        for pid in pids
    }
    store.journal_put(entries)
    step()
    ids = [c.chunk_id for c in chunks]
    for a, b in _slices(chunks):
        store.upsert_chunks(
            ids[a:b], embeddings[a:b], [c.text for c in chunks[a:b]], metadatas[a:b]
        )
        step()
    keep = set(ids)
    stale = [cid for rows in before.values() for cid, _, _ in rows if cid not in keep]
    for i in range(0, len(stale), WRITE_BATCH):
        store.delete_chunks(stale[i : i + WRITE_BATCH])
        step()
    store.journal_drop(pids)
    step()


def delete_papers(store: Store, paper_ids: Sequence[str]) -> int:
    """Remove every chunk of the given papers, journaled; returns how many chunks went."""
    removed = 0
    ids = list(dict.fromkeys(paper_ids))
    for i in range(0, len(ids), 500):
        rows = paper_chunks(store, ids[i : i + 500])
        if not rows:
            continue
        pids = list(rows)
        store.journal_put({pid: {"op": "remove"} for pid in pids})
        step()
        old = [cid for r in rows.values() for cid, _, _ in r]
        for j in range(0, len(old), WRITE_BATCH):
            store.delete_chunks(old[j : j + WRITE_BATCH])
            step()
        store.journal_drop(pids)
        step()
        removed += len(old)
    return removed


def repair(store: Store) -> tuple[int, list[str]]:
    """Settle every paper an interrupted write left in the journal (see the module doc).

    Returns (entries settled, ids of papers whose half-written chunks had to be deleted)."""
    pending = store.journal_entries()
    if not pending:
        return 0, []
    states = paper_chunks(store, list(pending))
    doomed: list[str] = []
    dropped: list[str] = []
    for pid, entry in pending.items():
        rows = states.get(pid, [])
        if entry.get("op") == "remove":
            doomed += [cid for cid, _, _ in rows]
            continue
        new, new_n = str(entry.get("new", "")), int(entry.get("new_n", 0))
        fresh = {idx for _, idx, h in rows if h == new and 0 <= idx < new_n}
        if new_n and len(fresh) == new_n:  # the new version is whole: drop the stale tail
            doomed += [cid for cid, idx, h in rows if not (h == new and 0 <= idx < new_n)]
        elif rows and not _whole(rows, str(entry.get("old", "")), int(entry.get("old_n", 0))):
            doomed += [cid for cid, _, _ in rows]
            dropped.append(pid)
    for i in range(0, len(doomed), WRITE_BATCH):
        store.delete_chunks(doomed[i : i + WRITE_BATCH])
    store.journal_drop(list(pending))
    return len(pending), dropped


def _whole(rows: list[tuple[str, int, str]], digest: str, n: int) -> bool:
    """Whether ``rows`` are exactly chunks 0..n-1 of the version with content hash ``digest``."""
    return (
        bool(digest)
        and sorted(idx for _, idx, h in rows if h == digest) == list(range(n))
        and (len(rows) == n)
    )
