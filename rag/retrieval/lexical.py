"""The lexical source: BM25 over the lexical index (:mod:`rag.index.lexical`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rag.index.lexical import top_rows
from rag.retrieval.base import Candidate, Query

if TYPE_CHECKING:
    from rag.index.lexical import LexicalIndex
    from rag.index.store import Store


class LexicalSource:
    name = "bm25"

    def __init__(self, index: LexicalIndex, store: Store) -> None:
        self.index = index
        self.store = store

    def refresh(self, total: int) -> None:
        """Catch up with another process's writes (the store holds ``total`` chunks)."""
        if total != len(self.index):  # by chunk ids: the cheap catch-up (rag.index.lexical)
            self.index.sync(self.store, full=False)

    def propose(self, query: Query, n: int) -> list[Candidate]:
        lex = self.index
        with lex.lock:
            qids = lex.query_ids(query.text)
            if not qids or not len(lex):
                return []
            body = query.bm25 = lex.scores(qids)  # score() reuses them (same lock held)
            out = []
            for rank, (row, score) in enumerate(
                top_rows(body, n, lex.mask(query.filters)), start=1
            ):
                out.append(
                    Candidate(
                        chunk_id=lex.ids[row],
                        paper_id=str(lex.paper_ids[row]),
                        row=row,
                        bm25_rank=rank,
                        bm25=score,
                    )
                )
            return out

    def score(self, query: Query, candidates: Sequence[Candidate]) -> None:
        """Exact BM25 (0 when no query term is in the chunk) for every candidate."""
        lex = self.index
        with lex.lock:
            body = query.bm25
            if body is None or len(body) != len(lex):
                qids = lex.query_ids(query.text)
                body = lex.scores(qids) if qids and len(lex) else None
            for c in candidates:
                if c.row is None:
                    c.row = lex.row(c.chunk_id)
                if c.bm25_rank is None:
                    c.bm25 = float(body[c.row]) if body is not None and c.row is not None else 0.0
