"""Sentence-level helpers of the extractive answerer (:mod:`rag.answering.extractive`): a
sentence's score for a question or a part of it (:func:`mix`), the parts ("segments") of a long
question a sentence may answer on its own (:func:`segments`), where a chunk sits in its paper, and
:func:`tidy`, which cleans a quoted sentence without rewording it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from rag.answering.grammar import strip_markers
from rag.index.chunking import split_by_offsets
from rag.schema import Hit
from rag.text import terms


@dataclass
class ScoredSentence:
    text: str
    source: int  # 1-based source number
    score: float
    similarity: float
    overlap: float
    facets: tuple[float, ...] = ()  # its score for each clause of a multi-part question
    parts: tuple[float, ...] = ()  # ... and for each phrase of a long question (its segments)


#: LaTeX escapes left in abstracts ("88\%", "K\&K", "i.e.~it"): the character they stand for.
LATEX_ESCAPE_RE = re.compile(r"\\([%&_#$])|(?<=\S)~(?=\S)")
#: A connective that leaves a quoted sentence dangling.
CONNECTIVE_RE = re.compile(
    r"^(However|Moreover|Furthermore|Further|Additionally|In addition|Besides|Meanwhile|Also|"
    r"Nevertheless|Firstly|Secondly|Thirdly|Lastly|Similarly|In particular|In contrast|Instead|"
    r"Consequently|Therefore|Thus|Hence|Specifically|Notably|Finally|Importantly|To this end|"
    r"To (address|tackle|solve|overcome|mitigate|alleviate) (this|these|the) (issue|issues|problem|"
    r"problems|challenge|challenges|limitation|limitations)),\s+",
)


def mix(sim: float, q_terms: set[str], text: str, title_terms: set[str], w: float) -> float:
    """A sentence's score for a question (or one clause of it): ``w`` times its embedding
    similarity, plus the share of the question's terms it states (its paper's title counts: it
    gives the sentence its subject), plus the share it states itself."""
    if not q_terms:
        return w * sim
    own_terms = set(terms(text))
    overlap = len(q_terms & (own_terms | title_terms)) / len(q_terms)
    own = len(q_terms & (own_terms - title_terms)) / len(q_terms)
    return w * sim + 0.25 * overlap + 0.15 * own


def position(hit: Hit) -> tuple[int, int]:
    """Where a chunk sits in its paper (chunk index, first sentence), for the paper's order."""
    return _int(hit.metadata.get("chunk_index")), _int(hit.metadata.get("sentence_start"))


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else 0


def hit_offsets(hit: Hit) -> str | None:
    offsets = hit.metadata.get("sent_offsets")
    return str(offsets) if offsets else None


def tidy(sentence: str) -> str:
    """A quoted sentence without a dangling connective at its start ("However, we ..." ->
    "We ...") and without the paper's own bracketed reference numbers ("[12]", which would pose
    as the answer's citations) or LaTeX escapes ("88\\%" -> "88%"); never reworded otherwise."""
    sentence = LATEX_ESCAPE_RE.sub(lambda m: m.group(1) or " ", strip_markers(sentence))
    m = CONNECTIVE_RE.match(sentence)
    if not m or len(sentence) - m.end() < 20:
        return sentence
    rest = sentence[m.end() :]
    return rest[:1].upper() + rest[1:]


#: Where a long question's parts start: punctuation, or a word that opens a phrase ("by taking
#: ...", "with the codebook refreshed ...", "without hyperparameter search ...").
_SEGMENT_SPLIT = re.compile(
    r"\s*[,;:?]\s*|\s+(?=\b(?:and|by|with|without|while|where|which|via|using|from)\b)",
    re.IGNORECASE,
)


def segments(question: str, min_terms: int = 3) -> list[str]:
    """The phrases of a question, each with at least ``min_terms`` content terms (shorter ones
    join the phrase before them); ``[]`` when it has fewer than two. A paraphrased question
    words each part of what it asks differently from the paper, and the sentence that states
    one part ("the codebook refreshed as training goes" ~ "an online update of the vocabulary")
    may be far from the question as a whole."""
    out: list[str] = []
    for part in (p.strip() for p in _SEGMENT_SPLIT.split(question) if p and p.strip()):
        if out and min(len(terms(out[-1])), len(terms(part))) < min_terms:
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    if len(out) > 1 and len(terms(out[-1])) < min_terms:
        out[-2] = f"{out[-2]} {out.pop()}"
    return out if len(out) >= 2 else []


#: A sentence that spells out how the one before it is done ("Specifically, we ...").
ELABORATION_RE = re.compile(
    r"^(Specifically|Concretely|In particular|In detail|Namely|That is|To do so|To this end|"
    r"To achieve this|In practice),\s",
    re.IGNORECASE,
)


#: A sentence that goes on about a thing the one before it named ("This prior incorporates").
CONTINUATION_RE = re.compile(r"^(This|These|Such)\s+([a-z][\w-]+)\s")


