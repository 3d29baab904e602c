"""The Chroma vector store: embedded (PersistentClient under the data directory) or a server.

One collection holds every chunk. Its metadata records which embedder built it: opening it with
another embedder is a :class:`~rag.errors.ConfigError`, never silent garbage. Chunks of a paper
are written together and replaced together when the paper's abstract changes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from rag.errors import ConfigError, InputError, RagError
from rag.schema import Chunk, Paper

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

WRITE_BATCH = 1000


def sentence_offsets(chunk: Chunk, paper: Paper) -> str:
    """Character offsets of each sentence start in ``chunk.text``, as "0 57 130"."""
    offsets, pos = [], 0
    for sentence in paper.abstract[chunk.sentence_start : chunk.sentence_end]:
        offsets.append(pos)
        pos += len(sentence) + 1
    return " ".join(map(str, offsets))


def split_by_offsets(text: str, offsets: str | None) -> list[str]:
    """The sentences of a stored chunk (inverse of :func:`sentence_offsets`)."""
    if not offsets:
        return [text]
    starts = [int(x) for x in offsets.split()]
    bounds = [*starts, len(text) + 1]
    return [text[a : b - 1].strip() for a, b in itertools.pairwise(bounds) if a < b]


def where_in(field: str, values: Sequence[str]) -> Any:
    """A Chroma ``where`` clause: ``field`` is one of ``values``."""
    return {field: {"$in": list(values)}}


_YEAR_RE = re.compile(r"^\s*(\d{4})?\s*(\.\.)?\s*(\d{4})?\s*$")


def parse_years(text: str | int) -> tuple[int | None, int | None]:
    """``"2023"``, ``"2023..2024"``, ``"2023.."`` or ``"..2024"`` -> inclusive (first, last)."""
    raw = str(text)
    m = _YEAR_RE.match(raw)
    if not m or not (m.group(1) or m.group(3)) or (not m.group(2) and not m.group(1)):
        raise InputError(
            f"bad year filter {raw!r}: use YEAR, FIRST..LAST, FIRST.. or ..LAST (e.g. 2023..2024)"
        )
    first = int(m.group(1)) if m.group(1) else None
    last = int(m.group(3)) if m.group(3) else None
    if not m.group(2):
        last = first
    if first is not None and last is not None and first > last:
        raise InputError(f"bad year filter {raw!r}: {first} is after {last}")
    return first, last


@dataclass(frozen=True)
class Filters:
    """Metadata filters on retrieval, applied identically to the vector store (a Chroma
    ``where``) and to the lexical index (:meth:`mask`). Conditions combine with AND; the values
    inside one condition with OR. A paper without a year never passes a year filter."""

    years: tuple[int | None, int | None] | None = None
    sources: tuple[str, ...] = ()
    paper_ids: tuple[str, ...] = ()

    @classmethod
    def make(
        cls,
        *,
        year: str | int | tuple[int | None, int | None] | None = None,
        source: str | Sequence[str] | None = None,
        paper: str | Sequence[str] | None = None,
    ) -> Filters | None:
        """Validated filters from user values (None when there are none); a bad value raises
        :class:`~rag.errors.InputError` with one line saying what is wrong."""
        years = None
        if year is not None and year != "":
            years = year if isinstance(year, tuple) else parse_years(year)
            if not (years[0] is not None or years[1] is not None):
                raise InputError("bad year filter: give a first or a last year")
        sources = _values("source", source)
        papers = _values("paper", paper)
        if years is None and not sources and not papers:
            return None
        return cls(years=years, sources=sources, paper_ids=papers)

    def __bool__(self) -> bool:
        return self.years is not None or bool(self.sources) or bool(self.paper_ids)

    def clauses(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.years is not None:
            first, last = self.years
            if first is not None:
                out.append({"year": {"$gte": first}})
            if last is not None:
                out.append({"year": {"$lte": last}})
        if self.sources:
            out.append(where_in("source", self.sources))
        if self.paper_ids:
            out.append(where_in("paper_id", self.paper_ids))
        return out

    def where(self) -> dict[str, Any] | None:
        """The Chroma ``where`` clause (None without conditions)."""
        clauses = self.clauses()
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, meta: Mapping[str, Any]) -> bool:
        """Whether one chunk's metadata passes (the rule the Chroma ``where`` implements)."""
        if self.years is not None:
            year = meta.get("year")
            if not isinstance(year, int) or isinstance(year, bool):
                return False
            first, last = self.years
            if (first is not None and year < first) or (last is not None and year > last):
                return False
        if self.sources and meta.get("source") not in self.sources:
            return False
        return not (self.paper_ids and meta.get("paper_id") not in self.paper_ids)

    def mask(self, *, paper_ids: np.ndarray, sources: np.ndarray, years: np.ndarray) -> np.ndarray:
        """:meth:`matches` over columns of many chunks at once (years: ints, missing = a very
        negative number); returns a boolean mask."""
        keep = np.ones(len(paper_ids), dtype=bool)
        if self.years is not None:
            first, last = self.years
            keep &= years > -(2**31)
            if first is not None:
                keep &= years >= first
            if last is not None:
                keep &= years <= last
        if self.sources:
            keep &= np.isin(sources.astype(str), list(self.sources))
        if self.paper_ids:
            keep &= np.isin(paper_ids.astype(str), list(self.paper_ids))
        return keep

    def describe(self) -> str:
        parts = []
        if self.years is not None:
            first, last = self.years
            parts.append(f"year {first}" if first == last else f"year {first or ''}..{last or ''}")
        if self.sources:
            parts.append("source " + ", ".join(self.sources))
        if self.paper_ids:
            parts.append("paper " + ", ".join(self.paper_ids))
        return "; ".join(parts)


