"""The lexical index on disk: a full copy (``index.npz``) plus delta files for appended chunks.

``index.npz`` holds every row's columns, the passages' token ids, the vocabulary and both inverted
indexes in CSC form (per term a slice of rows and term frequencies), so loading reads arrays and
sorts nothing. A sync that only added chunks writes ``delta-<time>-<pid>.npz``: the new rows, their
token ids, the words the vocabulary gained, and the fingerprint the delta applies to (``prev``).
Loading replays the deltas in name order, each only if its ``prev`` and vocabulary size match the
state reached so far (a delta written by another process from another state is skipped, and the
next sync with the store repairs whatever it missed). Every :data:`MAX_DELTAS` deltas, and after
any removal, the full copy is rewritten and the deltas deleted. Writes are atomic (write, rename).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.index.bm25 import flatten, unflatten

if TYPE_CHECKING:
    from rag.index.bm25 import Postings

#: A :class:`rag.index.lexical.LexicalIndex` (not imported: that module imports this one).
LexicalIndex = Any

MAX_DELTAS = 8


def _csc(p: Postings, vocab_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t, r, f = p.merged()
    ptr = np.zeros(vocab_size + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(np.bincount(t, minlength=vocab_size))
    return ptr, r.astype(np.int32), f.astype(np.uint16)


def _uncsc(ptr: np.ndarray, rows: np.ndarray, tf: np.ndarray) -> tuple[np.ndarray, ...]:
    t = np.repeat(np.arange(len(ptr) - 1, dtype=np.int32), np.diff(ptr))
    return t, rows.astype(np.int32), tf.astype(np.float32)


def save(index: LexicalIndex, added: int | None) -> None:
    """Write ``index`` (the last ``added`` rows as a delta, or a full copy); a read-only
    library keeps it in memory and says so."""
    try:
        index.path.mkdir(parents=True, exist_ok=True)
        if added is not None and index.deltas < MAX_DELTAS and index.file.exists():
            if added:
                _atomic(index.path, f"delta-{time.time_ns():020d}-{os.getpid()}.npz", _delta(index))
                index.deltas += 1
            return
        _atomic(index.path, "index.npz", _full(index))
        for f in index.path.glob("delta-*.npz"):
            f.unlink(missing_ok=True)
        index.deltas = 0
    except OSError as e:
        print(f"note: lexical index not saved ({e}); it is rebuilt when needed", file=sys.stderr)


def _atomic(folder: Path, name: str, arrays: dict[str, np.ndarray]) -> None:
    tmp = folder / f".{name}-{os.getpid()}.tmp.npz"
    try:
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, folder / name)
    finally:
        tmp.unlink(missing_ok=True)


def _rows(index: LexicalIndex, start: int) -> dict[str, np.ndarray]:
    doc_flat, doc_offsets = flatten(index.doc_tokens[start:])
    return {
        "meta": np.array(index._meta_key()),
        "ids": np.array(index.ids[start:], dtype=str),
        "paper_ids": np.array([str(x) for x in index.paper_ids[start:]], dtype=str),
        "sources": np.array([str(x) for x in index.sources[start:]], dtype=str),
        "years": index.years[start:].astype(np.int64),
        "hashes": np.array(index.hashes[start:], dtype=str),
        "doc_flat": doc_flat,
        "doc_offsets": doc_offsets,
    }


def _full(index: LexicalIndex) -> dict[str, np.ndarray]:
    v = len(index.vocab)
    out = _rows(index, 0)
    out["vocab"] = np.array(sorted(index.vocab, key=index.vocab.__getitem__), dtype=str)
    out["fp_sum"] = np.array(str(index._fp_sum))
    for name, p in (("body", index.body), ("title", index.title)):
        out[f"{name}_ptr"], out[f"{name}_rows"], out[f"{name}_tf"] = _csc(p, v)
        out[f"{name}_len"] = p.lengths
    return out


def _delta(index: LexicalIndex) -> dict[str, np.ndarray]:
    prev_fp, vocab_start, titles = index.pending
    start = len(index.ids) - len(titles)
    out = _rows(index, start)
    words = sorted(index.vocab, key=index.vocab.__getitem__)
    out["prev"] = np.array(prev_fp)
    out["vocab_start"] = np.array(vocab_start)
    out["vocab_add"] = np.array(words[vocab_start:], dtype=str)
    out["title_flat"], out["title_offsets"] = flatten(titles)
    return out


def load(index: LexicalIndex) -> bool:
    """Fill the (cleared) ``index`` from its folder; False when there is no usable full copy."""
    with np.load(index.file, allow_pickle=False) as z:
        if str(z["meta"]) != index._meta_key():
            return False
        words = [str(x) for x in z["vocab"]]
        index.vocab = {w: i for i, w in enumerate(words)}
        _fill(index, z)
        index._fp_sum = int(str(z["fp_sum"]))
        for name, p in (("body", index.body), ("title", index.title)):
            seg = _uncsc(z[f"{name}_ptr"], z[f"{name}_rows"], z[f"{name}_tf"])
            p.restore((seg[0], seg[1], seg[2]), z[f"{name}_len"], len(words))
    deltas = sorted(index.path.glob("delta-*.npz"))
    index.deltas = len(deltas)
    for f in deltas:
        try:
            _replay(index, f)
        except (OSError, KeyError, ValueError):
            continue
    return True


def _fill(index: LexicalIndex, z: np.lib.npyio.NpzFile) -> None:
    """Columns of the rows of a full copy."""
    ids = [str(x) for x in z["ids"]]
    index.ids = ids
    index.hashes = [str(x) for x in z["hashes"]]
    index.paper_ids = np.array([str(x) for x in z["paper_ids"]], dtype=object)
    index.sources = np.array([str(x) for x in z["sources"]], dtype=object)
    index.years = z["years"].astype(np.int64)
    index.doc_tokens = unflatten(z["doc_flat"], z["doc_offsets"])
    index._row = {cid: i for i, cid in enumerate(ids)}


def _replay(index: LexicalIndex, path: Path) -> None:
    with np.load(path, allow_pickle=False) as z:
        if str(z["meta"]) != index._meta_key() or str(z["prev"]) != index.fingerprint:
            return
        if int(z["vocab_start"]) != len(index.vocab):
            return
        for w in z["vocab_add"]:
            index.vocab[str(w)] = len(index.vocab)
        index._add_rows(
            [str(x) for x in z["ids"]],
            [str(x) for x in z["paper_ids"]],
            [str(x) for x in z["sources"]],
            [int(x) for x in z["years"]],
            [str(x) for x in z["hashes"]],
            unflatten(z["doc_flat"], z["doc_offsets"]),
            unflatten(z["title_flat"], z["title_offsets"]),
        )
