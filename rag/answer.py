"""Answer backends and the offline extractive answerer.

A backend turns a question and numbered sources (retrieved chunks) into a :class:`Draft`: answer
sentences, each with the source numbers it cites. :func:`finalize` then drops citations to sources
that were not given, renumbers the cited sources ``[1]..[n]`` by first appearance and builds the
:class:`~rag.schema.Answer`, with the fixed refusal phrase when nothing is left.

The extractive backend (the default, fully offline) writes no words of its own: its answer is the
retrieved sentences that best address the question, each cited to the passage it comes from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from rag.citations import (
    ANSWER_SCHEMA,
    JSON_FORMAT_INSTRUCTIONS,
    REFUSAL_PHRASE,
    TEXT_FORMAT_INSTRUCTIONS,
    Draft,
    DraftSentence,
    check_citations,
    format_citations,
    parse_json_reply,
    parse_text_reply,
)
from rag.errors import BackendError
from rag.schema import Answer, AnswerSentence, Citation, DroppedSentence, Hit, NearPaper, TokenUsage
from rag.store import split_by_offsets

if TYPE_CHECKING:
    from rag.embedding import Embedder
    from rag.llm import LLM
    from rag.support import SupportScorer

_STOPWORDS_TEXT = """
    a an the of in on for to and or with by from as at is are was were be been being do
    does did what which who whom whose when where why how that this these those it its
    their there they them we our you your he she his her can could would should may might
    will shall about into than then so such not no yes any all each both more most other
    some paper papers study studies work works propose proposed proposes method methods
    approach approaches use used using uses show shows shown author authors say says said
    tell according describe described new novel based between also well only over under
    via per
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
NUMERIC_QUESTION_RE = re.compile(
    r"\b(how (many|much|large|big|fast|long|often)|what (percentage|fraction|proportion|number)|"
    r"by how|what is the (number|size|speed|rate|accuracy|score))\b",
    re.IGNORECASE,
)


def terms(text: str) -> list[str]:
    """Content terms: lower-case words minus stopwords, lightly stemmed."""
    out = []
    for word in re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text.lower()):
        parts = [word, *word.split("-")] if "-" in word else [word]
        for w in parts:
            if w in STOPWORDS or len(w) < 2:
                continue
            out.append(stem(w))
    return out


def stem(word: str) -> str:
    for suffix, min_len in (("ies", 5), ("ing", 6), ("ed", 5), ("es", 5), ("s", 4)):
        if word.endswith(suffix) and len(word) >= min_len:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


#: Joins a chat follow-up to the context it refers to: "Does it scale? (regarding: Title; ...)".
#: The context steers retrieval and similarity; words the user typed drive the lexical match.
CONTEXT_MARKER = " (regarding: "


class Backend(Protocol):
    """Anything that can answer from numbered sources."""

    name: str

    def draft(self, question: str, sources: list[Hit]) -> Draft: ...


