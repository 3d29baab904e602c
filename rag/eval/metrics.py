"""Evaluation metrics, and the reports made of them: pure functions, no I/O, no models.

See ``eval/README.md`` for the definitions in short.

Every metric is defined for every case and never NaN. Per question:

* Retrieval (``recall_at_k``, ``reciprocal_rank``, ``ndcg_at_k``): binary relevance over ranked
  *paper* ids, as BEIR computes them. They are ``None`` (not applicable) when a question has no
  gold papers; summaries average over the questions that have some and report that count.
* ``key_fact_recall``: the share of the reference key facts the answer conveys (:func:`conveys`).
* ``citation_scores``: ALCE citation recall and precision, and faithfulness, given a support
  verdict ``supports(sentence, passages) -> bool`` (the judge).

Refusals (positive class: the question should be refused):

* a correct refusal is fully correct: key-fact recall, faithfulness, citation precision and
  citation recall are all 1;
* a refusal of an answerable question gets key-fact recall 0 and citation recall 0 (it conveys
  nothing and cites nothing); its faithfulness and citation precision are 1, because it states
  nothing unsupported and makes no irrelevant citation. The refusal metrics count it as a false
  refusal;
* an answer to a question that should be refused gets key-fact recall 0; its citation metrics and
  faithfulness are computed as for any answer (they measure grounding, not whether to answer).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from rag.answering.grammar import CITATION_RE
from rag.text import FACT_STOPWORDS, plural_stem

#: Question types whose correct answer is a refusal (the positive class of the refusal metrics).
REFUSE_TYPES = frozenset({"unanswerable", "near_miss"})

#: A key fact counts as conveyed when at least this share of its content terms is in the answer.
FACT_TERM_SHARE = 0.8

# --- retrieval ------------------------------------------------------------------------------------


def unique_in_order(ids: Iterable[str]) -> list[str]:
    """Ranked chunk paper ids -> ranked papers: first occurrence of each id, in order."""
    return list(dict.fromkeys(ids))


def recall_at_k(ranked: Sequence[str], gold: Iterable[str], k: int) -> float | None:
    """Share of the gold papers among the first ``k`` ranked ids; None without gold papers."""
    relevant = set(gold)
    if not relevant:
        return None
    return len(relevant & set(ranked[:k])) / len(relevant)


def reciprocal_rank(ranked: Sequence[str], gold: Iterable[str]) -> float | None:
    """1 / rank of the first gold paper (0 when none is ranked); None without gold papers."""
    relevant = set(gold)
    if not relevant:
        return None
    for rank, pid in enumerate(ranked, start=1):
        if pid in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], gold: Iterable[str], k: int = 10) -> float | None:
    """Binary-relevance nDCG@k (BEIR / trec_eval ``ndcg_cut``); None without gold papers."""
    relevant = set(gold)
    if not relevant:
        return None
    dcg = sum(1.0 / math.log2(i + 2) for i, pid in enumerate(ranked[:k]) if pid in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal


def retrieval_scores(
    ranked: Sequence[str], gold: Iterable[str], recall_ks: Sequence[int] = (5, 10)
) -> dict[str, float | None]:
    """``recall_at_<k>`` for each k, ``mrr`` and ``ndcg_at_10`` of one ranking."""
    gold = list(gold)
    out = {f"recall_at_{k}": recall_at_k(ranked, gold, k) for k in recall_ks}
    return out | {"mrr": reciprocal_rank(ranked, gold), "ndcg_at_10": ndcg_at_k(ranked, gold, 10)}


# --- key facts --------------------------------------------------------------------------------

_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")


def normalise(text: str) -> str:
    """Lower case, NFKC, citation markers removed, punctuation to spaces, single spaces."""
    text = CITATION_RE.sub(" ", unicodedata.normalize("NFKC", text)).lower()
    return " ".join(re.sub(r"[^\w]+", " ", text).replace("_", " ").split())


def content_terms(text: str) -> set[str]:
    """Distinct content words of ``text``: normalised, stopwords and single letters dropped,
    plurals folded."""
    words = normalise(text).split()
    return {
        plural_stem(w) for w in words if w not in FACT_STOPWORDS and (len(w) > 1 or w.isdigit())
    }


def numbers(text: str) -> set[str]:
    """The numbers written in ``text`` (``71.5``, ``1,099``, ``3``)."""
    return {m.replace(",", "") for m in _NUMBER_RE.findall(CITATION_RE.sub(" ", text))}


def conveys(answer: str, fact: str, share: float = FACT_TERM_SHARE) -> bool:
    """Whether ``answer`` conveys the key ``fact``.

    True when the fact appears in the answer once both are normalised (case, whitespace and
    punctuation ignored, citation markers removed), or when at least ``share`` (80%) of the fact's
    content terms (stopwords dropped, plurals folded) appear in the answer *and* every number in
    the fact does: a paraphrase may reorder words but must keep the figures.
    """
    norm_fact, norm_answer = normalise(fact), normalise(answer)
    if not norm_fact:
        return True
    if f" {norm_fact} " in f" {norm_answer} ":
        return True
    fact_terms = content_terms(fact)
    if not fact_terms or not numbers(fact) <= numbers(answer):
        return False
    return len(fact_terms & content_terms(answer)) / len(fact_terms) >= share


def key_fact_recall(
    answer: str, facts: Sequence[str], *, refused: bool, should_refuse: bool
) -> float:
    """Share of ``facts`` the answer conveys, with the refusal rules of the module docstring.

    An answerable question with no key facts scores 1 when answered (nothing to miss).
    """
    if should_refuse or refused:
        return 1.0 if (should_refuse and refused) else 0.0
    if not facts:
        return 1.0
    return sum(conveys(answer, f) for f in facts) / len(facts)


# --- citations and faithfulness -------------------------------------------------------------

#: ``supports(sentence, passages)``: do the passages, read together, support the sentence?
Supports = Callable[[str, tuple[str, ...]], bool]


@dataclass(frozen=True)
class CitedSentence:
    """One answer sentence and the texts of the passages it cites, in citation order."""

    text: str
    passages: tuple[str, ...]


@dataclass(frozen=True)
class CitationScores:
    recall: float
    precision: float
    faithfulness: float
    supported: list[bool] = field(default_factory=list)  # per sentence: joint support
    n_citations: int = 0
    irrelevant_citations: int = 0

    def as_metrics(self) -> dict[str, float]:
        return {
            "faithfulness": self.faithfulness,
            "citation_precision": self.precision,
            "citation_recall": self.recall,
        }


def support_queries(sentences: Sequence[CitedSentence]) -> list[tuple[str, tuple[str, ...]]]:
    """Every (sentence, passages) verdict :func:`citation_scores` may ask for, without repeats:
    the joint support of each sentence and, for a sentence with several citations, each citation
    alone and each leave-one-out set. Judge these in one batch, then look the verdicts up."""
    out: dict[tuple[str, tuple[str, ...]], None] = {}
    for s in sentences:
        if not s.passages:
            continue
        out[(s.text, s.passages)] = None
        if len(s.passages) > 1:
            for i, passage in enumerate(s.passages):
                out[(s.text, (passage,))] = None
                out[(s.text, s.passages[:i] + s.passages[i + 1 :])] = None
    return list(out)


def citation_scores(
    sentences: Sequence[CitedSentence],
    supports: Supports,
    *,
    refused: bool,
    should_refuse: bool,
) -> CitationScores:
    """ALCE citation recall and precision (Gao et al., 2023), and faithfulness.

    * recall: share of sentences whose citations, read together, support them (an uncited
      sentence is unsupported);
    * precision: share of citations that are relevant. A citation is irrelevant when it alone
      does not support its sentence AND removing it leaves the sentence supported by the others.
      As in ALCE, the citations of an unsupported sentence all count as not relevant, and a single
      citation is relevant exactly when it supports its sentence;
    * faithfulness: share of answer sentences supported by their cited passages.

    A refusal scores by the refusal rules (module docstring). A non-refusal with no sentences, or
    with sentences but no citation at all, scores 0.
    """
    if refused:
        recall = 1.0 if should_refuse else 0.0
        return CitationScores(recall=recall, precision=1.0, faithfulness=1.0)
    if not sentences:
        return CitationScores(recall=0.0, precision=0.0, faithfulness=0.0)
    supported: list[bool] = []
    relevant = total = irrelevant = 0
    for s in sentences:
        joint = bool(s.passages) and supports(s.text, s.passages)
        supported.append(joint)
        total += len(s.passages)
        if not joint:
            continue
        if len(s.passages) == 1:
            relevant += 1
            continue
        for i, passage in enumerate(s.passages):
            rest = s.passages[:i] + s.passages[i + 1 :]
            if not supports(s.text, (passage,)) and supports(s.text, rest):
                irrelevant += 1
            else:
                relevant += 1
    share = sum(supported) / len(supported)
    return CitationScores(
        recall=share,
        precision=relevant / total if total else 0.0,
        faithfulness=share,
        supported=supported,
        n_citations=total,
        irrelevant_citations=irrelevant,
    )


def quotes(rationale: str, sentence: str, min_chars: int = 20) -> bool:
    """Whether an answer sentence quotes a gold rationale sentence: after :func:`normalise`, one
    contains the other (the shorter has at least ``min_chars`` characters)."""
    r, s = normalise(rationale), normalise(sentence)
    return min(len(r), len(s)) >= min_chars and (r in s or s in r)


def parse_decision(text: str) -> tuple[str | None, str]:
    """A PubMedQA reply -> (``yes``/``no``/``maybe`` or None, the reasoning that follows).

    The decision is the first word (``Yes.``, ``**No**``, ``Answer: maybe``); failing that, the
    first yes/no/maybe anywhere in the reply, with the whole reply as the reasoning.
    """
    text = text.strip()
    lead = r"^[\W_]*(?:(?:final\s+)?(?:answer|decision)\W*)?(yes|no|maybe)\b[\s.,:;!*_\-–—]*"
    m = re.match(lead, text, re.IGNORECASE)
    if m:
        return m.group(1).lower(), text[m.end() :].strip()
    m = re.search(r"\b(yes|no|maybe)\b", text, re.IGNORECASE)
    return (m.group(1).lower() if m else None), text


# --- refusals, latency, usage ---------------------------------------------------------------


@dataclass(frozen=True)
class RefusalScores:
    precision: float
    recall: float
    f1: float
    accuracy: float
    tp: int
    fp: int
    fn: int
    tn: int


def refusal_scores(should_refuse: Sequence[bool], refused: Sequence[bool]) -> RefusalScores:
    """Precision, recall and F1 of refusing (positive class: the question should be refused).

    Never NaN: with no refusals made, precision is 1 (no false refusal); with nothing that
    should be refused, recall is 1 (nothing missed); F1 is 0 when precision + recall is 0;
    accuracy over no questions is 1.
    """
    if len(should_refuse) != len(refused):
        raise ValueError("should_refuse and refused differ in length")
    pairs = list(zip(should_refuse, refused, strict=True))
    tp = sum(1 for s, r in pairs if s and r)
    fp = sum(1 for s, r in pairs if not s and r)
    fn = sum(1 for s, r in pairs if s and not r)
    tn = len(pairs) - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = (tp + tn) / len(pairs) if pairs else 1.0
    return RefusalScores(precision, recall, f1, accuracy, tp, fp, fn, tn)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation (numpy's default); 0 if empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * min(max(q, 0.0), 100.0) / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def usage_totals(usages: Iterable[Mapping[str, object] | None]) -> dict[str, float | int]:
    """Sum token counts and estimated cost; ``cost_unknown`` counts usages with no price."""
    totals: dict[str, float | int] = {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "cost_usd": 0.0,
        "cost_unknown": 0,
    }
    for usage in usages:
        if not usage:
            continue
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            totals[key] = int(totals[key]) + _as_int(usage.get(key))
        cost = usage.get("cost_usd")
        if isinstance(cost, int | float):
            totals["cost_usd"] = round(float(totals["cost_usd"]) + float(cost), 8)
        elif _as_int(usage.get("total_tokens")):
            totals["cost_unknown"] = int(totals["cost_unknown"]) + 1
    return totals


def _as_int(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0


# --- aggregation -------------------------------------------------------------------------------


def mean(values: Iterable[float | None]) -> tuple[float | None, int]:
    """Mean of the values that are not None, and how many there were (None when there are none)."""
    present = [float(v) for v in values if v is not None]
    return (sum(present) / len(present) if present else None), len(present)


def accuracy(predicted: Sequence[str | None], gold: Sequence[str]) -> float:
    """Share of exact matches (a missing prediction is wrong); 0 over no items."""
    if len(predicted) != len(gold):
        raise ValueError("predicted and gold differ in length")
    if not gold:
        return 0.0
    return sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)