def elaborations(sentences: list[str], asked: set[str] | None = None) -> list[tuple[str, str]]:
    """The (sentence, its spelling-out) pairs of a passage (``sentences``, in order): a
    sentence that spells out (:data:`ELABORATION_RE`) the idea of the one or two before it, the
    "how" of a method the question asks about, which shares few words with the question but
    follows a sentence that does. With ``asked`` (the question's terms), also one that goes on
    about a thing the one before names and the question asks about ("... drawn from our prior.
    This prior incorporates ...")."""
    out = []
    for i, nxt in enumerate(sentences[1:], start=1):
        m = CONTINUATION_RE.match(nxt)
        if ELABORATION_RE.match(nxt):
            out += [(prev, nxt) for prev in sentences[max(0, i - 2) : i]]
        elif m and asked and {*terms(m.group(2))} & asked & {*terms(sentences[i - 1])}:
            out.append((sentences[i - 1], nxt))
    return out


def spelled_out(
    ranked: list[ScoredSentence],
    sources: list[Hit],
    chosen: list[ScoredSentence],
    margin: float,
    asked: set[str] | None = None,
) -> list[ScoredSentence]:
    """The sentence that spells out ("Specifically, we ...") the best-scoring sentence of
    ``ranked`` that has one, when that one is within ``margin`` of the best and the
    spelling-out is not chosen yet (at most one)."""
    after: dict[tuple[str, int], str] = {}
    for n in {s.source for s in ranked}:
        hit = sources[n - 1]
        sentences = split_by_offsets(hit.text, hit_offsets(hit))
        after |= {(prev, n): nxt for prev, nxt in elaborations(sentences, asked)}
    by_text = {(s.text, s.source): s for s in ranked}
    for s in ranked:
        if s.score < ranked[0].score - margin:
            break
        nxt = by_text.get((after.get((s.text, s.source), ""), s.source))
        if nxt is not None:
            return [] if any(nxt.text == c.text for c in chosen) else [nxt]
    return []


def by_segment(
    ranked: list[ScoredSentence],
    chosen: list[ScoredSentence],
    limit: int,
    gap: float,
    minimum: float,
) -> list[ScoredSentence]:
    """Up to ``limit`` sentences of ``ranked``, each the best for a phrase of the
    question (:func:`segments`) that it states ``gap``
    better than every ``chosen`` one: the parts a paraphrased question words differently."""
    out: list[ScoredSentence] = []
    for i in range(len(ranked[0].parts) if ranked and chosen else 0):
        top = max(ranked, key=lambda s: s.parts[i])
        have = max(c.parts[i] for c in [*chosen, *out])
        if len(out) >= limit:
            break
        if top.parts[i] >= max(minimum, have + gap):
            out.append(top)
    return out


#: A paper speaking of its own work ("we", "our approach", "this paper").
OWN_VOICE_RE = re.compile(r"\b(we|our|us|this (paper|work|study|article|survey))\b", re.IGNORECASE)


def background(sources: list[Hit]) -> set[tuple[str, int]]:
    """The (sentence, source number) pairs that open a paper before it first speaks of its own
    work (:data:`OWN_VOICE_RE`: "we propose", "our approach uses"): the background ("X is
    widely used", "Prior work relies on ..."), which repeats a question's words without answering
    it. Only chunks that start their paper are read (the rest do not show where it ends)."""
    out: set[tuple[str, int]] = set()
    for n, hit in enumerate(sources, start=1):
        if position(hit) != (0, 0):
            continue
        sentences = split_by_offsets(hit.text, hit_offsets(hit))
        first = next((i for i, s in enumerate(sentences) if OWN_VOICE_RE.search(s)), None)
        out |= {(s, n) for s in sentences[: first or 0]}
    return out


def demote(
    scored: list[ScoredSentence], these: set[tuple[str, int]], penalty: float
) -> list[ScoredSentence]:
    """``scored`` with ``these`` (sentence, source number) pairs ``penalty`` lower, re-sorted."""
    out = [
        replace(s, score=s.score - penalty) if (s.text, s.source) in these else s for s in scored
    ]
    return sorted(out, key=lambda s: -s.score)


def lead_paper_first(
    scored: list[ScoredSentence], sources: list[Hit], k: int, margin: float
) -> list[ScoredSentence]:
    """``scored`` (best first) with the best sentence of the paper whose ``k`` best sentences
    score best on average moved first, when it is within ``margin`` of the best sentence: a
    paraphrased question matches its paper in several sentences, another paper's background in
    one."""
    tops: dict[str, list[float]] = {}
    for s in scored:
        tops.setdefault(sources[s.source - 1].paper_id, []).append(s.score)
    vote = {p: sum(v[:k]) / k for p, v in tops.items()}
    lead = max(vote, key=lambda p: vote[p])
    first = next(s for s in scored if sources[s.source - 1].paper_id == lead)
    if first is scored[0] or first.score < scored[0].score - margin:
        return scored
    return [first, *(s for s in scored if s is not first)]
