"""What the server, the OpenAI endpoint and the MCP tools do with a library, in one place:
answer (with a per-request ``k``), resolve cited passages into sources with their paper's
metadata, list and show papers, and keep chat conversations (resumable from the question log).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from rag.errors import InputError
from rag.index.chunking import split_by_offsets
from rag.interfaces.contract import FilterSpec, PaperInfo, PaperList, RankedHit, Source
from rag.interfaces.question_log import QuestionLog, new_conversation_id

if TYPE_CHECKING:
    from rag.answering.chat import ChatSession
    from rag.index.filters import Filters
    from rag.library import Library
    from rag.schema import Answer, Hit


def filters_of(lib: Library, spec: FilterSpec | None) -> Filters | None:
    if spec is None:
        return None
    return lib.filters(year=spec.year, source=spec.source or None, paper=spec.paper or None)


def ranked(hits: list[Hit]) -> list[RankedHit]:
    return [
        RankedHit(
            rank=i,
            paper_id=h.paper_id,
            title=h.title,
            chunk_id=h.chunk_id,
            score=round(h.score, 4),
            text=h.text,
        )
        for i, h in enumerate(hits, 1)
    ]


def ask_with(lib: Library, question: str, k: int | None, filters: Filters | None) -> Answer:
    """``lib.ask``, reading ``k`` passages instead of the configured ``top_k`` when given."""
    if k is None:
        return lib.ask(question, filters=filters)
    pipeline = lib.pipeline
    t0 = time.perf_counter()
    sources = pipeline.retrieve(question, k, filters=filters, per_paper=pipeline.max_per_paper)
    return pipeline.answer(question, sources, started=t0)


# --- papers and sources -------------------------------------------------------------------------


def _authors(meta: dict[str, Any]) -> list[str]:
    raw = meta.get("authors")
    if isinstance(raw, list):
        return [str(a) for a in raw]
    return [a.strip() for a in str(raw).split(";") if a.strip()] if raw else []


def _year(meta: dict[str, Any]) -> int | None:
    from rag.schema import stored_year

    return stored_year(meta.get("year"))


def _opt(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return str(value) if value not in (None, "") else None


def paper_info(
    meta: dict[str, Any], chunks: int | None = None, text: str | None = None
) -> PaperInfo:
    return PaperInfo(
        paper_id=str(meta.get("paper_id", "")),
        title=str(meta.get("title", "")),
        authors=_authors(meta),
        year=_year(meta),
        date=_opt(meta, "date"),
        url=_opt(meta, "url") or (f"https://doi.org/{meta['doi']}" if meta.get("doi") else None),
        doi=_opt(meta, "doi"),
        source=_opt(meta, "source"),
        chunks=chunks,
        text=text,
    )


def sources_of(lib: Library, answer: Answer) -> list[Source]:
    """The answer's citations with their passages' sentences and their papers' metadata."""
    stored = lib.store.texts([c.chunk_id for c in answer.citations])
    out = []
    for c in answer.citations:
        _, meta = stored.get(c.chunk_id, ("", {}))
        info = paper_info(meta or {"paper_id": c.paper_id, "title": c.title})
        offsets = meta.get("sent_offsets") if meta else None
        out.append(
            Source(
                n=c.n,
                paper_id=c.paper_id,
                title=c.title,
                chunk_id=c.chunk_id,
                text=c.text,
                sentences=split_by_offsets(c.text, str(offsets) if offsets else None),
                authors=info.authors,
                year=info.year,
                url=info.url,
                doi=info.doi,
                source=info.source,
            )
        )
    return out


def list_papers(
    lib: Library, *, offset: int = 0, limit: int = 100, query: str | None = None
) -> PaperList:
    """Papers by title (``query``: a case-insensitive substring of the title or id)."""
    firsts = lib.store.get_chunks({"chunk_index": 0})
    infos = sorted((paper_info(c["metadata"]) for c in firsts), key=lambda p: p.title.lower())
    if query:
        q = query.lower()
        infos = [p for p in infos if q in p.title.lower() or q in p.paper_id.lower()]
    return PaperList(total=len(infos), offset=offset, papers=infos[offset : offset + limit])


def get_paper(lib: Library, paper_id: str) -> PaperInfo:
    """One paper with its whole abstract; an unknown id is an :class:`InputError`."""
    chunks = lib.store.get_chunks({"paper_id": paper_id})
    if not chunks:
        raise InputError(f"no paper with id {paper_id!r} in the library")
    chunks.sort(key=lambda c: int(c["metadata"].get("chunk_index", 0)))
    sentences: list[str] = []
    for c in chunks:  # chunks may overlap: keep each sentence once, in order
        meta = c["metadata"]
        start = int(meta.get("sentence_start", len(sentences)))
        for i, s in enumerate(split_by_offsets(c["text"], meta.get("sent_offsets") or None)):
            if start + i >= len(sentences):
                sentences.append(s)
    return paper_info(chunks[0]["metadata"], chunks=len(chunks), text=" ".join(sentences))


# --- conversations ------------------------------------------------------------------------------


class Conversations:
    """Chat sessions by id, the most recent ``capacity`` kept in memory; an id the server does
    not hold (after a restart) is restored from the question log when it is on."""

    def __init__(self, lib: Library, capacity: int = 256) -> None:
        self.lib = lib
        self.capacity = capacity
        self._sessions: OrderedDict[str, ChatSession] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conversation: str | None) -> tuple[str, ChatSession]:
        with self._lock:
            cid = conversation or new_conversation_id()
            session = self._sessions.get(cid)
            if session is None:
                session = restore(self.lib, cid)
                self._sessions[cid] = session
            self._sessions.move_to_end(cid)
            while len(self._sessions) > self.capacity:
                self._sessions.popitem(last=False)
            return cid, session


def restore(lib: Library, conversation: str) -> ChatSession:
    """A chat session holding the logged turns of ``conversation`` (empty if none or no log)."""
    from rag.answering.chat import Turn

    session = lib.chat()
    log = QuestionLog.of(lib.settings)
    if log is None:
        return session
    for entry, answer in log.conversation(conversation):
        standalone = entry.standalone or entry.question
        subject = session.history[-1].subject if session.is_follow_up(entry.question) else ""
        session.history.append(Turn(entry.question, standalone, answer, subject or standalone))
    return session