def _values(name: str, value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else list(value)
    out = []
    for v in values:
        if not isinstance(v, str) or not v.strip():
            raise InputError(f"bad {name} filter {v!r}: expected a non-empty name")
        out.append(v.strip())
    return tuple(dict.fromkeys(out))


def chunk_metadata(chunk: Chunk, paper: Paper, digest: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "paper_id": paper.paper_id,
        "title": paper.title,
        "chunk_index": chunk.chunk_index,
        "sentence_start": chunk.sentence_start,
        "sentence_end": chunk.sentence_end,
        "n_tokens": chunk.n_tokens,
        "content_hash": digest,
        "source": paper.source,
        "sent_offsets": sentence_offsets(chunk, paper),
    }
    for key in ("date", "year", "url", "doi"):
        value = getattr(paper, key)
        if value is not None:
            meta[key] = value
    if paper.authors:
        meta["authors"] = "; ".join(paper.authors)
    return meta


def open_client(home: Path, chroma_url: str | None) -> ClientAPI:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        url = urlparse(chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"RAG_CHROMA_URL must look like http://host:port, got {chroma_url!r}")
        try:
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as e:  # chromadb raises bare ValueError/ConnectionError here
            raise RagError(f"cannot reach the Chroma server at {chroma_url}: {e}") from None
    path = home / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class Store:
    """The chunk collection of one library."""

    def __init__(
        self,
        home: Path,
        *,
        chroma_url: str | None = None,
        collection: str = "papers",
        embedder_name: str,
        dim: int,
    ) -> None:
        self.home = home
        self.chroma_url = chroma_url
        self.client = open_client(home, chroma_url)
        self.embedder_name = embedder_name
        try:
            self.collection: Collection = self.client.get_or_create_collection(
                collection,
                metadata={
                    "hnsw:space": "cosine",
                    "hnsw:search_ef": 200,
                    "hnsw:construction_ef": 200,
                    "embedder": embedder_name,
                    "dim": dim,
                },
                embedding_function=None,
            )
        except Exception as e:
            where = chroma_url or str(home / "chroma")
            raise RagError(
                f"cannot open the Chroma collection {collection!r} at {where}: {e}"
            ) from None
        built_with = (self.collection.metadata or {}).get("embedder")
        if built_with != embedder_name:
            raise ConfigError(
                f"this library was built with embedder {built_with!r} but {embedder_name!r} is "
                "configured",
                hint=f"set RAG_EMBEDDER to match, or use another --home; library: {self.location}",
            )

    @property
    def location(self) -> str:
        return self.chroma_url or str(self.home / "chroma")

    # --- reading --------------------------------------------------------------------------

    def count_chunks(self) -> int:
        return int(self.collection.count())

    def count_papers(self) -> int:
        return len(self.collection.get(where={"chunk_index": 0}, include=[])["ids"])

    def paper_hashes(self, paper_ids: Sequence[str]) -> dict[str, str]:
        """content_hash of each given paper that the store holds."""
        out: dict[str, str] = {}
        ids = list(paper_ids)
        for i in range(0, len(ids), 500):
            got = self.collection.get(
                where={"$and": [where_in("paper_id", ids[i : i + 500]), {"chunk_index": 0}]},
                include=["metadatas"],
            )
            for meta in got["metadatas"] or []:
                out[str(meta["paper_id"])] = str(meta["content_hash"])
        return out

    def get_chunks(self, where: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every chunk (id, text, metadata), optionally filtered; for lexical indexes and eval."""
        got = self.collection.get(where=where, include=["documents", "metadatas"])
        return [
            {"id": i, "text": d, "metadata": m}
            for i, d, m in zip(
                got["ids"], got["documents"] or [], got["metadatas"] or [], strict=False
            )
        ]

    # --- writing --------------------------------------------------------------------------

    def replace_papers(
        self,
        papers: Sequence[Paper],
        chunks: Sequence[Chunk],
        embeddings: np.ndarray,
        digests: dict[str, str],
        *,
        replaced: Sequence[str] = (),
    ) -> None:
        """Write the chunks of ``papers``; drop stale chunks of the ``replaced`` papers.

        New chunks are upserted first and stale ones removed after, so an interrupted write
        leaves every paper readable (old or new version), never missing.
        """
        by_id = {p.paper_id: p for p in papers}
        ids = [c.chunk_id for c in chunks]
        docs = [c.text for c in chunks]
        metas: Any = [chunk_metadata(c, by_id[c.paper_id], digests[c.paper_id]) for c in chunks]
        for i in range(0, len(ids), WRITE_BATCH):
            self.collection.upsert(
                ids=ids[i : i + WRITE_BATCH],
                embeddings=embeddings[i : i + WRITE_BATCH],
                documents=docs[i : i + WRITE_BATCH],
                metadatas=metas[i : i + WRITE_BATCH],
            )
        if replaced:
            keep = set(ids)
            for i in range(0, len(replaced), 500):
                old = self.collection.get(
                    where=where_in("paper_id", replaced[i : i + 500]), include=[]
                )["ids"]
                stale = [x for x in old if x not in keep]
                if stale:
                    self.collection.delete(ids=stale)

    def delete_papers(self, paper_ids: Sequence[str]) -> int:
        """Remove every chunk of the given papers; returns how many chunks went."""
        removed = 0
        for i in range(0, len(paper_ids), 500):
            old = self.collection.get(
                where=where_in("paper_id", paper_ids[i : i + 500]), include=[]
            )["ids"]
            if old:
                self.collection.delete(ids=old)
                removed += len(old)
        return removed
