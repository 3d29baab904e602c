"""The offline extractive answerer (the default backend): it writes no words of its own.

Its answer is the retrieved sentences that best address the question, each cited to the passage
it comes from. A sentence's score mixes its embedding similarity to the question with the share
of the question's content terms it contains.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.answering.grammar import Draft, DraftSentence
from rag.index.chunking import split_by_offsets
from rag.schema import Hit
from rag.text import CONTEXT_MARKER, terms

if TYPE_CHECKING:
    from rag.index.embedding import Embedder

NUMERIC_QUESTION_RE = re.compile(
    r"\b(how (many|much|large|big|fast|long|often)|what (percentage|fraction|proportion|number)|"
    r"by how|what is the (number|size|speed|rate|accuracy|score))\b",
    re.IGNORECASE,
)


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

    def draft(
        self,
        question: str,
        sources: list[Hit],
        on_delta: Callable[[str], None] | None = None,
    ) -> Draft:
        """The chosen sentences (``on_delta`` is unused: nothing is generated)."""
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
