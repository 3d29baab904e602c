"""Sentence-level helpers of the extractive answerer (:mod:`rag.answering.extractive`): a
sentence's score for a question or a part of it (:func:`mix`), the parts ("segments") of a long
question a sentence may answer on its own (:func:`segments`), where a chunk sits in its paper, and
:func:`tidy`, which cleans a quoted sentence without rewording it.
"""

from __future__ import annotations

import re

from rag.answering.grammar import strip_markers
from rag.schema import Hit
from rag.text import terms

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
