"""The lexical side of retrieval: a BM25 index over title + passage of every chunk.

The index lives beside the vector store, under ``<RAG_HOME>/lexical/<key>/``, where ``key`` is
the collection name for the embedded store or a hash of server URL + collection for a Chroma
server. It holds, per chunk: id, paper id, source file, year and content hash (for filters and for
syncing), the passage's token ids (for reranking features), and two inverted indexes
(:class:`rag.index.bm25.Postings`: title + passage, and title alone) that are updated in place:
adding chunks never rebuilds them. On disk: ``index.npz`` (a full copy, replaced atomically) plus
``delta-*.npz`` files, one per sync that only added chunks (its new rows), replayed on load and
folded into ``index.npz`` every few syncs or on any removal (:mod:`rag.index.lexical_file`).

The index is a cache of the store, never the other way round: :meth:`LexicalIndex.sync` compares
a fingerprint of the store's chunks (ids and content hashes) with the index's, tokenises only the
chunks that are new or changed, drops the ones that went, and saves. Ingest, re-ingest and removal
call it; a library opened after another process wrote to the store finds the index stale and
syncs it on first use. Deleting the folder is always safe.

Tokenisation (measured on SciFact train claims, ``bench/retrieval.py --tokenizers``): NFKC, case
folded, words of letters and digits, hyphenated compounds split into their parts ("Block-LoRA" ->
"block", "lora"; also indexing the joined form measured worse), English stopwords dropped (minus
negations and comparatives), single ASCII letters dropped (Greek letters kept: "TNF-α"), Snowball
(Porter2) stemming. Stemming is what matters: +0.04 nDCG@10 over none.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.index.bm25 import Postings
from rag.text import Tokenizer, TokenizerConfig

if TYPE_CHECKING:
    from rag.index.filters import Filters
    from rag.index.store import Store

FORMAT = 2
#: Years of papers without one (never match a year filter).
NO_YEAR = -(2**31)
PAGE = 5000


def index_text(title: str, passage: str) -> str:
    """What the lexical index reads for a chunk: the same text the embedder reads."""
    from rag.index.chunking import embed_text

    return embed_text(title, passage)


def index_key(collection: str, chroma_url: str | None) -> str:
    """Folder name of a library's lexical index under ``<RAG_HOME>/lexical``."""
    if not chroma_url:
        return re.sub(r"[^A-Za-z0-9._-]", "_", collection)
    digest = hashlib.sha1(f"{chroma_url.rstrip('/')}\n{collection}".encode()).hexdigest()[:16]
    return f"server-{digest}"


def _digest(cid: str, content_hash: str) -> int:
    h = hashlib.blake2b(f"{cid}\x00{content_hash}".encode(), digest_size=8)
    return int.from_bytes(h.digest())


def _fp(count: int, total: int) -> str:
    return f"{count}:{total:016x}"


def fingerprint(ids: Sequence[str], hashes: Sequence[str]) -> str:
    """Chunk count + the sum (mod 2**64) of a hash of each (chunk id, content hash) pair:
    order-independent, and updated chunk by chunk as the index changes."""
    total = sum(_digest(c, h) for c, h in zip(ids, hashes, strict=True)) % 2**64
    return _fp(len(ids), total)