def finalize(
    question: str,
    draft: Draft,
    sources: list[Hit],
    backend: str,
    *,
    scorer: SupportScorer | None = None,
    unsupported: Literal["drop", "mark"] = "drop",
    separator: str = " ",
) -> Answer:
    """Verify a draft and build the Answer shown to the user.

    Citations to sources that were not given are removed and uncited sentences dropped; with a
    ``scorer`` each remaining sentence is checked against the passages it cites, and an unsupported
    one is dropped (or kept and marked, per ``unsupported``). Cited sources are renumbered
    ``[1]..[n]`` by first appearance. Nothing left means the refusal phrase.
    """
    if draft.given is not None:
        sources = sources[: draft.given]  # a citation beyond what was shown is not a citation
    kept, dropped = check_citations(draft, len(sources))
    checked: list[tuple[DraftSentence, bool | None, float | None]] = []
    if scorer is not None and kept:
        results = scorer.score_many(
            [(s.text, [sources[n - 1].text for n in s.citations]) for s in kept]
        )
        for s, r in zip(kept, results, strict=True):
            if r.supported or unsupported == "mark":
                checked.append((s, r.supported, r.score))
            if not r.supported:
                dropped.append(
                    DroppedSentence(
                        text=s.text,
                        citations=s.citations,
                        reason=f"not supported by {format_citations(s.citations)}: {r.reason}",
                        support_score=round(r.score, 4),
                    )
                )
    else:
        checked = [(s, None, None) for s in kept]
    written = len(draft.sentences)
    n_supported = sum(1 for _, ok, _ in checked if ok) if scorer is not None else None
    support = (
        None
        if n_supported is None or draft.refused
        else (n_supported / written if written else 1.0)
    )
    renumber: dict[int, int] = {}
    sentences: list[AnswerSentence] = []
    for s, ok, score in checked:
        for n in s.citations:
            renumber.setdefault(n, len(renumber) + 1)
        sentences.append(
            AnswerSentence(
                text=s.text,
                citations=[renumber[n] for n in s.citations],
                supported=ok,
                support_score=None if score is None else round(score, 4),
            )
        )
    common = {
        "question": question,
        "backend": backend,
        "nearest": nearest_papers(sources),
        "dropped": dropped,
        "usage": draft.usage,
        "support": None if support is None else round(support, 4),
    }
    if draft.refused or not sentences:
        return Answer(
            answer=REFUSAL_PHRASE,
            refused=True,
            sentences=[AnswerSentence(text=REFUSAL_PHRASE, citations=[])],
            citations=[],
            **common,  # type: ignore[arg-type]
        )
    citations = [
        Citation(
            n=new,
            paper_id=sources[old - 1].paper_id,
            title=sources[old - 1].title,
            chunk_id=sources[old - 1].chunk_id,
            text=sources[old - 1].text,
        )
        for old, new in renumber.items()
    ]
    text = separator.join(
        f"{s.text}{'' if s.supported is not False else ' (unsupported)'} "
        f"{format_citations(s.citations)}"
        for s in sentences
    )
    return Answer(
        answer=text,
        refused=False,
        sentences=sentences,
        citations=citations,
        **common,  # type: ignore[arg-type]
    )


def nearest_papers(sources: list[Hit], k: int = 3) -> list[NearPaper]:
    seen: dict[str, NearPaper] = {}
    for hit in sources:
        if hit.paper_id not in seen:
            seen[hit.paper_id] = NearPaper(paper_id=hit.paper_id, title=hit.title, score=hit.score)
    return list(seen.values())[:k]


@dataclass
class ScoredSentence:
    text: str
    source: int  # 1-based source number
    score: float
    similarity: float
    overlap: float


class ExtractiveBackend:
    """Offline answerer: picks retrieved sentences that address the question, cites each.

    A sentence's score mixes its embedding similarity to the question with the share of the
    question's content terms it contains. The answer is refused when no sentence reaches
    ``min_score``, or when the question asks for a number and the best sentences state none.
    """

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_sentences: int = 3,
        min_score: float = 0.31,
        margin: float = 0.08,
    ) -> None:
        self.embedder = embedder
        self.max_sentences = max_sentences
        self.min_score = min_score
        self.margin = margin

    def score(self, question: str, sources: list[Hit]) -> list[ScoredSentence]:
        candidates: list[tuple[str, int]] = []
        for n, hit in enumerate(sources, start=1):
            offsets = hit.metadata.get("sent_offsets")
            for sentence in split_by_offsets(hit.text, str(offsets) if offsets else None):
                candidates.append((sentence, n))
        if not candidates:
            return []
        vectors = self.embedder.embed([question] + [c[0] for c in candidates])
        sims = vectors[1:] @ vectors[0]
        q_terms = set(terms(question.split(CONTEXT_MARKER)[0]))
        scored = []
        for (text, n), sim in zip(candidates, sims, strict=True):
            title_terms = set(terms(sources[n - 1].title))
            s_terms = set(terms(text)) | title_terms  # the title gives a sentence its subject
            overlap = len(q_terms & s_terms) / len(q_terms) if q_terms else 0.0
            # Terms the sentence itself (not just the title) shares with the question.
            own = len(q_terms & (set(terms(text)) - title_terms)) / len(q_terms) if q_terms else 0
            score = 0.6 * float(sim) + 0.25 * overlap + 0.15 * own
            scored.append(ScoredSentence(text, n, score, float(sim), overlap))
        scored.sort(key=lambda s: -s.score)
        return scored

    def draft(self, question: str, sources: list[Hit]) -> Draft:
        scored = self.score(question, sources)
        if not scored or scored[0].score < self.min_score:
            return Draft(sentences=[], refused=True)
        best = scored[0].score
        chosen: list[ScoredSentence] = []
        for s in scored:
            if len(chosen) == self.max_sentences or s.score < max(
                self.min_score, best - self.margin
            ):
                break
            if any(s.text == c.text for c in chosen):
                continue
            chosen.append(s)
        if NUMERIC_QUESTION_RE.search(question.split(CONTEXT_MARKER)[0]) and not any(
            re.search(r"\d", c.text) for c in chosen
        ):
            numeric = [s for s in scored[:10] if re.search(r"\d", s.text)]
            if not numeric or numeric[0].score < self.min_score:
                return Draft(sentences=[], refused=True)
            chosen = [numeric[0]]
        return Draft(sentences=[DraftSentence(c.text, [c.source]) for c in chosen])


