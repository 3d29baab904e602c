"""Learned near-miss check: does a paper's text state the detail a question asks for?

A near miss is a question on a topic the library covers whose asked detail (a number, a dataset,
the hardware, a setting...) its papers do not state: "What GLUE score does bert2BERT's BERT_LARGE
reach?" when the abstract reports savings in training cost only. The extractive answerer still
finds on-topic sentences and the support check passes them, so without this check such a
question gets a confident, cited, wrong-question answer.

:class:`AnswerabilityScorer` scores ``(question, passages of the cited papers)`` with a small
logistic model over the features of :data:`ALL_FEATURES` (MiniLM cosine between the question and
the passages' sentences, lexical coverage of the question's content terms, names, numbers and
asked phrase, and whether a sentence states an answer of the asked kind). The weights are package
data (``rag/data/weights/answerability.json``), written by ``python -m eval.fit_answerability
--write``, which fits them on near misses made without labels (answerable questions whose detail
is swapped for one their paper does not mention) from the seed dev and dev2 splits, SciFact (fit
half) and PubMedQA, and measures them on the SciFact held-out half. A score below the model's
threshold means the asked detail is not stated: the verifier turns the answer into a "not
reported" one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rag.answering.focus import Focus, analyse, answers_kind, entities_of, norm, numbers_of
from rag.text import split_sentences, terms

if TYPE_CHECKING:
    from rag.index.embedding import Embedder
    from rag.schema import Hit

WEIGHTS_FILE = "answerability.json"

ALL_FEATURES = (
    "cos_best",  # max cosine between the question and a passage sentence
    "cov",  # share of the question's content terms found in the passages
    "cov_best",  # the same in the best-matching unit alone
    "miss_terms",  # log(1 + number of the question's content terms absent from the passages)
    "ent_cov",  # share of the question's names (acronyms, mixed case, digits) in the passages
    "num_cov",  # share of the question's numbers stated in the passages
    "asked_cov",  # share of the asked phrase's terms ("GLUE score", "GPU hardware") found
    "asked_best",  # the same within the three sentences nearest the question
    "kind_ok",  # a sentence states an answer of the asked kind (a number, hardware...)
    "kind_near",  # the same within the three sentences nearest the question
    "specific",  # the question asks for a specific kind (not a general question)
)

#: The asked phrase: the words between "what/which/how many" and the verb ("What GLUE score
#: does ..." -> "GLUE score").
_ASKED_RE = re.compile(
    r"\b(?:what|which|how many|how much)(?:'s|’s)?\s+((?:[\w\-']+\s+){0,4}?)(?:does|do|did|is|"
    r"are|was|were|has|have|had|can|could|would|will|of|in|on|for|from|to|at|with|when|that|"
    r"and)\b",
    re.IGNORECASE,
)


#: Heads of a question that looks for a paper ("Which work argues ..."), not a detail.
_FINDING = frozenset("paper papers work works study studies method methods approach approaches "
                     "technique techniques article articles".split())  # fmt: skip
#: Asked words that any stated number answers ("What fraction ...", "What accuracy ...", "by
#: what margin", "how much faster": an abstract states "84.4% top-1 on ImageNet", "by more than
#: 100%", "reduced to one-tenth" without the word).
_GENERIC_ASKED = frozenset("fraction share percentage proportion number amount value kind type "
                           "extent degree part accuracy performance improvement improvements "
                           "gain gains result results margin difference increase decrease boost "
                           "drop faster slower better worse higher lower larger smaller bigger "
                           "more less fewer longer shorter".split())  # fmt: skip
#: Words around the asked phrase that name nothing ("what else did", "what exact perplexity").
_FILLER_ASKED = frozenset("the a an else exact exactly specific specifically precise precisely "
                          "actual overall average mean final reported".split())  # fmt: skip


def asked_phrase(question: str) -> str:
    """The noun phrase a question asks for, or ``""``: ``"On which GPU hardware were ..."`` ->
    ``"GPU hardware"``; a question looking for a paper ("Which work ...") asks for none, and
    words any number answers ("fraction") are left out."""
    m = _ASKED_RE.search(question)
    words = m.group(1).split() if m else []
    if words and words[0].lower() in _FINDING:
        return ""
    return " ".join(w for w in words if w.lower() not in _GENERIC_ASKED | _FILLER_ASKED)


@dataclass(frozen=True)
class AnswerabilityModel:
    """The fitted logistic model (package data ``rag/data/weights/answerability.json``)."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float

    @classmethod
    def load(cls) -> AnswerabilityModel:
        from rag.weights import load_weights

        data = load_weights(WEIGHTS_FILE)
        return cls(
            features=tuple(data["features"]),
            weights=tuple(float(w) for w in data["weights"]),
            bias=float(data["bias"]),
            threshold=float(data["threshold"]),
        )


def _units(passage: str) -> list[str]:
    return split_sentences(passage)


