""" "What do the papers say about X": broad, diverse retrieval and findings grouped by paper.

Retrieval keeps one passage per paper (a per-paper cap, so one paper cannot fill the context) and
only papers whose passage is close enough to the best one. The extractive backend then cites one
key sentence per relevant paper; an LLM backend writes a grouped summary from ``prompts/summarize``
that also says where the papers agree or disagree. Either way every sentence is verified.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from rag.answering.extractive import tidy
from rag.answering.grammar import Draft, DraftSentence

if TYPE_CHECKING:
    from rag.answering.backend import Backend
    from rag.answering.extractive import ExtractiveBackend
    from rag.index.filters import Filters
    from rag.schema import Hit

#: A paper is kept when its best passage scores at least this share of the best paper's score.
RELATIVE_CUTOFF = 0.6
#: A paper's key sentence must score this high (answer-sentence score of the extractive backend).
SENTENCE_CUTOFF = 0.42
#: ... and at least this cosine similarity to the topic.
ABSOLUTE_CUTOFF = 0.25


class Retrieves(Protocol):
    """What a summary needs of a pipeline (:class:`rag.pipeline.Pipeline` is one)."""

    def retrieve(
        self,
        query: str,
        k: int | None = None,
        *,
        filters: Filters | None = None,
        per_paper: int | None = None,
    ) -> list[Hit]: ...


def diverse_sources(
    pipeline: Retrieves, topic: str, max_papers: int, *, filters: Filters | None = None
) -> list[Hit]:
    """The best passage of each paper about ``topic`` (see :func:`candidate_sources`)."""
    return candidate_sources(pipeline, topic, max_papers, filters=filters)[1]


def candidate_sources(
    pipeline: Retrieves, topic: str, max_papers: int, *, filters: Filters | None = None
) -> tuple[int, list[Hit]]:
    """The best passage of each paper about ``topic``, best first, at most ``max_papers``.

    One passage per paper (not MMR: on the seed dev summary and multi-paper questions, MMR over
    the passages' embeddings lowered the share of gold papers kept; ``bench/retrieval.py --mmr``).
    """
    hits = pipeline.retrieve(topic, max_papers, filters=filters, per_paper=1)
    if not hits:
        return 0, []
    top = max(h.score for h in hits)
    return len(hits), [h for h in hits if h.score >= max(ABSOLUTE_CUTOFF, RELATIVE_CUTOFF * top)]


class ExtractiveSummary:
    """Backend for summaries without an LLM: one cited key sentence per relevant paper."""

    def __init__(self, extractive: ExtractiveBackend) -> None:
        self.extractive = extractive
        self.name = extractive.name

    def draft(
        self,
        question: str,
        sources: list[Hit],
        on_delta: Callable[[str], None] | None = None,
    ) -> Draft:
        best: dict[int, tuple[float, str]] = {}
        for s in self.extractive.score(question, sources):  # best first
            best.setdefault(s.source, (s.score, s.text))
        sentences = [
            DraftSentence(tidy(text), [n])
            for n, (score, text) in sorted(best.items())
            if score >= max(SENTENCE_CUTOFF, self.extractive.min_score)
        ]
        return Draft(sentences=sentences, refused=not sentences)


def summary_backend(backend: Backend) -> Backend:
    """The backend that writes summaries, for the pipeline's answer ``backend``."""
    from rag.answering.extractive import ExtractiveBackend
    from rag.answering.generative import LLMBackend

    if isinstance(backend, LLMBackend):
        return LLMBackend(
            backend.llm,
            prompt="summarize",
            context_tokens=backend.context_tokens,
            max_answer_tokens=backend.max_answer_tokens,
            structured=backend.structured,
            prompts_dir=backend.prompts_dir,
        )
    if isinstance(backend, ExtractiveBackend):
        return ExtractiveSummary(backend)
    return backend