# --- LLM backend ------------------------------------------------------------------------------


def escape_source(text: str) -> str:
    """Retrieved text is data: it cannot close the fence or open a tag of its own."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_sources(sources: list[Hit]) -> str:
    return "\n".join(
        f'<source n="{n}">\nTitle: {escape_source(h.title)}\n{escape_source(h.text)}\n</source>'
        for n, h in enumerate(sources, start=1)
    )


def pack_sources(sources: list[Hit], budget_tokens: int) -> list[Hit]:
    """The top sources, in rank order, that fit ``budget_tokens`` (always at least one)."""
    from rag.chunking import count_tokens

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
    ) -> None:
        self.llm = llm
        self.prompt = prompt
        self.context_tokens = context_tokens
        self.max_answer_tokens = max_answer_tokens
        self.structured = structured
        self.name = f"openai:{llm.model}"
        self.on_delta: Callable[[str], None] | None = None
        self.last_sources: list[Hit] = []

    def messages(self, question: str, sources: list[Hit]) -> list[dict[str, str]]:
        from rag.chunking import count_tokens
        from rag.prompts import load_prompt

        prompt = load_prompt(self.prompt)
        fmt = JSON_FORMAT_INSTRUCTIONS if self.structured else TEXT_FORMAT_INSTRUCTIONS
        key = "topic" if "topic" in prompt.variables else "question"
        empty = prompt.render(**{key: question, "sources": "", "format_instructions": fmt})
        overhead = sum(count_tokens(m["content"]) for m in empty) + 16
        budget = context_budget(
            self.llm.model, self.context_tokens, self.max_answer_tokens, overhead
        )
        self.last_sources = pack_sources(sources, budget)
        return prompt.render(
            **{key: question, "sources": render_sources(self.last_sources)},
            format_instructions=fmt,
        )

    def draft(self, question: str, sources: list[Hit]) -> Draft:
        if not sources:
            return Draft(sentences=[], refused=True)
        messages = self.messages(question, sources)
        if self.structured:
            draft = None
            for attempt in range(2):  # a malformed structured reply is retried once
                completion = self.llm.complete(
                    messages, max_tokens=self.max_answer_tokens, json_schema=ANSWER_SCHEMA
                )
                try:
                    draft = parse_json_reply(completion.text)
                    break
                except BackendError:
                    if attempt == 1:
                        raise
            assert draft is not None
        elif self.on_delta is not None:
            completion = self.llm.stream(
                messages, max_tokens=self.max_answer_tokens, on_delta=self.on_delta
            )
            draft = parse_text_reply(completion.text)
        else:
            completion = self.llm.complete(messages, max_tokens=self.max_answer_tokens)
            draft = parse_text_reply(completion.text)
        draft.given = len(self.last_sources)
        u = completion.usage
        draft.usage = TokenUsage(
            prompt_tokens=u.prompt_tokens,
            completion_tokens=u.completion_tokens,
            total_tokens=u.total_tokens,
            cost_usd=u.cost_usd,
        )
        return draft
