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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rag.citations import REFUSAL_PHRASE, format_citations
from rag.schema import Answer, AnswerSentence, Citation, Hit, NearPaper
from rag.store import split_by_offsets

if TYPE_CHECKING:
    from rag.embedding import Embedder

STOPWORDS = frozenset(
    """a an the of in on for to and or with by from as at is are was were be been being do does
    did what which who whom whose when where why how that this these those it its their there
    they them we our you your he she his her can could would should may might will shall about
    into than then so such not no yes any all each both more most other some paper papers study
    studies work works propose proposed proposes method methods approach approaches use used using
    uses show shows shown author authors say says said tell according describe described new
    novel based between also well only over under via per""".split()
)
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


@dataclass
class DraftSentence:
    text: str
    citations: list[int]


@dataclass
class Draft:
    """What a backend wrote: sentences citing sources by their 1-based number in the prompt."""

    sentences: list[DraftSentence]
    refused: bool = False
    dropped: list[DraftSentence] = field(default_factory=list)


class Backend(Protocol):
    """Anything that can answer from numbered sources."""

    name: str

    def draft(self, question: str, sources: list[Hit]) -> Draft: ...


def finalize(question: str, draft: Draft, sources: list[Hit], backend: str) -> Answer:
    """Check citation numbers, renumber by first appearance, build the Answer."""
    renumber: dict[int, int] = {}
    sentences: list[AnswerSentence] = []
    for s in draft.sentences:
        valid = [n for n in dict.fromkeys(s.citations) if 1 <= n <= len(sources)]
        if not valid:
            continue  # an uncited (or wrongly cited) sentence is never shown as an answer
        for n in valid:
            renumber.setdefault(n, len(renumber) + 1)
        sentences.append(AnswerSentence(text=s.text, citations=[renumber[n] for n in valid]))
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
    nearest = nearest_papers(sources)
    if draft.refused or not sentences:
        return Answer(
            question=question,
            answer=REFUSAL_PHRASE,
            refused=True,
            sentences=[AnswerSentence(text=REFUSAL_PHRASE, citations=[])],
            citations=[],
            backend=backend,
            nearest=nearest,
        )
    text = " ".join(f"{s.text} {format_citations(s.citations)}" for s in sentences)
    return Answer(
        question=question,
        answer=text,
        refused=False,
        sentences=sentences,
        citations=citations,
        backend=backend,
        nearest=nearest,
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
        min_score: float = 0.42,
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
        q_terms = set(terms(question))
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
            if len(chosen) == self.max_sentences or s.score < max(self.min_score, best - self.margin):
                break
            if any(s.text == c.text for c in chosen):
                continue
            chosen.append(s)
        if NUMERIC_QUESTION_RE.search(question) and not any(
            re.search(r"\d", c.text) for c in chosen
        ):
            numeric = [s for s in scored[:10] if re.search(r"\d", s.text)]
            if not numeric or numeric[0].score < self.min_score:
                return Draft(sentences=[], refused=True)
            chosen = [numeric[0]]
        return Draft(sentences=[DraftSentence(c.text, [c.source]) for c in chosen])


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / ((np.linalg.norm(a) * np.linalg.norm(b)) or 1.0))