class LexicalIndex:
    """BM25 over the chunks of one store, persisted and kept in sync with it."""

    def __init__(
        self,
        path: Path,
        *,
        tokenizer: TokenizerConfig | None = None,
        k1: float = 0.9,
        b: float = 0.4,
    ) -> None:
        self.path = path
        #: Held by :meth:`sync` and by readers that need one consistent view (a retrieval):
        #: several threads may share one index.
        self.lock = threading.RLock()
        self.tokenizer = Tokenizer(tokenizer)
        self.k1, self.b = k1, b
        #: What the last sync did (for benches and tests): chunks tokenised, removed, and
        #: whether the save was a delta or a full copy.
        self.last_sync: dict[str, Any] = {}
        self._clear()
        self.load()

    # --- state --------------------------------------------------------------------------------

    def _clear(self) -> None:
        self.ids: list[str] = []
        self.paper_ids = np.zeros(0, dtype=object)
        self.sources = np.zeros(0, dtype=object)
        self.years = np.zeros(0, dtype=np.int64)
        self.hashes: list[str] = []
        self.vocab: dict[str, int] = {}
        self.doc_tokens: list[np.ndarray] = []
        self.body = Postings(self.k1, self.b)
        self.title = Postings(self.k1, self.b)
        self._fp_sum = 0
        self._row: dict[str, int] = {}
        self.deltas = 0  # delta files on disk since the last full copy
        #: (fingerprint before, vocabulary size before, title token ids) of the last append.
        self.pending: tuple[str, int, list[np.ndarray]] = ("", 0, [])

    @property
    def fingerprint(self) -> str:
        return _fp(len(self.ids), self._fp_sum)

    @property
    def file(self) -> Path:
        return self.path / "index.npz"

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, chunk_id: str) -> int | None:
        return self._row.get(chunk_id)

    def _meta_key(self) -> str:
        return f"v{FORMAT}|{self.tokenizer.config.key}"

    def load(self) -> bool:
        """Read the saved index; False (and empty) when missing, unreadable or of another format."""
        from rag.index.lexical_file import load

        with self.lock:
            self._clear()
            try:
                return load(self)
            except (OSError, KeyError, ValueError, IndexError):
                self._clear()
                return False

    def save(self, added: int | None = None) -> None:
        """Write the index: the last ``added`` rows as a delta file, or (None) a full copy."""
        from rag.index.lexical_file import save

        save(self, added)

    # --- syncing with the store -------------------------------------------------------------

    @staticmethod
    def _store_rows(
        store: Store, *, documents: bool, ids: Sequence[str] | None = None
    ) -> Iterator[tuple[str, Mapping[str, Any], str]]:
        """(chunk id, metadata, document or "") of the given chunks, or of all, in pages."""
        pages: Iterable[dict[str, Any]]
        if ids is not None:
            pages = (store.columns(ids[i : i + 500]) for i in range(0, len(ids), 500))
        else:
            pages = _all_pages(store, documents)
        for got in pages:
            metas = got.get("metadatas") or [{}] * len(got["ids"])
            docs = got.get("documents") or [""] * len(got["ids"])
            for cid, meta, doc in zip(got["ids"], metas, docs, strict=False):
                yield str(cid), meta or {}, doc or ""

    def sync(self, store: Store, *, full: bool = True, papers: Sequence[str] | None = None) -> bool:
        """Bring the index in line with ``store``; True if anything changed (then saved).

        ``full``: compare every chunk's content hash (reads all metadata: seconds per 10k chunks).
        Otherwise compare chunk ids only (about 30x cheaper), plus the content hashes of the
        chunks of ``papers`` (those just written): what a writer needs after its own write, and
        what a reader needs to catch up with chunks another process added or removed."""
        with self.lock:
            return self._sync(store, full, papers)

    def _sync(self, store: Store, full: bool, papers: Sequence[str] | None) -> bool:
        if full:
            stored = {
                cid: str(m.get("content_hash", ""))
                for cid, m, _ in self._store_rows(store, documents=False)
            }
            if fingerprint(list(stored), list(stored.values())) == self.fingerprint:
                self.last_sync = {"added": 0, "removed": 0, "saved": None}
                return False
            keep = np.array(
                [stored.get(c) == h for c, h in zip(self.ids, self.hashes, strict=True)]
            )
            have = {c for c, k in zip(self.ids, keep, strict=True) if k}
            todo = [c for c in stored if c not in have]
        else:
            written = store.chunk_hashes(list(papers)) if papers else {}
            quick = self._written(store, papers, written) if papers else None
            if quick is not None:
                keep, todo = quick
            else:
                present = set(store.chunk_ids())
                keep = np.array([c in present for c in self.ids], dtype=bool)
                for cid, h in written.items():
                    row = self._row.get(cid)
                    if row is not None and self.hashes[row] != h:
                        keep[row] = False
                have = {c for c, k in zip(self.ids, keep, strict=True) if k}
                todo = [c for c in present if c not in have]
        removed = int((~keep).sum()) if len(keep) else 0
        if not todo and not removed:
            self.last_sync = {"added": 0, "removed": 0, "saved": None}
            return False
        if removed:
            self._compact(keep)
        rows = list(self._store_rows(store, documents=True, ids=todo))
        before = (self.fingerprint, len(self.vocab))
        self.pending = (*before, self._append(rows))
        saved = "full" if removed else "delta"
        self.save(None if removed else len(rows))
        self.last_sync = {"added": len(rows), "removed": removed, "saved": saved}
        return True

    def _written(
        self, store: Store, papers: Sequence[str], written: Mapping[str, str]
    ) -> tuple[np.ndarray, list[str]] | None:
        """(rows to keep, chunk ids to add) after a write of ``papers`` whose chunks are now
        ``written`` (id -> content hash), read from the batch alone; None when the store's
        chunk count says someone else wrote too (then every chunk id is compared)."""
        mine = set(papers)  # (np.isin on object arrays took seconds per 10k rows)
        keep = np.fromiter((p not in mine for p in self.paper_ids), bool, len(self.paper_ids))
        todo = []
        for cid, h in written.items():
            row = self._row.get(cid)
            if row is not None and self.hashes[row] == h:
                keep[row] = True
            else:
                todo.append(cid)
        return (keep, todo) if int(keep.sum()) + len(todo) == store.count_chunks() else None

    def _append(self, rows: Sequence[tuple[str, Mapping[str, Any], str]]) -> list[np.ndarray]:
        """Tokenise and add chunks (id, metadata, text) as new rows; their titles' token ids."""
        docs, titles = [], []
        for _cid, meta, text in rows:
            title = str(meta.get("title", ""))
            docs.append(self._ids_for(self.tokenizer(index_text(title, text))))
            titles.append(self._ids_for(self.tokenizer(title)))
        self._add_rows(
            [r[0] for r in rows],
            [str(r[1].get("paper_id", "")) for r in rows],
            [str(r[1].get("source", "")) for r in rows],
            [_year(r[1].get("year")) for r in rows],
            [str(r[1].get("content_hash", "")) for r in rows],
            docs,
            titles,
        )
        return titles

    def _add_rows(
        self,
        ids: Sequence[str],
        paper_ids: Sequence[str],
        sources: Sequence[str],
        years: Sequence[int],
        hashes: Sequence[str],
        docs: Sequence[np.ndarray],
        titles: Sequence[np.ndarray],
    ) -> None:
        if not ids:
            return
        start = len(self.ids)
        self.ids.extend(ids)
        self.hashes.extend(hashes)
        self.paper_ids = np.concatenate([self.paper_ids, np.array(paper_ids, dtype=object)])
        self.sources = np.concatenate([self.sources, np.array(sources, dtype=object)])
        self.years = np.concatenate([self.years, np.array(years, dtype=np.int64)])
        self.doc_tokens.extend(docs)
        self.body.add(docs)
        self.title.add(titles)
        for i, cid in enumerate(ids, start=start):
            self._row[cid] = i
        self._fp_sum = (self._fp_sum + sum(map(_digest, ids, hashes))) % 2**64

    def _compact(self, keep: np.ndarray) -> None:
        """Drop the rows where ``keep`` is false, and the terms no row uses any more."""
        gone = [(c, h) for c, h, k in zip(self.ids, self.hashes, keep, strict=True) if not k]
        self._fp_sum = (self._fp_sum - sum(_digest(c, h) for c, h in gone)) % 2**64
        self.ids = [c for c, k in zip(self.ids, keep, strict=True) if k]
        self.hashes = [h for h, k in zip(self.hashes, keep, strict=True) if k]
        self.paper_ids, self.sources = self.paper_ids[keep], self.sources[keep]
        self.years = self.years[keep]
        self.doc_tokens = [d for d, k in zip(self.doc_tokens, keep, strict=True) if k]
        self._row = {cid: i for i, cid in enumerate(self.ids)}
        self.body.compact(keep)
        self.title.compact(keep)
        used = np.zeros(len(self.vocab), dtype=bool)
        for p in (self.body, self.title):
            used[: len(p.df)] |= p.df > 0
        if used.all():
            return
        remap = np.cumsum(used) - 1
        words = sorted(self.vocab, key=self.vocab.__getitem__)
        self.vocab = {w: int(remap[i]) for i, w in enumerate(words) if used[i]}
        self.doc_tokens = [remap[r].astype(np.int32) for r in self.doc_tokens]
        for p in (self.body, self.title):
            p.compact(np.ones(len(p), dtype=bool), remap)

    def _ids_for(self, tokens: Iterable[str]) -> np.ndarray:
        vocab = self.vocab
        out = []
        for t in tokens:
            i = vocab.get(t)
            if i is None:
                i = vocab[t] = len(vocab)
            out.append(i)
        return np.array(out, dtype=np.int32)

    # --- scoring ------------------------------------------------------------------------------

    def idf(self) -> np.ndarray:
        """Lucene idf of every term over the chunks (for reranking features)."""
        idf = self.body.idf()
        if len(idf) < len(self.vocab):
            idf = np.concatenate([idf, np.full(len(self.vocab) - len(idf), idf.max(initial=0.0))])
        return idf

    def df_shares(self, text: str) -> list[tuple[str, float]]:
        """``(term, share of chunks containing it)`` for each distinct term of ``text`` (0 for
        terms no chunk has): how specific a question's words are in this library."""
        with self.lock:
            df = self.body.df
            n = max(len(self.ids), 1)
            out = []
            for term in dict.fromkeys(self.tokenizer(text)):
                i = self.vocab.get(term)
                out.append((term, float(df[i]) / n if i is not None and i < len(df) else 0.0))
            return out

    def query_ids(self, query: str) -> list[int]:
        """Distinct in-vocabulary term ids of ``query``."""
        vocab = self.vocab
        return list(
            dict.fromkeys(i for t in self.tokenizer(query) if (i := vocab.get(t)) is not None)
        )

    def scores(self, query: str | Sequence[int], *, title: bool = False) -> np.ndarray:
        """BM25 score of every chunk (row order) for ``query``; title-only BM25 if ``title``."""
        ids = self.query_ids(query) if isinstance(query, str) else list(query)
        with self.lock:
            return (self.title if title else self.body).scores(ids)

    def mask(self, filters: Filters | None) -> np.ndarray | None:
        """Rows passing ``filters`` (None: all), by the same rules as the Chroma ``where``."""
        if filters is None or not filters:
            return None
        return filters.mask(paper_ids=self.paper_ids, sources=self.sources, years=self.years)

    def search(
        self, query: str, k: int, *, mask: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """The best ``k`` rows with a positive score, as (row, score), best first."""
        if not self.ids or k <= 0:
            return []
        scores = self.scores(query)
        return top_rows(scores, k, mask)

    def known_sources(self) -> set[str]:
        return {str(s) for s in self.sources}


def _all_pages(store: Store, documents: bool) -> Iterator[dict[str, Any]]:
    offset = 0
    while True:
        read = store.columns if documents else store.digests
        got: dict[str, Any] = read(offset=offset, limit=PAGE)
        yield got
        if len(got["ids"]) < PAGE:
            return
        offset += PAGE


def top_rows(scores: np.ndarray, k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
    """Indices of the ``k`` largest positive ``scores`` (within ``mask``), best first; ties by
    row order, so results are deterministic."""
    s = scores if mask is None else np.where(mask, scores, 0.0)
    positive = np.flatnonzero(s > 0)
    if 0 < k < len(positive):  # the k best and their ties, before sorting (67k rows: 16->1 ms)
        vals = s[positive]
        positive = positive[vals >= np.partition(vals, len(vals) - k)[len(vals) - k]]
    order = positive[np.lexsort((positive, -s[positive]))][: max(k, 0)]
    return [(int(i), float(s[i])) for i in order]


def _year(value: Any) -> int:
    from rag.schema import stored_year

    year = stored_year(value)
    return NO_YEAR if year is None else year
