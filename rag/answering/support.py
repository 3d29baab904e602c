"""Offline support scorer: how likely is it that the cited passage(s) support an answer sentence?

Deterministic and CPU-only; used to verify LLM answers before they are shown (an unsupported
sentence is dropped or marked) and as the evaluation harness's offline faithfulness judge.

Each passage is split into sentences (:func:`rag.text.split_sentences`) plus windows of two
adjacent sentences; the answer sentence (citation markers like ``[1]`` removed), its
polarity-flipped variant and all those units are embedded in one call. Candidate features are
listed in :data:`ALL_FEATURES`; ``eval/fit_support.py`` picks among them by cross-validation on the
fit half of SciFact train claims and fits a weighted logistic regression, whose result is the
package data file ``rag/data/weights/support.json``. On the held-out half (see that script) the
combined score gains most where plain cosine is weakest, SUPPORT vs REFUTE, but contradiction
detection stays weak.

One hard rule is applied on top: a number in the sentence that the passage does not state
("42 %" = "42%" = "0.42", "1,000" = "1000", "2x" = "2-fold" = "two-fold", "76%" is found in
"76.3%") caps the score at ``NUMBER_CAP * threshold`` and the reason names the number.
``DEFAULT_THRESHOLD`` maximises accuracy on the fit half with every kind of pair weighted alike
(positives 1/2; REFUTE rationale, REFUTE abstract, other sentence of the same abstract, cited
abstract without evidence, unrelated sentence, unrelated abstract 1/12 each).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from rag.answering.grammar import CITATION_RE
from rag.text import split_sentences, terms

if TYPE_CHECKING:
    from rag.index.embedding import Embedder

WEIGHTS_FILE = "support.json"


@dataclass(frozen=True)
class SupportModel:
    """The fitted logistic model (package data ``rag/data/weights/support.json``, written by
    ``python -m eval.fit_support --write``)."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float  # max. weighted accuracy on the fit half
    cosine_threshold: float  # the cosine-only baseline's, fitted alike

    @classmethod
    def load(cls) -> SupportModel:
        from rag.weights import load_weights

        data = load_weights(WEIGHTS_FILE)
        return cls(
            features=tuple(data["features"]),
            weights=tuple(float(w) for w in data["weights"]),
            bias=float(data["bias"]),
            threshold=float(data["threshold"]),
            cosine_threshold=float(data["cosine_threshold"]),
        )


MODEL = SupportModel.load()
FEATURES, WEIGHTS, BIAS = MODEL.features, MODEL.weights, MODEL.bias
DEFAULT_THRESHOLD, COSINE_THRESHOLD = MODEL.threshold, MODEL.cosine_threshold

# A sentence with a number the passage lacks scores at most NUMBER_CAP * threshold.
NUMBER_CAP = 0.5
ALL_FEATURES = (
    "cos_max",  # max cosine between the sentence and any passage sentence / 2-sentence window
    "cov",  # share of the sentence's content terms (stems) found in the passages
    "cov_prefix",  # the same with terms cut to 5 characters (inhibits ~ inhibition)
    "cov_best",  # share of content terms found in the best-matching unit alone
    "neg_mismatch",  # 1 if exactly one of sentence / best unit has a negation cue
    "dir_conflict",  # 1 if sentence says increase and best unit says decrease (or vice versa)
    "flip_gain",  # max cosine of the polarity-flipped sentence minus that of the sentence
    "num_match",  # 1 if the sentence has numbers and the passage has all of them
    "log_units",  # log(1 + number of passage units compared)
)

