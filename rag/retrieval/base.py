"""What every retrieval stage promises: one interface per stage.

* a :class:`CandidateSource` (dense, lexical) proposes its best chunks for a query, and scores
  exactly any candidate another source proposed;
* a :class:`Fusion` turns the union of candidates into one ranking;
* a :class:`Reranker` reorders the top of that ranking, reading each passage's **text** (so a
  text model, such as a cross-encoder, can plug in);
* a :class:`Retriever` is the whole stage: query in, :class:`~rag.schema.Hit`\\ s out.

Stages are stateless between calls: everything one query needs lives in its :class:`Query` and
its candidates, so one retriever serves many threads at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rag.schema import Hit

if TYPE_CHECKING:
    from rag.index.filters import Filters


@dataclass
class Query:
    """One retrieval request."""

    text: str
    k: int
    filters: Filters | None = None
    per_paper: int | None = None
    vector: np.ndarray | None = None  # the query embedding, once computed
    bm25: np.ndarray | None = None  # BM25 of every lexical index row, once computed


@dataclass
class Candidate:
    """One chunk proposed by a source, with what each source said about it."""

    chunk_id: str
    paper_id: str
    row: int | None = None  # row in the lexical index
    dense_rank: int | None = None  # 1-based rank in the dense list, None if not in it
    cosine: float | None = None  # exact cosine to the query (None: not known yet)
    bm25_rank: int | None = None  # 1-based rank in the BM25 list, None if not in it
    bm25: float = 0.0  # exact BM25 score of the chunk (0 when it shares no term)
    fused: float = 0.0
    text: str | None = None  # passage text, when the source already read it
    metadata: dict[str, object] = field(default_factory=dict)


class CandidateSource(Protocol):
    name: str

    def propose(self, query: Query, n: int) -> list[Candidate]:
        """Its best ``n`` chunks for ``query`` (within ``query.filters``), best first."""
        ...

    def score(self, query: Query, candidates: Sequence[Candidate]) -> None:
        """Fill this source's exact score on candidates that lack it."""
        ...


class Fusion(Protocol):
    def fuse(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        """Set each candidate's ``fused`` score; return them best first."""
        ...


class Reranker(Protocol):
    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        """Reorder ``hits`` (text and metadata included) for ``query``, best first."""
        ...


class Retriever(Protocol):
    def retrieve(
        self,
        query: str,
        k: int,
        filters: Filters | None = None,
        *,
        per_paper: int | None = None,
    ) -> list[Hit]:
        """The best ``k`` chunks for ``query``, at most ``per_paper`` from one paper if given."""
        ...
