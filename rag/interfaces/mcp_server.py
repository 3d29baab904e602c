"""``rag mcp``: the library as a Model Context Protocol server (the official ``mcp`` SDK), for
Claude Desktop, Cursor or any agent. Transports: stdio (the assistant starts ``rag mcp``) and
streamable HTTP (``rag mcp --transport http``, at ``/mcp``; the same bearer-token and size guard
as ``rag serve``).

Tools: ``search(query, k)``, ``ask(question)``, ``summarize(topic)``, ``get_paper(paper_id)`` and
``list_papers(query, offset, limit)``. Answers carry their sources (passage, title, authors,
year, link) so an assistant can quote and link them; every ask and summarize is logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
from pydantic import BaseModel, Field

from rag.errors import RagError
from rag.interfaces import service
from rag.interfaces.contract import MAX_QUESTION, PaperInfo, PaperList, RankedHit, Source
from rag.interfaces.question_log import log_answer
from rag.schema import DroppedSentence, NearPaper

if TYPE_CHECKING:
    from mcp.server.fastmcp import FastMCP

    from rag.library import Library
    from rag.schema import Answer

INSTRUCTIONS = (
    "Search and question the user's library of research papers. Answers come only from the "
    "papers: every sentence carries [n] markers that refer to the numbered sources returned with "
    "it, and a refusal means the library does not answer the question. Quote the sources' titles "
    "and links when you use an answer."
)


class CitedAnswer(BaseModel):
    """A checked answer with the passages its [n] markers cite."""

    answer: str = Field(description="The answer; [n] refers to sources[n-1].")
    refused: bool = Field(description="True when the papers do not answer the question.")
    sources: list[Source]
    nearest: list[NearPaper] = Field(default_factory=list, description="With a refusal.")
    dropped: list[DroppedSentence] = Field(
        default_factory=list, description="Sentences the citation check removed."
    )
    backend: str


def cited(lib: Library, answer: Answer) -> CitedAnswer:
    return CitedAnswer(
        answer=answer.answer,
        refused=answer.refused,
        sources=service.sources_of(lib, answer),
        nearest=answer.nearest,
        dropped=answer.dropped,
        backend=answer.backend,
    )


def _check(text: str, what: str) -> str:
    text = text.strip()
    if not text or len(text) > MAX_QUESTION:
        raise RagError(f"{what} must be 1 to {MAX_QUESTION} characters")
    return text


def build_mcp(lib: Library, **settings: Any) -> FastMCP:
    """The MCP server over ``lib`` (``settings``: FastMCP's, e.g. host and port)."""
    from mcp.server.fastmcp import FastMCP

    server = FastMCP("rag-papers", instructions=INSTRUCTIONS, **settings)

    @server.tool()
    async def search(query: str, k: int = 5) -> list[RankedHit]:
        """Find the papers that best match a query; each with its best passage."""
        q = _check(query, "query")
        hits = await anyio.to_thread.run_sync(lambda: lib.search(q, max(1, min(k, 50))))
        return service.ranked(hits)

    @server.tool()
    async def ask(question: str) -> CitedAnswer:
        """Answer a question from the papers only, every sentence cited ([n] -> sources), or
        refuse when the papers do not say."""
        q = _check(question, "question")

        def run() -> CitedAnswer:
            answer = lib.ask(q)
            log_answer(lib.settings, answer, via="mcp", kind="ask")
            return cited(lib, answer)

        return await anyio.to_thread.run_sync(run)

    @server.tool()
    async def summarize(topic: str, max_papers: int = 8) -> CitedAnswer:
        """What the papers say about a topic: findings grouped by paper, every one cited."""
        t = _check(topic, "topic")

        def run() -> CitedAnswer:
            answer = lib.summarize(t, max_papers=max(1, min(max_papers, 50)))
            log_answer(lib.settings, answer, via="mcp", kind="summarize")
            return cited(lib, answer)

        return await anyio.to_thread.run_sync(run)

    @server.tool()
    async def get_paper(paper_id: str) -> PaperInfo:
        """One paper: title, authors, year, link and the whole abstract."""
        return await anyio.to_thread.run_sync(service.get_paper, lib, paper_id)

    @server.tool()
    async def list_papers(query: str = "", offset: int = 0, limit: int = 50) -> PaperList:
        """The library's papers by title (query: a substring of the title or id)."""
        return await anyio.to_thread.run_sync(
            lambda: service.list_papers(
                lib, offset=max(0, offset), limit=max(1, min(limit, 500)), query=query
            )
        )

    return server


def run_mcp(lib: Library, transport: str, *, host: str = "127.0.0.1", port: int = 8001) -> None:
    """Serve over stdio, or streamable HTTP on ``host:port`` behind the server's guard."""
    if transport == "stdio":
        build_mcp(lib).run("stdio")
        return
    import uvicorn

    from rag.interfaces.http.app import server_token
    from rag.interfaces.http.guard import Guard

    s = lib.settings
    app = build_mcp(lib, host=host, port=port).streamable_http_app()
    guarded = Guard(
        app,
        token=server_token(lib),
        max_body=s.max_request_kb * 1024,
        max_upload=s.max_upload_mb * 1024 * 1024,
    )
    uvicorn.run(guarded, host=host, port=port, log_level="info")
