"""Stance: given a claim and an on-topic evidence text, does the evidence support the claim or
contradict it? A small logistic model over MiniLM embeddings and polarity cues.

This is not a relevance check: it assumes the two texts are about the same thing (the support
scorer in :mod:`rag.answering.support` checks that) and only orders SUPPORT above CONTRADICT.
Features, for claim embedding ``u``, evidence embedding ``v`` and the embedding ``f`` of the
claim with its polarity flipped (:func:`rag.answering.support.flip_polarity`):

* dense: ``u*v``, ``|u-v|`` and ``(f-u)*v`` (how the flip moves the claim relative to the
  evidence), 384 values each;
* scalar (:data:`SCALAR_FEATURES`): cosines, the flip gain, negation and direction-word cues of
  each side and their mismatch, an antonym of a claim word found in the evidence, and numbers of
  the claim the evidence does not state.

Fitted by ``python -m eval.fit_stance --write`` on the fit half of SciFact train claims (claim vs
rationale, SUPPORT = 1, REFUTE = 0, plus claims with their polarity flipped as synthetic
contradictions); the weights are ``rag/data/weights/stance.json``. Measured on the held-out half
(real labels only): see that script and the README.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from rag.answering.support import (
    _ANTONYM_RE,
    _ANTONYMS,
    _polarity,
    flip_polarity,
    missing_numbers,
    strip_citations,
)

if TYPE_CHECKING:
    from rag.index.embedding import Embedder

STANCE_FILE = "stance.json"
SCALAR_FEATURES = (
    "cos",  # cosine(claim, evidence)
    "cos_flip",  # cosine(flipped claim, evidence)
    "flip_gain",  # cos_flip - cos
    "neg_claim",  # the claim has a negation cue
    "neg_evidence",  # the evidence has one
    "neg_mismatch",  # exactly one of them has
    "dir_claim",  # +1 increase words only, -1 decrease words only, 0 neither or both
    "dir_evidence",
    "dir_conflict",  # claim and evidence point in opposite directions
    "antonym",  # the evidence holds the antonym of a claim word but not the word itself
    "num_missing",  # the claim states a number the evidence lacks
)
DENSE_BLOCKS = ("uv", "absdiff", "flipv")
Vector = npt.NDArray[np.float64]


def scalar_features(claim: str, evidence: str, u: Vector, v: Vector, f: Vector) -> dict[str, float]:
    """The :data:`SCALAR_FEATURES` of one (claim, evidence) pair; u, v, f unit vectors."""
    (c_neg, c_dir), (e_neg, e_dir) = _polarity(claim), _polarity(evidence)
    words = {m.group(1).lower() for m in _ANTONYM_RE.finditer(claim)}
    ev_words = {m.group(1).lower() for m in _ANTONYM_RE.finditer(evidence)}
    antonym = any(_ANTONYMS[w] in ev_words and w not in ev_words for w in words)
    cos, cos_flip = float(u @ v), float(f @ v)
    return {
        "cos": cos,
        "cos_flip": cos_flip,
        "flip_gain": cos_flip - cos,
        "neg_claim": float(c_neg),
        "neg_evidence": float(e_neg),
        "neg_mismatch": float(c_neg != e_neg),
        "dir_claim": float(c_dir),
        "dir_evidence": float(e_dir),
        "dir_conflict": float(c_dir * e_dir < 0),
        "antonym": float(antonym),
        "num_missing": float(bool(missing_numbers(claim, evidence))),
    }


def dense_features(u: Vector, v: Vector, f: Vector, blocks: Sequence[str]) -> Vector:
    parts = {"uv": lambda: u * v, "absdiff": lambda: np.abs(u - v), "flipv": lambda: (f - u) * v}
    if not blocks:
        return np.zeros(0)
    return np.concatenate([parts[b]() for b in blocks])


def feature_vector(
    claim: str,
    evidence: str,
    u: Vector,
    v: Vector,
    f: Vector,
    scalars: Sequence[str],
    blocks: Sequence[str],
) -> Vector:
    s = scalar_features(claim, evidence, u, v, f)
    return np.concatenate([[s[n] for n in scalars], dense_features(u, v, f, blocks)])


@dataclass(frozen=True)
class StanceModel:
    """The fitted model (``rag/data/weights/stance.json``)."""

    scalars: tuple[str, ...]
    blocks: tuple[str, ...]
    weights: Vector
    bias: float
    #: P(support) below this: "contradicts", at the held-out precision ``differ_precision``
    #: (None: no cut was precise enough, never say "contradicts")
    differ_threshold: float | None = None
    differ_precision: float = 0.0
    #: P(support) at or above this: "supports", at the held-out precision ``agree_precision``
    agree_threshold: float | None = None
    agree_precision: float = 0.0
    #: cosine at or above which two sentences are taken to be about the same subject
    subject_threshold: float | None = None

    @classmethod
    def load(cls) -> StanceModel:
        from rag.weights import load_weights

        d = load_weights(STANCE_FILE)
        return cls(
            scalars=tuple(d["scalars"]),
            blocks=tuple(d["blocks"]),
            weights=np.asarray(d["weights"], dtype=np.float64),
            bias=float(d["bias"]),
            differ_threshold=_opt(d.get("differ_threshold")),
            differ_precision=float(d["differ_precision"]),
            agree_threshold=_opt(d.get("agree_threshold")),
            agree_precision=float(d["agree_precision"]),
            subject_threshold=_opt(d.get("subject_threshold")),
        )


def _opt(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


class StanceJudge:
    """P(the evidence supports the claim rather than contradicting it), for on-topic pairs."""

    def __init__(self, embedder: Embedder, model: StanceModel | None = None) -> None:
        self.embedder = embedder
        self.model = model or StanceModel.load()

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """P(support) for each (claim, evidence) pair; all texts embedded in one call."""
        if not pairs:
            return []
        m = self.model
        claims = [strip_citations(c) for c, _ in pairs]
        evidence = [strip_citations(e) for _, e in pairs]
        flips = [flip_polarity(c) for c in claims]
        texts = list(dict.fromkeys([*claims, *evidence, *flips]))
        index = {t: i for i, t in enumerate(texts)}
        vecs = np.asarray(self.embedder.embed(texts), dtype=np.float64)
        out = []
        for c, e, fl in zip(claims, evidence, flips, strict=True):
            x = feature_vector(
                c, e, vecs[index[c]], vecs[index[e]], vecs[index[fl]], m.scalars, m.blocks
            )
            z = float(x @ m.weights) + m.bias
            out.append(1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z)))
        return out
