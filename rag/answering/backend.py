"""Answer backends: what they promise, and the registry that builds one from settings.

A backend turns a question and numbered sources (retrieved chunks) into a
:class:`~rag.answering.grammar.Draft`: sentences, each with the source numbers it cites. It holds
no per-request state (one instance serves many threads); text generated as it streams goes to the
``on_delta`` callback of that one call. :class:`~rag.answering.verify.Verifier` then checks the
draft.

* ``extractive`` (default, offline): :mod:`rag.answering.extractive`;
* ``openai:MODEL``: any OpenAI-compatible endpoint, :mod:`rag.answering.generative`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from rag.answering.grammar import Draft
from rag.schema import Hit

if TYPE_CHECKING:
    from rag.answering.llm import LLM
    from rag.index.embedding import Embedder
    from rag.settings import Settings


class Backend(Protocol):
    """Anything that can answer from numbered sources."""

    name: str

    def draft(
        self,
        question: str,
        sources: list[Hit],
        on_delta: Callable[[str], None] | None = None,
    ) -> Draft: ...


def _extractive(settings: Settings, embedder: Embedder, llm: LLM | None) -> Backend:
    from rag.answering.extractive import ExtractiveBackend

    return ExtractiveBackend(
        embedder, max_sentences=settings.answer_sentences, min_score=settings.min_answer_score
    )


def _generative(settings: Settings, embedder: Embedder, llm: LLM | None) -> Backend:
    from rag.answering.generative import LLMBackend

    assert llm is not None
    return LLMBackend(
        llm,
        context_tokens=settings.context_tokens,
        max_answer_tokens=settings.max_answer_tokens,
        structured=settings.structured_output,
        prompts_dir=settings.prompts_dir,
    )


#: Backends by the prefix of the ``llm`` setting ("extractive", "openai:MODEL").
BACKENDS: dict[str, Callable[[Settings, Embedder, LLM | None], Backend]] = {
    "extractive": _extractive,
    "openai": _generative,
}


def make_backend(settings: Settings, embedder: Embedder, llm: LLM | None) -> Backend:
    """The backend the settings name: an LLM one when ``llm`` is given, else extractive."""
    return BACKENDS["openai" if llm is not None else "extractive"](settings, embedder, llm)
