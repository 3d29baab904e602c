"""The lexical side of retrieval: a BM25 index (bm25s) over title + passage of every chunk.

The index lives beside the vector store, under ``<RAG_HOME>/lexical/<key>/index.npz`` (one file,
replaced atomically), where ``key`` is the collection name for the embedded store or a hash of
server URL + collection for a Chroma server. It holds, per chunk: id, paper id, source file, year
and content hash (for filters and for syncing), and the token ids of the passage and of the title.
BM25 itself is rebuilt from the token ids when loaded (a fraction of a second for 10k chunks).

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
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.index.bm25 import BM25 as _BM25
from rag.index.bm25 import flatten as _flatten
from rag.index.bm25 import unflatten as _unflatten
from rag.text import Tokenizer, TokenizerConfig

if TYPE_CHECKING:
    from rag.index.filters import Filters
    from rag.index.store import Store

FORMAT = 1
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


def fingerprint(ids: Sequence[str], hashes: Sequence[str]) -> str:
    """Chunk count + a hash of (chunk id, content hash) pairs, order-independent."""
    h = hashlib.sha1()
    for cid, ch in sorted(zip(ids, hashes, strict=True)):
        h.update(f"{cid}\x00{ch}\n".encode())
    return f"{len(ids)}:{h.hexdigest()}"


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
        self.title_tokens: list[np.ndarray] = []
        self.fingerprint = fingerprint([], [])
        self._row: dict[str, int] = {}
        self._df: np.ndarray | None = None
        self._bm25: _BM25 | None = None
        self._title_bm25: _BM25 | None = None
        self._idf: np.ndarray | None = None

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
        self._clear()
        try:
            with np.load(self.file, allow_pickle=False) as z:
                if str(z["meta"]) != self._meta_key():
                    return False
                ids = [str(x) for x in z["ids"]]
                self.ids = ids
                self.paper_ids = np.array([str(x) for x in z["paper_ids"]], dtype=object)
                self.sources = np.array([str(x) for x in z["sources"]], dtype=object)
                self.years = z["years"].astype(np.int64)
                self.hashes = [str(x) for x in z["hashes"]]
                self.vocab = {str(t): i for i, t in enumerate(z["vocab"])}
                self.doc_tokens = _unflatten(z["doc_flat"], z["doc_offsets"])
                self.title_tokens = _unflatten(z["title_flat"], z["title_offsets"])
                self.fingerprint = str(z["fingerprint"])
        except (OSError, KeyError, ValueError):
            self._clear()
            return False
        self._row = {cid: i for i, cid in enumerate(self.ids)}
        return True

    def save(self) -> None:
        """Write the index (atomically); a read-only library just keeps it in memory."""
        try:
            self._save()
        except OSError as e:
            print(
                f"note: lexical index not saved ({e}); it is rebuilt when needed", file=sys.stderr
            )

    def _save(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / f".index-{os.getpid()}.tmp.npz"
        try:
            self._write(tmp)
            os.replace(tmp, self.file)
        finally:
            tmp.unlink(missing_ok=True)

    def _write(self, tmp: Path) -> None:
        vocab = sorted(self.vocab, key=self.vocab.__getitem__)
        doc_flat, doc_offsets = _flatten(self.doc_tokens)
        title_flat, title_offsets = _flatten(self.title_tokens)
        np.savez(
            tmp,
            meta=np.array(self._meta_key()),
            fingerprint=np.array(self.fingerprint),
            ids=np.array(self.ids, dtype=str),
            paper_ids=np.array([str(x) for x in self.paper_ids], dtype=str),
            sources=np.array([str(x) for x in self.sources], dtype=str),
            years=self.years.astype(np.int64),
            hashes=np.array(self.hashes, dtype=str),
            vocab=np.array(vocab, dtype=str),
            doc_flat=doc_flat,
            doc_offsets=doc_offsets,
            title_flat=title_flat,
            title_offsets=title_offsets,
        )

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

    def sync(self, store: Store) -> bool:
        """Bring the index in line with ``store``; True if anything changed (then saved)."""
        with self.lock:
            return self._sync(store)

    def _sync(self, store: Store) -> bool:
        metas = {cid: dict(m or {}) for cid, m, _ in self._store_rows(store, documents=False)}
        ids = list(metas)
        hashes = [str(metas[c].get("content_hash", "")) for c in ids]
        fp = fingerprint(ids, hashes)
        if fp == self.fingerprint:
            return False
        old = {cid: i for i, cid in enumerate(self.ids)}
        old_hash = dict(zip(self.ids, self.hashes, strict=True))
        todo = [c for c, h in zip(ids, hashes, strict=True) if old_hash.get(c) != h]
        fresh: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for cid, meta, doc in self._store_rows(store, documents=True, ids=todo):
            title = str(meta.get("title", ""))
            fresh[cid] = (
                self._ids_for(self.tokenizer(index_text(title, doc))),
                self._ids_for(self.tokenizer(title)),
            )
        doc_tokens, title_tokens = [], []
        empty = np.zeros(0, dtype=np.int32)
        for cid in ids:
            if cid in fresh:
                d, t = fresh[cid]
            elif cid in old:
                d, t = self.doc_tokens[old[cid]], self.title_tokens[old[cid]]
            else:  # removed by another process between the two reads: fixed by the next sync
                d, t = empty, empty
            doc_tokens.append(d)
            title_tokens.append(t)
        self.ids = ids
        self.hashes = hashes
        self.paper_ids = np.array([str(metas[c].get("paper_id", "")) for c in ids], dtype=object)
        self.sources = np.array([str(metas[c].get("source", "")) for c in ids], dtype=object)
        self.years = np.array([_year(metas[c].get("year")) for c in ids], dtype=np.int64)
        self.doc_tokens, self.title_tokens = doc_tokens, title_tokens
        self._compact_vocab()
        self.fingerprint = fp
        self._row = {cid: i for i, cid in enumerate(self.ids)}
        self._bm25 = self._title_bm25 = None
        self._idf = self._df = None
        self.save()
        return True

    def _ids_for(self, tokens: Iterable[str]) -> np.ndarray:
        vocab = self.vocab
        out = []
        for t in tokens:
            i = vocab.get(t)
            if i is None:
                i = vocab[t] = len(vocab)
            out.append(i)
        return np.array(out, dtype=np.int32)

    def _compact_vocab(self) -> None:
        """Drop terms no chunk uses any more (after removals), renumbering densely."""
        used = np.zeros(len(self.vocab), dtype=bool)
        for rows in (self.doc_tokens, self.title_tokens):
            for r in rows:
                used[r] = True
        if used.all():
            return
        remap = np.cumsum(used) - 1
        words = sorted(self.vocab, key=self.vocab.__getitem__)
        self.vocab = {w: int(remap[i]) for i, w in enumerate(words) if used[i]}
        self.doc_tokens = [remap[r].astype(np.int32) for r in self.doc_tokens]
        self.title_tokens = [remap[r].astype(np.int32) for r in self.title_tokens]

    # --- scoring ------------------------------------------------------------------------------

    def _model(self, title: bool = False) -> _BM25:
        """BM25 over title + passage (or over titles alone), built on first use."""
        with self.lock:
            return self._built_model(title)

    def _built_model(self, title: bool) -> _BM25:
        if title:
            if self._title_bm25 is None:
                self._title_bm25 = _BM25(self.title_tokens, len(self.vocab), self.k1, self.b)
            return self._title_bm25
        if self._bm25 is None:
            self._bm25 = _BM25(self.doc_tokens, len(self.vocab), self.k1, self.b)
        return self._bm25

    def idf(self) -> np.ndarray:
        """Lucene idf of every term over the chunks (for reranking features)."""
        if self._idf is None or len(self._idf) != len(self.vocab):
            df = np.zeros(len(self.vocab), dtype=np.float64)
            for r in self.doc_tokens:
                df[np.unique(r)] += 1
            n = len(self.doc_tokens)
            self._idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
        return self._idf

    def df_shares(self, text: str) -> list[tuple[str, float]]:
        """``(term, share of chunks containing it)`` for each distinct term of ``text`` (0 for
        terms no chunk has): how specific a question's words are in this library."""
        with self.lock:
            if self._df is None or len(self._df) != len(self.vocab):
                df = np.zeros(len(self.vocab), dtype=np.float64)
                for r in self.doc_tokens:
                    df[np.unique(r)] += 1
                self._df = df
            n = max(len(self.doc_tokens), 1)
            out = []
            for term in dict.fromkeys(self.tokenizer(text)):
                i = self.vocab.get(term)
                out.append((term, float(self._df[i]) / n if i is not None else 0.0))
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
        return self._model(title).scores(ids)

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
    order = positive[np.lexsort((positive, -s[positive]))][: max(k, 0)]
    return [(int(i), float(s[i])) for i in order]


def _year(value: Any) -> int:
    from rag.schema import stored_year

    year = stored_year(value)
    return NO_YEAR if year is None else year
