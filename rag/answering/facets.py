"""The parts ("facets") of a question and the sentences that state a finding, for extractive
synthesis (:mod:`rag.answering.extractive`).

A multi-part question ("What tradeoff limits recall ..., and what prompting-level fix has been
proposed ...?", "How is each trained, and what length reductions do they report?") asks for one
thing per clause: :func:`facets` splits it into those clauses, each a :class:`Facet` with the
kind of answer it wants (a number, a reason, a method). A sentence that answers one clause may
share few words with the whole question, so each clause is scored on its own.

:data:`FINDING_RE` marks the sentences in which a paper states what it shows, finds or proposes
(its claims), as opposed to background ("Recent work has ...", "X is widely used"); a summary
question ("What do the papers say about X?") is answered by each paper's claims about X.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rag.answering.focus import Focus, analyse, answers_kind

FacetKind = Literal["quantity", "reason", "result", "method", "general"]

#: Where a question's clauses start: a new question sentence, or ", and what/how/...".
_SPLIT = re.compile(
    r"(?<=[?.;])\s+(?=[A-Z])|,?\s+and\s+(?=(what|how|which|why|where|who|when|whether|does|do|"
    r"is|are)\b)",
    re.IGNORECASE,
)
_ASKS = re.compile(
    r"\b(what|how|which|why|where|who|when|whether|does|do|did|is|are|can)\b|\?", re.IGNORECASE
)
_REASON_Q = re.compile(
    r"\b(why|what (problem|issue|limitation|challenge|reason)s?|motivat\w*|what (limits|causes|"
    r"explains|drives)|fall\w* short)\b",
    re.IGNORECASE,
)
#: A clause asking what a method achieves ("what does each gain", "does it help", "how well").
_RESULT_Q = re.compile(
    r"\b(gain\w*|help\w*|benefit\w*|improve\w*|how well|pay off|work better|compare\w*)\b", re.I
)
_METHOD_Q = re.compile(r"\bhow (is|are|was|were|does|do|did|can)\b|\b(trained|used|work)\b", re.I)

#: A paper's own finding or claim ("we prove", "our experiments indicate", "results show").
FINDING_RE = re.compile(
    r"\b(we|this (paper|work|study)|our (work|analysis|experiments?|results?|findings?|study|"
    r"theory))\b[^.]{0,60}?\b(show|find|found|prove|identify|reveal|demonstrate|observe|discover|"
    r"indicate|confirm|establish|argue)\w*|\b(results?|experiments?|"
    r"analys[ie]s|findings?|evaluations?) (show|indicate|reveal|suggest|demonstrate|confirm)\w*",
    re.IGNORECASE,
)
#: A sentence giving a reason or a limitation ("due to", "because", "restricts", "lead to").
REASON_RE = re.compile(
    r"\b(due to|because|caused? by|stems? from|rooted in|attribut\w+ to|lead\w* to|result\w* in|"
    r"the (reason|cause|root)|limit\w*|restrict\w*|hinder\w*|suffer\w*|bottleneck|prone to|"
    r"fail\w*|(is|are) not|cannot|lack\w*|issues?|problems?|challenges?)\b",
    re.IGNORECASE,
)
#: A sentence reporting what a method achieves (a comparison, a gain, a number).
RESULT_RE = re.compile(
    r"\b(outperform\w*|surpass\w*|improv\w*|achiev\w*|gains?|better|higher|lower|faster|"
    r"fewer|less|reduc\w*|boost\w*|state-of-the-art|competitive|matches|benefit\w*)\b|"
    r"(?<![\w(-])\d+([.,]\d+)?(?![\w)-])",
    re.IGNORECASE,
)
#: A sentence saying how the work is done.
METHOD_RE = re.compile(
    r"\b(train\w*|stage|pipeline|fine-tun\w*|reinforcement learning|RL|loss|objective|reward|"
    r"by (using|leveraging|combining|introducing|training|learning)|consists? of|based on|"
    r"framework|architecture|algorithm)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Facet:
    text: str  # the clause, with the question's statement before it ("Two papers ... .")
    kind: FacetKind
    focus: Focus  # what the clause asks for (its numbers are not answers)


def facets(question: str) -> list[Facet]:
    """The clauses of a multi-part question, each with the kind of answer it asks for; ``[]``
    when the question asks one thing. A statement that sets up the question ("AutoThink and
    AdaCtrl both ...") is context, prefixed to every clause, not a clause of its own."""
    parts = [p.strip(" ,;") for p in _SPLIT.split(question) if p and p.strip(" ,;")]
    parts = [p for p in parts if len(p.split()) >= 3]
    setup = [p for p in parts if not _ASKS.search(p)]
    asked = [p for p in parts if _ASKS.search(p)]
    if len(asked) < 2:
        return []
    context = " ".join(setup)
    texts = [f"{context} {p}".strip() for p in asked]
    return [Facet(t, _kind(p), analyse(t)) for t, p in zip(texts, asked, strict=True)]


def _kind(clause: str) -> FacetKind:
    if analyse(clause).kind == "quantity" or re.search(r"\bhow (big|large|many|much)\b", clause):
        return "quantity"
    if _REASON_Q.search(clause):
        return "reason"
    if _RESULT_Q.search(clause):
        return "result"
    if _METHOD_Q.search(clause):
        return "method"
    return "general"


def fits(facet: Facet, sentence: str) -> bool:
    """Whether ``sentence`` states the kind of answer ``facet`` asks for."""
    if facet.kind == "quantity":
        return answers_kind(facet.focus, sentence) or bool(
            re.search(r"\d[\d,.]*\s*(%|percent|million|billion|[MBK]\b)", sentence)
        )
    if facet.kind == "reason":
        return bool(REASON_RE.search(sentence))
    if facet.kind == "method":
        return bool(METHOD_RE.search(sentence))
    if facet.kind == "result":
        return bool(RESULT_RE.search(sentence))
    return True


def asks_reason(question: str) -> bool:
    """A "why" question ("why ... falls short", "what limits ...")."""
    return bool(_REASON_Q.search(question))
