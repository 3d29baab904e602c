"""BM25 (Lucene variant, as bm25s computes it) over an incremental inverted index.

:class:`Postings` holds, per term, the rows (chunks) containing it and how often, in a few
segments sorted by (term, row). Adding a batch of documents builds one small segment; neighbours of
similar size are merged (log-structured, as Lucene does), so adding costs O(batch log N) amortised
and never rebuilds the index; a query reads each of its terms' postings with a binary search per
segment and scores only the rows that hold them. Removal compacts: dead rows are dropped and the
rest renumbered with one vectorised pass over the postings (no re-tokenising, no sorting).

Scores equal bm25s' ``method="lucene"`` (``idf = ln(1 + (N - df + .5) / (df + .5))``, ``tf / (tf
+ k1 (1 - b + b dl / avgdl))``), which the index used before, computed at query time from the
live N, df and average length, so they stay exact as the index grows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Segment = tuple[np.ndarray, np.ndarray, np.ndarray]  # term ids, rows, term frequencies


def flatten(rows: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    if rows:
        offsets[1:] = np.cumsum([len(r) for r in rows])
        flat = np.concatenate(rows).astype(np.int32) if offsets[-1] else np.zeros(0, np.int32)
    else:
        flat = np.zeros(0, dtype=np.int32)
    return flat, offsets


def unflatten(flat: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def _segment(docs: Sequence[np.ndarray], start: int) -> Segment:
    """Postings of ``docs`` (rows ``start``...), sorted by (term, row)."""
    flat, offsets = flatten(docs)
    rows = np.repeat(np.arange(start, start + len(docs), dtype=np.int64), np.diff(offsets))
    key, tf = np.unique((flat.astype(np.int64) << 32) | rows, return_counts=True)
    return (key >> 32).astype(np.int32), (key & 0xFFFFFFFF).astype(np.int32), tf.astype(np.float32)


def _merge(a: Segment, b: Segment) -> Segment:
    t = np.concatenate([a[0], b[0]])
    r = np.concatenate([a[1], b[1]])
    # two sorted runs: the stable sort (timsort) merges them in linear time
    order = np.argsort((t.astype(np.int64) << 32) | r, kind="stable")
    return t[order], r[order], np.concatenate([a[2], b[2]])[order]


class Postings:
    """The inverted index of one field (title + passage, or title alone) over rows 0..n-1."""

    def __init__(self, k1: float, b: float) -> None:
        self.k1, self.b = k1, b
        self.segments: list[Segment] = []
        self.lengths = np.zeros(0, dtype=np.float32)  # tokens per row
        self.df = np.zeros(0, dtype=np.int64)  # rows holding each term
        self._norm: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def postings(self) -> int:
        return sum(len(s[0]) for s in self.segments)

    def add(self, docs: Sequence[np.ndarray]) -> None:
        """Append ``docs`` (token-id arrays) as the next rows."""
        if not docs:
            return
        seg = _segment(docs, len(self.lengths))
        self.lengths = np.concatenate(
            [self.lengths, np.array([len(d) for d in docs], dtype=np.float32)]
        )
        if len(seg[0]):
            counts = np.bincount(seg[0], minlength=len(self.df))
            if len(counts) > len(self.df):
                self.df = np.concatenate([self.df, np.zeros(len(counts) - len(self.df), np.int64)])
            self.df += counts
            self.segments.append(seg)
        self._norm = None
        while len(self.segments) > 1 and 2 * len(self.segments[-1][0]) >= len(self.segments[-2][0]):
            last = self.segments.pop()
            self.segments[-1] = _merge(self.segments[-1], last)

    def compact(self, keep: np.ndarray, term_map: np.ndarray | None = None) -> None:
        """Keep the rows where ``keep`` is true (renumbered in order); ``term_map`` renumbers
        term ids (old -> new; terms left without postings may map anywhere)."""
        remap = np.cumsum(keep) - 1
        segs = []
        for t, r, f in self.segments:
            m = keep[r]
            t, r, f = t[m], remap[r[m]].astype(np.int32), f[m]
            if term_map is not None:
                t = term_map[t].astype(np.int32)
            if len(t):
                segs.append((t, r, f))
        self.segments = segs
        self.lengths = self.lengths[keep]
        size = len(self.df) if term_map is None else int(term_map.max(initial=-1)) + 1
        self.df = np.zeros(size, dtype=np.int64)
        for t, _, _ in segs:
            self.df += np.bincount(t, minlength=size)
        self._norm = None

    def merged(self) -> Segment:
        """All postings as one segment (what is saved)."""
        while len(self.segments) > 1:
            last = self.segments.pop()
            self.segments[-1] = _merge(self.segments[-1], last)
        if self.segments:
            return self.segments[0]
        return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32)

    def restore(self, seg: Segment, lengths: np.ndarray, vocab_size: int) -> None:
        self.segments = [seg] if len(seg[0]) else []
        self.lengths = lengths.astype(np.float32)
        self.df = np.bincount(seg[0], minlength=vocab_size).astype(np.int64)
        self._norm = None

    def idf(self) -> np.ndarray:
        n = len(self.lengths)
        return np.log(1.0 + (n - self.df + 0.5) / (self.df + 0.5))

    def scores(self, query_ids: Sequence[int]) -> np.ndarray:
        """BM25 of every row for the distinct term ids ``query_ids``."""
        n = len(self.lengths)
        out = np.zeros(n, dtype=np.float32)
        if not n or not query_ids:
            return out
        if self._norm is None:
            avg = float(self.lengths.mean()) or 1.0
            self._norm = (self.k1 * (1 - self.b + self.b * self.lengths / avg)).astype(np.float32)
        norm = self._norm
        for q in query_ids:
            if q >= len(self.df) or self.df[q] == 0:
                continue
            idf = np.float32(np.log(1.0 + (n - self.df[q] + 0.5) / (self.df[q] + 0.5)))
            key = np.int32(q)  # same dtype as the postings: no copy of the array per search
            for t, r, f in self.segments:
                lo, hi = np.searchsorted(t, key, "left"), np.searchsorted(t, key, "right")
                if hi > lo:
                    rows, tf = r[lo:hi], f[lo:hi]
                    out[rows] += idf * tf / (tf + norm[rows])
        return out
