"""Server-Sent Events for ``ask`` and ``summarize``: only checked text goes out.

The answer is drafted and verified first (in a worker thread); then the stream carries, in order:

* ``status``: ``{"stage": "answering"}`` at once, so a client knows the request is alive;
* ``sentence``: each checked sentence, ``{"index", "text", "citations", "supported"}``;
* ``refusal``: ``{"text", "nearest"}`` when the library cannot answer;
* ``sources``: the cited passages with their papers (:class:`~rag.interfaces.contract.Source`);
* ``done``: ``{"answer": <the rag ask --json object>, "conversation": id or null}``;
* or ``error``: ``{"error": {...}}``, the JSON error body, in place of what is left.

The backend's unchecked draft is never sent: a sentence the citation check removes never reaches
the reader.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import anyio
from fastapi.responses import StreamingResponse

from rag.errors import RagError
from rag.interfaces.http.guard import error_body, rag_error_body
from rag.interfaces.service import sources_of

if TYPE_CHECKING:
    from rag.library import Library
    from rag.schema import Answer

log = logging.getLogger("rag.server")


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def wants_stream(accept: str | None, stream: bool) -> bool:
    return stream or "text/event-stream" in (accept or "")


async def answer_events(
    lib: Library, run: Callable[[], Answer], conversation: str | None = None
) -> AsyncIterator[str]:
    """The events of one answer (see the module docstring)."""
    yield sse("status", {"stage": "answering"})
    try:
        answer = await anyio.to_thread.run_sync(run)
        sources = await anyio.to_thread.run_sync(sources_of, lib, answer)
    except RagError as e:
        yield sse("error", rag_error_body(e)[1])
        return
    except Exception as e:
        log.exception("unexpected error while streaming an answer")
        message = f"internal error ({type(e).__name__})"
        yield sse("error", error_body(message, "internal_error", 500))
        return
    if answer.refused:
        nearest = [n.model_dump() for n in answer.nearest]
        yield sse("refusal", {"text": answer.answer, "nearest": nearest})
    else:
        for i, s in enumerate(answer.sentences):
            yield sse(
                "sentence",
                {"index": i, "text": s.text, "citations": s.citations, "supported": s.supported},
            )
    yield sse("sources", [s.model_dump() for s in sources])
    yield sse("done", {"answer": answer.model_dump(), "conversation": conversation})


def event_stream(events: AsyncIterator[str], headers: dict[str, str] | None = None) -> Any:
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no", **(headers or {})},
    )
