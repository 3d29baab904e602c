"""The library's routes: search, ask, summarize, papers, ingest, stats, health.

Bodies are the CLI's JSON contract (:mod:`rag.interfaces.contract`, :class:`rag.schema.Answer`).
``POST /ask`` and ``POST /summarize`` stream Server-Sent Events with ``?stream=true`` or
``Accept: text/event-stream`` (:mod:`rag.interfaces.http.streaming`). Handlers are plain
functions: FastAPI runs them in its thread pool, and one :class:`~rag.library.Library` serves
them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, File, Header, HTTPException, Query, Response, UploadFile

from rag import __version__
from rag.interfaces.contract import (
    AskRequest,
    PaperInfo,
    PaperList,
    RankedHit,
    SearchRequest,
    SummarizeRequest,
)
from rag.interfaces.http.streaming import answer_events, event_stream, wants_stream
from rag.interfaces.http.upload import UploadTooLarge, ingest_upload
from rag.interfaces.question_log import log_answer
from rag.interfaces.service import (
    Conversations,
    ask_with,
    filters_of,
    get_paper,
    list_papers,
    ranked,
)
from rag.schema import Answer, IngestReport, Stats

if TYPE_CHECKING:
    from collections.abc import Callable

    from rag.answering.chat import ChatSession
    from rag.index.filters import Filters
    from rag.library import Library

STREAM_DOC = "Stream Server-Sent Events: sentence..., sources, done (checked text only)."
CONVERSATION_HEADER = "x-conversation-id"


def chat_turn(
    lib: Library, session: ChatSession, message: str, k: int | None, filters: Filters | None
) -> tuple[Answer, str]:
    """One follow-up in a conversation: rewrite it with the history, answer, remember it."""
    from rag.answering.chat import Turn

    standalone = session.condense(message)
    answer = ask_with(lib, standalone, k, filters)
    follow_up = session.is_follow_up(message)
    subject = session.history[-1].subject if follow_up else standalone
    session.history.append(Turn(message, standalone, answer, subject))
    return answer, standalone


def build_router(lib: Library, conversations: Conversations, max_upload: int) -> APIRouter:
    router = APIRouter()

    @router.get("/health", tags=["library"])
    def health() -> dict[str, Any]:
        """Liveness: the server answers (cheap; does not touch the store)."""
        return {"status": "ok", "version": __version__}

    @router.get("/stats", tags=["library"])
    def stats() -> Stats:
        """How many papers and chunks the library holds (``rag stats --json``)."""
        return lib.stats()

    @router.post("/search", tags=["library"])
    def search(req: SearchRequest) -> list[RankedHit]:
        """The best papers for a query, each with its best passage (``rag search --json``)."""
        return ranked(lib.search(req.query, req.k, filters=filters_of(lib, req.filters)))

    def asker(req: AskRequest) -> tuple[Callable[[], Answer], str | None]:
        filters = filters_of(lib, req.filters)  # validated before any streaming starts
        if req.conversation is None:

            def run() -> Answer:
                answer = ask_with(lib, req.question, req.k, filters)
                log_answer(lib.settings, answer, via="http", kind="ask")
                return answer

            return run, None
        cid, session = conversations.get(req.conversation)

        def turn() -> Answer:
            answer, standalone = chat_turn(lib, session, req.question, req.k, filters)
            log_answer(
                lib.settings,
                answer,
                via="http",
                kind="chat",
                question=req.question,
                conversation=cid,
                standalone=standalone,
            )
            return answer

        return turn, cid

    @router.post("/ask", tags=["answers"], response_model=Answer)
    def ask(
        req: AskRequest,
        response: Response,
        stream: Annotated[bool, Query(description=STREAM_DOC)] = False,
        accept: Annotated[str | None, Header()] = None,
    ) -> Any:
        """Answer from the papers, every sentence cited and checked, or refuse (``rag ask
        --json``). With ``conversation``, a follow-up in that conversation (its id comes back in
        the ``X-Conversation-Id`` header and the stream's ``done`` event)."""
        run, cid = asker(req)
        headers = {CONVERSATION_HEADER: cid} if cid else {}
        if wants_stream(accept, stream):
            return event_stream(answer_events(lib, run, cid), headers)
        response.headers.update(headers)
        return run()

    @router.post("/summarize", tags=["answers"], response_model=Answer)
    def summarize(
        req: SummarizeRequest,
        stream: Annotated[bool, Query(description=STREAM_DOC)] = False,
        accept: Annotated[str | None, Header()] = None,
    ) -> Any:
        """What the papers say about a topic, grouped by paper (``rag summarize --json``)."""
        filters = filters_of(lib, req.filters)

        def run() -> Answer:
            answer = lib.summarize(req.topic, max_papers=req.papers, filters=filters)
            log_answer(lib.settings, answer, via="http", kind="summarize")
            return answer

        if wants_stream(accept, stream):
            return event_stream(answer_events(lib, run))
        return run()

    @router.get("/papers", tags=["library"])
    def papers(
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        q: Annotated[str | None, Query(max_length=200, description="Title contains.")] = None,
    ) -> PaperList:
        """The library's papers by title."""
        return list_papers(lib, offset=offset, limit=limit, query=q)

    @router.get("/papers/{paper_id:path}", tags=["library"])
    def paper(paper_id: str) -> PaperInfo:
        """One paper with its abstract and metadata."""
        if len(paper_id) > 300:
            raise HTTPException(404, "no such paper")
        try:
            return get_paper(lib, paper_id)
        except Exception as e:
            from rag.errors import InputError

            if isinstance(e, InputError):
                raise HTTPException(404, str(e)) from None
            raise

    @router.post("/ingest", tags=["library"])
    def ingest(
        file: Annotated[UploadFile, File(description="A .txt, .json or .jsonl file (or .gz).")],
        skip_errors: bool = False,
    ) -> IngestReport:
        """Add papers from an uploaded file (validated before anything is written)."""
        try:
            return ingest_upload(
                lib, file.filename, file.file, limit=max_upload, skip_errors=skip_errors
            )
        except UploadTooLarge as e:
            raise HTTPException(413, str(e)) from None

    return router
