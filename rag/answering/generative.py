"""The LLM backend: an OpenAI-compatible chat model prompted from ``prompts/`` with the numbered,
fenced sources, whose reply is parsed by the citation grammar (:mod:`rag.answering.grammar`).

Retrieved text is data: it is HTML-escaped inside ``<source>`` fences, so it cannot close the
fence or open a tag of its own. Sources are packed into the context budget (tiktoken).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rag.answering.grammar import (
    ANSWER_SCHEMA,
    JSON_FORMAT_INSTRUCTIONS,
    TEXT_FORMAT_INSTRUCTIONS,
    Draft,
    escape_data,
    parse_json_reply,
    parse_text_reply,
    strip_markers,
)
from rag.errors import BackendError
from rag.schema import Hit, TokenUsage

if TYPE_CHECKING:
    from rag.answering.llm import LLM


def escape_source(text: str) -> str:
    """Retrieved text is data: it cannot close the fence or open a tag of its own, and its own
    bracketed reference numbers ("[12]") are dropped, so they cannot pose as our citations."""
    return escape_data(strip_markers(text))


def render_sources(sources: list[Hit]) -> str:
    return "\n".join(
        f'<source n="{n}">\nTitle: {escape_data(h.title)}\n{escape_source(h.text)}\n</source>'
        for n, h in enumerate(sources, start=1)
    )


def pack_sources(sources: list[Hit], budget_tokens: int) -> list[Hit]:
    """The top sources, in rank order, that fit ``budget_tokens`` (always at least one)."""
    from rag.text import count_tokens

    packed: list[Hit] = []
    used = 0
    for hit in sources:
        cost = count_tokens(render_sources([hit])) + 2
        if packed and used + cost > budget_tokens:
            break
        packed.append(hit)
        used += cost
    return packed


#: Context windows of common models (tokens); unknown models get a conservative default.
CONTEXT_WINDOWS = {"gpt-4o": 128_000, "gpt-4.1": 1_000_000, "gpt-3.5-turbo": 16_000}
DEFAULT_WINDOW = 8_192


def context_budget(model: str, configured: int, max_answer_tokens: int, overhead: int) -> int:
    window = next((w for k, w in CONTEXT_WINDOWS.items() if model.startswith(k)), DEFAULT_WINDOW)
    return max(200, min(configured, window - max_answer_tokens - overhead))


class LLMBackend:
    """An LLM behind an OpenAI-compatible endpoint, prompted from ``prompts/``."""

    def __init__(
        self,
        llm: LLM,
        *,
        prompt: str = "answer",
        context_tokens: int = 3000,
        max_answer_tokens: int = 600,
        structured: bool = False,
        prompts_dir: Path | None = None,
    ) -> None:
        self.llm = llm
        self.prompt = prompt
        self.context_tokens = context_tokens
        self.max_answer_tokens = max_answer_tokens
        self.structured = structured
        self.prompts_dir = prompts_dir
        self.name = f"openai:{llm.model}"

    def messages(self, question: str, sources: list[Hit]) -> tuple[list[dict[str, str]], list[Hit]]:
        """The chat messages for ``question``, and the sources that fit into them."""
        from rag.answering.prompt import load_prompt
        from rag.text import count_tokens

        prompt = load_prompt(self.prompt, self.prompts_dir)
        fmt = JSON_FORMAT_INSTRUCTIONS if self.structured else TEXT_FORMAT_INSTRUCTIONS
        key = "topic" if "topic" in prompt.variables else "question"
        empty = prompt.render(**{key: question, "sources": "", "format_instructions": fmt})
        overhead = sum(count_tokens(m["content"]) for m in empty) + 16
        budget = context_budget(
            self.llm.model, self.context_tokens, self.max_answer_tokens, overhead
        )
        packed = pack_sources(sources, budget)
        messages = prompt.render(
            **{key: question, "sources": render_sources(packed)}, format_instructions=fmt
        )
        return messages, packed

    def draft(
        self,
        question: str,
        sources: list[Hit],
        on_delta: Callable[[str], None] | None = None,
    ) -> Draft:
        """Ask the model; with ``on_delta`` the reply streams to it as it is written."""
        if not sources:
            return Draft(sentences=[], refused=True)
        messages, packed = self.messages(question, sources)
        if self.structured:
            draft = None
            for attempt in range(2):  # a malformed structured reply is retried once
                completion = self.llm.complete(
                    messages, max_tokens=self.max_answer_tokens, json_schema=ANSWER_SCHEMA
                )
                try:
                    draft = parse_json_reply(completion.text)
                    break
                except BackendError as exc:
                    if completion.finish_reason == "length":  # the same cut again if retried
                        raise BackendError(
                            f"{exc.message}: the reply was cut off at "
                            f"{self.max_answer_tokens} tokens",
                            hint="raise RAG_MAX_ANSWER_TOKENS",
                        ) from None
                    if attempt == 1:
                        raise
            assert draft is not None
        elif on_delta is not None:
            completion = self.llm.stream(
                messages, max_tokens=self.max_answer_tokens, on_delta=on_delta
            )
            draft = parse_text_reply(completion.text)
        else:
            completion = self.llm.complete(messages, max_tokens=self.max_answer_tokens)
            draft = parse_text_reply(completion.text)
        draft.given = len(packed)
        u = completion.usage
        draft.usage = TokenUsage(
            prompt_tokens=u.prompt_tokens,
            completion_tokens=u.completion_tokens,
            total_tokens=u.total_tokens,
            cost_usd=u.cost_usd,
        )
        return draft