_NUM = r"(\d{1,3}(?:,\d{3}(?!\d))+|\d+)(\.\d+)?"  # "1,000" "4.5"
_SUFFIX = (  # "times" glued to a number is LaTeX residue: "4.8times faster"
    r"(\s*(?:%|percent\b|per\s*cent\b|-?fold\b|x\b|×|times\b)|\s+(?:million|billion|thousand)\b)?"
)
# In the sentence only free-standing numbers count ("IL-6", "p53", "4-PBA" do not); in the
# passage every digit run does (the sentence's "Type 1" may be the passage's "T1D").
# A number is read whole or not at all: "4.6G FLOPs" is not a "4".
_SENT_NUM_RE = re.compile(rf"(?<![\w.])(?<![A-Za-z]-){_NUM}(?!\.?\d){_SUFFIX}(?!\w)(?!-[A-Za-z])")
_PASSAGE_NUM_RE = re.compile(_NUM + _SUFFIX)
_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9}
_WORDS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
_WORD_NUMS = {w: float(i) for i, w in enumerate(_WORDS.split())}
_WORD_NUMS |= {"fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}
_WORD_NUMS |= {"hundred": 100, "thousand": 1000, "twice": 2, "double": 2, "doubled": 2}
_WORD_NUMS |= {"triple": 3, "tripled": 3, "half": 0.5}
_WORD_NUM_RE = re.compile(r"\b(" + "|".join(_WORD_NUMS) + r")(?:-?fold)?\b", re.IGNORECASE)
_NEG_RE = re.compile(
    r"\b(not|no|never|neither|nor|without|cannot|none|lacks?|lacking|absence|absent|fail(?:s|ed)?"
    r"|unable|unaffected|unchanged|nonsignificant|non-significant|insignificant)\b|n't\b",
    re.IGNORECASE,
)
_UP_RE = re.compile(
    r"\b(increas\w*|higher|elevat\w*|enhanc\w*|rais\w*|promot\w*|greater|upregulat\w*|"
    r"up-regulat\w*|improv\w*|induc\w*|activat\w*|stimulat\w*|augment\w*)\b",
    re.IGNORECASE,
)
_DOWN_RE = re.compile(
    r"\b(decreas\w*|reduc\w*|lower\w*|declin\w*|inhibit\w*|suppress\w*|downregulat\w*|"
    r"down-regulat\w*|impair\w*|attenuat\w*|diminish\w*|prevent\w*|block\w*|los[se]s?)\b",
    re.IGNORECASE,
)
_ANTONYM_PAIRS = """increase decrease increases decreases increased decreased increasing decreasing
    higher lower more less greater smaller larger smaller enhance reduce enhances reduces
    enhanced reduced promote inhibit promotes inhibits promoted inhibited upregulates
    downregulates upregulated downregulated upregulation downregulation raises lowers raised
    lowered improves worsens improved worsened improve worsen gain loss above below positive
    negative positively negatively presence absence present absent rise fall rises falls
    beneficial harmful effective ineffective sufficient insufficient accelerates delays"""
_ANTONYMS = dict(zip(*[iter(_ANTONYM_PAIRS.split())] * 2, strict=True))
_ANTONYMS |= {b: a for a, b in _ANTONYMS.items()}
_ANTONYM_RE = re.compile(r"\b(" + "|".join(_ANTONYMS) + r")\b", re.IGNORECASE)
_NEGATION_RE = re.compile(r"\b(?:not|never|no)\s+|n't\b|(?<=\bcan)not\b", re.IGNORECASE)
_AUX_RE = re.compile(
    r"\b(is|are|was|were|does|do|did|can|could|may|might|has|have|had|will|would|should)\b",
    re.IGNORECASE,
)


@dataclass
class SupportResult:
    """Score in [0, 1], the verdict at the scorer's threshold, a short reason and the features."""

    score: float
    supported: bool
    reason: str
    features: dict[str, float] = field(default_factory=dict)
    missing_numbers: list[str] = field(default_factory=list)


def strip_citations(sentence: str) -> str:
    return " ".join(CITATION_RE.sub(" ", sentence).split())


def _numbers(regex: re.Pattern[str], text: str) -> list[tuple[str, float, int, bool]]:
    """(as written, value, decimals written, is a percentage) for each number."""
    out = []
    for m in regex.finditer(re.sub(r"(?<=\d)·(?=\d)", ".", text)):  # "11·9" is 11.9
        suffix = (m.group(3) or "").strip().lower()
        value = float(m.group(1).replace(",", "") + (m.group(2) or "")) * _SCALE.get(suffix, 1.0)
        decimals = len(m.group(2) or ".") - 1
        out.append((m.group(0).strip(), value, decimals, suffix.startswith(("%", "per"))))
    return out


def sentence_numbers(text: str) -> list[tuple[str, float, int, bool]]:
    """Free-standing numbers written in digits: "42 %" -> 42, "1,000" -> 1000, "2x" -> 2."""
    return _numbers(_SENT_NUM_RE, text)


def passage_values(text: str) -> list[float]:
    """Every value the passage states in digits or words, also as fraction <-> percentage."""
    found = [(v, pct) for _, v, _, pct in _numbers(_PASSAGE_NUM_RE, text)]
    found += [(_WORD_NUMS[m.group(1).lower()], False) for m in _WORD_NUM_RE.finditer(text)]
    values = [v for v, _ in found]
    values += [v / 100 if pct else v * 100 for v, pct in found if pct or 0 < v <= 1]
    return values


def missing_numbers(sentence: str, passage: str) -> list[str]:
    """The sentence's numbers that the passage lacks (a passage value rounded to the precision
    the sentence writes counts: "76%" is found in "76.3%")."""
    values = np.array(passage_values(passage)) if sentence_numbers(sentence) else np.zeros(0)
    return [
        raw
        for raw, v, d, _ in sentence_numbers(sentence)
        if not np.any(np.abs(np.round(values, d) - v) < 1e-9 * max(1.0, abs(v)))
    ]


def flip_polarity(sentence: str) -> str:
    """The sentence with its polarity reversed: antonyms swapped, else a negation removed, else
    "not" inserted after the first auxiliary verb (else "It is not true that ...")."""
    if _ANTONYM_RE.search(sentence):
        swap = lambda m: _ANTONYMS[m.group(1).lower()]  # noqa: E731
        return _ANTONYM_RE.sub(swap, sentence)
    if _NEGATION_RE.search(sentence):
        return " ".join(_NEGATION_RE.sub("", sentence, count=1).split())
    if _AUX_RE.search(sentence):
        return _AUX_RE.sub(lambda m: f"{m.group(1)} not", sentence, count=1)
    return f"It is not true that {sentence}"


def _terms(text: str) -> list[str]:
    return terms(text)


def _polarity(text: str) -> tuple[bool, int]:
    """(has a negation cue, direction: +1 increase only, -1 decrease only, 0 neither/both)."""
    up, down = bool(_UP_RE.search(text)), bool(_DOWN_RE.search(text))
    return bool(_NEG_RE.search(text)), int(up) - int(down)


def _units(passage: str) -> list[str]:
    sents = split_sentences(passage)
    return sents + [f"{a} {b}" for a, b in itertools.pairwise(sents)]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


class SupportScorer:
    """Scores (sentence, cited passages) pairs; see the module docstring."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        threshold: float | None = None,
        features: Sequence[str] = FEATURES,
        weights: Sequence[float] = WEIGHTS,
        bias: float = BIAS,
    ) -> None:
        self.embedder = embedder
        self.threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        if len(features) != len(weights) or not set(features) <= set(ALL_FEATURES):
            raise ValueError(f"bad support model: {features} / {weights}")
        self.features, self.weights, self.bias = tuple(features), tuple(weights), float(bias)

    def score(self, sentence: str, passages: list[str]) -> SupportResult:
        return self.score_many([(sentence, passages)])[0]

    def score_many(self, pairs: Sequence[tuple[str, list[str]]]) -> list[SupportResult]:
        """Score many pairs, embedding all distinct texts in a single call."""
        return [self.result(f, miss) for f, miss in self.features_many(pairs)]

    def result(self, feats: dict[str, float] | None, missing: list[str]) -> SupportResult:
        """Combine computed features into a :class:`SupportResult` (applies the number rule)."""
        if feats is None:
            return SupportResult(0.0, False, "empty sentence or no cited passage text")
        z = self.bias + sum(w * feats[n] for n, w in zip(self.features, self.weights, strict=True))
        score = _sigmoid(z)
        if missing:
            score = min(score, NUMBER_CAP * self.threshold)
        ok = score >= self.threshold
        return SupportResult(score, ok, self._reason(feats, missing, ok), feats, missing)

    def _reason(self, f: dict[str, float], missing: list[str], supported: bool) -> str:
        if missing:
            nums = ", ".join(missing[:3])
            return f"number{'s' if len(missing) > 1 else ''} {nums} not in cited passage"
        detail = f"similarity {f['cos_max']:.2f}, {f['cov']:.0%} of terms found"
        if supported:
            return f"supported ({detail})"
        if f["neg_mismatch"] or f["dir_conflict"] or f["flip_gain"] > 0:
            return f"polarity may differ from cited passage ({detail})"
        if f["cos_max"] < 0.5:
            return f"low similarity ({detail})"
        if f["cov"] < 0.5:
            return f"few terms found in cited passage ({detail})"
        return f"weak support ({detail})"

    def features_many(
        self, pairs: Sequence[tuple[str, list[str]]]
    ) -> list[tuple[dict[str, float] | None, list[str]]]:
        """All candidate features (:data:`ALL_FEATURES`) and the missing numbers of each pair;
        ``None`` features for an empty sentence or passage."""
        clean = [strip_citations(s) for s, _ in pairs]
        flips = [flip_polarity(s) for s in clean]
        units = [[u for p in passages for u in _units(p)] for _, passages in pairs]
        texts = list(dict.fromkeys([*clean, *flips, *(u for us in units for u in us)]))
        index = {t: i for i, t in enumerate(texts)}
        vecs = self.embedder.embed(texts) if texts else np.zeros((0, 1), dtype=np.float32)
        out: list[tuple[dict[str, float] | None, list[str]]] = []
        for sent, flip, us, (_, passages) in zip(clean, flips, units, pairs, strict=True):
            if not us or not sent:
                out.append((None, []))
                continue
            unit_vecs = vecs[[index[u] for u in us]]
            sims = unit_vecs @ vecs[index[sent]]
            best = us[int(np.argmax(sims))]
            joined = " ".join(passages)
            s_terms, p_terms, b_terms = _terms(sent), set(_terms(joined)), set(_terms(best))
            n_terms = max(len(s_terms), 1)
            p_prefixes = {p[:5] for p in p_terms}
            (s_neg, s_dir), (b_neg, b_dir) = _polarity(sent), _polarity(best)
            missing = missing_numbers(sent, joined)
            feats = {
                "cos_max": float(sims.max()),
                "cov": sum(t in p_terms for t in s_terms) / n_terms,
                "cov_prefix": sum(t[:5] in p_prefixes for t in s_terms) / n_terms,
                "cov_best": sum(t in b_terms for t in s_terms) / n_terms,
                "neg_mismatch": float(s_neg != b_neg),
                "dir_conflict": float(s_dir * b_dir < 0),
                "flip_gain": float((unit_vecs @ vecs[index[flip]]).max() - sims.max()),
                "num_match": float(bool(sentence_numbers(sent)) and not missing),
                "log_units": math.log1p(len(us)),
            }
            out.append((feats, missing))
        return out