def _share(wanted: Sequence[str], found: set[str]) -> float:
    return sum(w in found for w in wanted) / len(wanted) if wanted else 1.0


class AnswerabilityScorer:
    """Scores whether passages state what a question asks; see the module docstring."""

    def __init__(self, embedder: Embedder, model: AnswerabilityModel | None = None) -> None:
        self.embedder = embedder
        self.model = AnswerabilityModel.load() if model is None else model
        if len(self.model.features) != len(self.model.weights) or not set(
            self.model.features
        ) <= set(ALL_FEATURES):
            raise ValueError(f"bad answerability model: {self.model.features}")

    @property
    def threshold(self) -> float:
        return self.model.threshold

    def score(self, question: str, passages: Sequence[str], titles: Sequence[str] = ()) -> float:
        """Probability-like score in [0, 1] that ``passages`` (of papers titled ``titles``) state
        what ``question`` asks."""
        return self.score_many([(question, list(passages))], [titles])[0]

    def answerable(
        self, question: str, passages: Sequence[str], titles: Sequence[str] = ()
    ) -> bool:
        return self.score(question, passages, titles) >= self.threshold

    def score_many(
        self,
        items: Sequence[tuple[str, list[str]]],
        titles: Sequence[Sequence[str]] | None = None,
    ) -> list[float]:
        m = self.model
        out = []
        for feats in features_many(self.embedder, items, titles):
            if feats is None:
                out.append(0.0)
                continue
            z = m.bias + sum(w * feats[n] for n, w in zip(m.features, m.weights, strict=True))
            out.append(1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))))
        return out


def features_many(
    embedder: Embedder,
    items: Sequence[tuple[str, list[str]]],
    titles: Sequence[Sequence[str]] | None = None,
) -> list[dict[str, float] | None]:
    """All candidate features (:data:`ALL_FEATURES`) of each ``(question, passages)`` item,
    embedding every distinct text in one call; ``None`` for an empty question or passage. With
    ``titles`` (per item, the titles of the passages' papers), a question's words and names found
    in a title count as stated (a question describing a paper by its title's words is not a near
    miss); the sentence-level features still read the passages only."""
    units = [[u for p in passages for u in _units(p)] for _, passages in items]
    texts = list(dict.fromkeys([*(q for q, _ in items), *(u for us in units for u in us)]))
    index = {t: i for i, t in enumerate(texts)}
    vecs = embedder.embed(texts) if texts else np.zeros((0, 1), dtype=np.float32)
    out: list[dict[str, float] | None] = []
    per_titles = list(titles) if titles is not None else [()] * len(items)
    for (question, passages), us, ts in zip(items, units, per_titles, strict=True):
        if not us or not question.strip():
            out.append(None)
            continue
        sims = vecs[[index[u] for u in us]] @ vecs[index[question]]
        order = np.argsort(-sims, kind="stable")
        joined = " ".join([*passages, *ts])
        q_terms = list(dict.fromkeys(terms(question)))
        p_terms = set(terms(joined))
        b_terms = set(terms(us[int(order[0])]))
        near_terms = {t for i in order[:3] for t in terms(us[int(i)])}
        asked = list(dict.fromkeys(terms(asked_phrase(question))))
        ents = entities_of(question)
        p_norm = norm(joined)
        q_nums = sorted(numbers_of(question))
        p_nums = numbers_of(joined)
        focus = analyse(question)
        specific = focus.kind != "general"
        feats = {
            "cos_best": float(sims.max()),
            "cov": _share(q_terms, p_terms),
            "cov_best": _share(q_terms, b_terms),
            "miss_terms": math.log1p(sum(t not in p_terms for t in q_terms)),
            "ent_cov": sum(e in p_norm for e in ents) / len(ents) if ents else 1.0,
            "num_cov": _share(q_nums, p_nums),
            "asked_cov": _share(asked, p_terms),
            "asked_best": _share(asked, near_terms),
            "kind_ok": float(not specific or any(answers_kind(focus, s) for s in us)),
            "kind_near": float(
                not specific or any(answers_kind(focus, us[int(i)]) for i in order[:3])
            ),
            "specific": float(specific),
        }
        out.append(feats)
    return out


def not_reported(
    scorer: AnswerabilityScorer | None, focus: Focus, sources: Sequence[Hit], cited: Sequence[int]
) -> str | None:
    """What the answer does not report (``focus.describe()``) when ``scorer`` judges that the
    cited papers' passages (every given source of a cited paper, 1-based ``cited`` numbers) do
    not state what a one-paper question asks; ``None`` otherwise. Questions about several papers
    or about "this paper" are not judged: they ask for no single detail."""
    if scorer is None or focus.scope != "one" or not cited:
        return None
    papers = {sources[n - 1].paper_id for n in cited}
    passages = [h.text for h in sources if h.paper_id in papers]
    titles = list(dict.fromkeys(h.title for h in sources if h.paper_id in papers))
    return None if scorer.answerable(focus.question, passages, titles) else focus.describe()
