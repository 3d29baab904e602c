"""An OpenAI-compatible face: ``POST /v1/chat/completions`` (streaming and not) and
``GET /v1/models``, so any OpenAI client or chat UI can talk to the library as if it were a model.

The last user message is the question; the earlier user/assistant turns are the chat history (a
follow-up is rewritten with them before retrieval, as in ``rag chat``). The reply is the checked
answer with its ``[n]`` markers, then a ``Sources:`` list; the full answer and its sources ride
along in a ``rag`` field that OpenAI clients keep as an extra. Streaming sends checked sentences
only, never the unchecked draft, then ``data: [DONE]``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

import anyio
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from rag.answering.grammar import format_citations
from rag.errors import InputError
from rag.interfaces.contract import MAX_QUESTION, Source
from rag.interfaces.question_log import log_answer
from rag.interfaces.service import sources_of
from rag.schema import Answer, Citation

if TYPE_CHECKING:
    from rag.answering.chat import ChatSession
    from rag.library import Library

MODEL_ID = "rag-papers"
SOURCE_LINE = re.compile(r"^\[(\d+)\] (.+?)(?: \(|$)")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The fields of OpenAI's request that matter here; others (temperature...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False


def text_of(message: ChatMessage) -> str:
    if isinstance(message.content, list):
        return " ".join(str(p.get("text", "")) for p in message.content if p.get("type") == "text")
    return message.content or ""


def sources_text(sources: list[Source]) -> str:
    lines = []
    for s in sources:
        meta = ", ".join(
            x for x in ("; ".join(s.authors[:3]), str(s.year) if s.year else "", s.url or "") if x
        )
        lines.append(f"[{s.n}] {s.title}" + (f" ({meta})" if meta else ""))
    return "\n\nSources:\n" + "\n".join(lines) if lines else ""


def session_of(lib: Library, messages: list[ChatMessage]) -> tuple[ChatSession, str]:
    """A chat session holding the earlier turns, and the question (the last user message)."""
    from rag.answering.chat import Turn

    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if not users or not text_of(messages[users[-1]]).strip():
        raise InputError("the last user message (the question) is missing or empty")
    question = text_of(messages[users[-1]]).strip()
    if len(question) > MAX_QUESTION:
        raise InputError(f"the question is longer than {MAX_QUESTION} characters")
    session = lib.chat()
    for i in users[:-1]:
        reply = next((m for m in messages[i + 1 :] if m.role in ("assistant", "user")), None)
        said = text_of(reply) if reply is not None and reply.role == "assistant" else ""
        body, _, listed = said.partition("\n\nSources:\n")
        citations = [
            Citation(n=int(m.group(1)), paper_id="", title=m.group(2), chunk_id="", text="")
            for line in listed.splitlines()
            if (m := SOURCE_LINE.match(line))
        ]
        user = text_of(messages[i]).strip()
        past = Answer(
            question=user, answer=body, refused=False, sentences=[], citations=citations,
            backend="history",
        )  # fmt: skip
        subject = session.history[-1].subject if session.is_follow_up(user) else user
        session.history.append(Turn(user, user, past, subject))
    return session, question


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def build_openai_router(lib: Library) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["openai"])

    def answer(req: ChatRequest) -> tuple[Answer, list[Source]]:
        session, question = session_of(lib, req.messages)
        standalone = session.condense(question)
        result = session.pipeline.ask(standalone)
        log_answer(
            lib.settings, result, via="openai", kind="chat", question=question,
            standalone=standalone,
        )  # fmt: skip
        return result, sources_of(lib, result)

    def usage(result: Answer) -> dict[str, int]:
        u = result.usage
        if u is None:
            return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        return {k: getattr(u, k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}

    def extra(result: Answer, sources: list[Source]) -> dict[str, Any]:
        return {"answer": result.model_dump(), "sources": [s.model_dump() for s in sources]}

    @router.get("/models")
    def models() -> dict[str, Any]:
        """The one "model": this library."""
        card = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "rag-papers"}
        return {"object": "list", "data": [card]}

    @router.post("/chat/completions", response_model=None)
    async def completions(req: ChatRequest) -> Any:
        """Chat with the library through the OpenAI protocol (``stream`` supported)."""
        cid, created = completion_id(), int(time.time())
        if not req.stream:
            result, sources = await anyio.to_thread.run_sync(answer, req)
            content = result.answer + ("" if result.refused else sources_text(sources))
            return {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": req.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage(result),
                "rag": extra(result, sources),
            }
        session_of(lib, req.messages)  # a bad request fails as JSON before the stream starts

        def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> str:
            body = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": req.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **more,
            }
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        async def events() -> AsyncIterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            try:
                result, sources = await anyio.to_thread.run_sync(answer, req)
            except Exception as e:  # the status line is gone: say it in the stream
                from rag.errors import RagError

                message = str(e) if isinstance(e, RagError) else f"internal error ({type(e)})"
                body = {"error": {"message": message, "type": type(e).__name__, "code": 500}}
                yield f"data: {json.dumps(body)}\n\n"
                return
            if result.refused:
                yield chunk({"content": result.answer})
            else:
                sep = "\n" if "\n" in result.answer else " "
                for i, s in enumerate(result.sentences):
                    flag = " (unsupported)" if s.supported is False else ""
                    text = f"{s.text}{flag} {format_citations(s.citations)}"
                    yield chunk({"content": (sep if i else "") + text})
                yield chunk({"content": sources_text(sources)})
            yield chunk({}, "stop", usage=usage(result), rag=extra(result, sources))
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return router
