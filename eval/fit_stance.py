"""Fit and measure the stance model (rag/answering/stance.py) on SciFact train claims.

Pairs: a claim and one of its rationales (the evidence sentences of a cited abstract, joined),
labelled 1 for SUPPORT and 0 for REFUTE. Claims are split into a fit half and a held-out half
exactly as in ``eval/fit_support.py`` (by a hash of the smallest cited doc id). On the fit half
only, optionally with synthetic pairs: the claim with its polarity flipped
(:func:`rag.answering.support.flip_polarity`) against the same rationale, with the opposite label.
Model variants (feature sets, synthetic pairs or not, L2 strength) are compared by 2-fold
cross-validated AUROC on the real fit-half pairs; the best is refitted on the whole fit half.

Thresholds for :mod:`rag.answering.agreement` are chosen on the fit half's out-of-fold scores:
the highest P(support) cut whose precision for "contradicts" reaches ``--precision`` (and the
lowest cut whose precision for "supports" does), then reported on the held-out half. A side
without such a cut (or with under 5% recall) is disabled (null in the weights file).

Reported on the held-out half, real labels only: AUROC of SUPPORT vs REFUTE for the stance model,
for the shipped support scorer, and for their product; and for the product on the support
scorer's other held-out rows (``eval/fit_support.py``), to show it costs nothing there.

    python -m eval.fit_stance            # measure only
    python -m eval.fit_stance --write    # also rewrite rag/data/weights/stance.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval.fit_support import (
    ROWS,
    SCIFACT,
    Array,
    ProgressEmbedder,
    _group,
    auroc,
    build_pairs,
    fit_logistic,
    load_claims,
    load_corpus,
    score_pairs,
)
from rag.answering import stance
from rag.answering.stance import DENSE_BLOCKS, SCALAR_FEATURES, StanceJudge, StanceModel
from rag.answering.support import SupportScorer, flip_polarity
from rag.index.embedding import Embedder

VARIANTS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("scalars only", (), False),
    ("scalars only + synthetic", (), True),
    # Without synthetic pairs the dense variants did worse at every L2 (0.001-1) tried.
    ("scalars + uv, |u-v| + synthetic", ("uv", "absdiff"), True),
    ("scalars + uv, |u-v|, (f-u)v + synthetic", DENSE_BLOCKS, True),
)
L2S = (0.1, 1.0, 10.0, 100.0)


@dataclass
class StancePair:
    claim: str
    evidence: str
    label: int  # 1 SUPPORT, 0 REFUTE
    group: int
    synthetic: bool = False


def stance_pairs(
    claims: Sequence[dict[str, Any]], corpus: dict[int, list[str]]
) -> list[StancePair]:
    out = []
    for c in claims:
        for doc_id, sets in c["evidence"].items():
            abstract = corpus.get(int(doc_id))
            if not abstract:
                continue
            for s in sets:
                text = " ".join(abstract[i] for i in s["sentences"])
                out.append(StancePair(c["claim"], text, int(s["label"] == "SUPPORT"), _group(c)))
    return out


def synthetic(pairs: Sequence[StancePair]) -> list[StancePair]:
    """Each pair again with the claim's polarity flipped and the label reversed."""
    return [
        StancePair(flip_polarity(p.claim), p.evidence, 1 - p.label, p.group, True) for p in pairs
    ]


def features(emb: Embedder, pairs: Sequence[StancePair], blocks: Sequence[str]) -> Array:
    claims = [p.claim for p in pairs]
    flips = [flip_polarity(c) for c in claims]
    texts = list(dict.fromkeys([*claims, *flips, *(p.evidence for p in pairs)]))
    index = {t: i for i, t in enumerate(texts)}
    vecs = np.asarray(emb.embed(texts), dtype=np.float64)
    return np.array(
        [
            stance.feature_vector(
                p.claim,
                p.evidence,
                vecs[index[p.claim]],
                vecs[index[p.evidence]],
                vecs[index[f]],
                SCALAR_FEATURES,
                blocks,
            )
            for p, f in zip(pairs, flips, strict=True)
        ]
    )


def balanced(y: Array) -> Array:
    w = np.where(y == 1, 0.5 / max(1, int((y == 1).sum())), 0.5 / max(1, int((y == 0).sum())))
    return np.asarray(w, dtype=np.float64)


def cv_scores(x: Array, y: Array, fold: Array, real: Array, l2: float, use_syn: bool) -> Array:
    """Out-of-fold scores of the real pairs (synthetic ones only ever train)."""
    s = np.zeros(len(y))
    for k in (0, 1):
        tr = (fold != k) & (real | use_syn)
        coef, b = fit_logistic(x[tr], y[tr], balanced(y[tr]), l2=l2)
        te = (fold == k) & real
        s[te] = x[te] @ coef + b
    return s[real]


def precise_cut(p: Array, y: Array, target: float, side: int) -> tuple[float | None, float]:
    """side 0: the highest cut t with precision(P < t predicts REFUTE) >= target;
    side 1: the lowest cut with precision(P >= t predicts SUPPORT) >= target. (cut, precision)"""
    best: tuple[float | None, float] = (None, 0.0)
    cands = np.unique(np.round(p, 3))
    for t in cands if side == 1 else cands[::-1]:
        pred = p >= t if side == 1 else p < t
        if pred.sum() < max(3, 0.05 * (y == side).sum()):
            continue
        prec = float((y[pred] == side).mean())
        if prec >= target:
            return float(t), prec
    return best


def sigmoid(z: Array) -> Array:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))), dtype=np.float64)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--write", action="store_true", help="rewrite rag/data/weights/stance.json")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/rag-shared-cache"))
    ap.add_argument("--precision", type=float, default=0.9)
    args = ap.parse_args(argv)

    from rag.index.embedders import make_embedder
    from rag.settings import Settings

    start = time.perf_counter()
    claims = load_claims(SCIFACT / "claims_train.jsonl")
    corpus = load_corpus(SCIFACT / "corpus.jsonl.gz")
    halves = [[c for c in claims if _group(c) & 1 == h] for h in (0, 1)]
    fit, held = stance_pairs(halves[0], corpus), stance_pairs(halves[1], corpus)
    fit_all = fit + synthetic(fit)
    emb = ProgressEmbedder(
        make_embedder(Settings(home=Path("/tmp/support-home"), cache_dir=args.cache_dir)), False
    )
    print(f"pairs fit {len(fit)} (+{len(fit)} synthetic), held-out {len(held)}")
    print(f"held-out SUPPORT/REFUTE {sum(p.label for p in held)}/{sum(1 - p.label for p in held)}")
    x_all = features(emb, fit_all, DENSE_BLOCKS)
    x_held_all = features(emb, held, DENSE_BLOCKS)
    y = np.array([p.label for p in fit_all], dtype=np.float64)
    yh = np.array([p.label for p in held], dtype=np.float64)
    real = np.array([not p.synthetic for p in fit_all])
    fold = np.array([(p.group >> 1) & 1 for p in fit_all])
    ns = len(SCALAR_FEATURES)

    def cols(blocks: Sequence[str]) -> Array:
        keep = list(range(ns))
        for b in blocks:
            i = DENSE_BLOCKS.index(b)
            keep += list(range(ns + 384 * i, ns + 384 * (i + 1)))
        return np.array(keep)

    print("\n| variant | L2 | CV AUROC (fit half) | held-out AUROC |\n|---|---:|---:|---:|")
    best: tuple[float, str, tuple[str, ...], bool, float] = (0.0, "", (), False, 0.0)
    for name, blocks, use_syn in VARIANTS:
        c = cols(blocks)
        for l2 in L2S:
            s = cv_scores(x_all[:, c], y, fold, real, l2, use_syn)
            cv = auroc(s[y[real] == 1], s[y[real] == 0])
            tr = real | use_syn
            coef, b = fit_logistic(x_all[tr][:, c], y[tr], balanced(y[tr]), l2=l2)
            h = x_held_all[:, c] @ coef + b
            ha = auroc(h[yh == 1], h[yh == 0])
            print(f"| {name} | {l2:g} | {cv:.3f} | {ha:.3f} |")
            if cv > best[0]:
                best = (cv, name, blocks, use_syn, l2)
    cv, name, blocks, use_syn, l2 = best
    print(f"\nchosen by CV: {name}, L2 {l2:g} (CV AUROC {cv:.3f})")
    c = cols(blocks)
    tr = real | use_syn
    coef, bias = fit_logistic(x_all[tr][:, c], y[tr], balanced(y[tr]), l2=l2)
    oof = sigmoid(cv_scores(x_all[:, c], y, fold, real, l2, use_syn))
    d_cut, d_prec_fit = precise_cut(oof, y[real], args.precision, 0)
    a_cut, a_prec_fit = precise_cut(oof, y[real], args.precision, 1)
    model = StanceModel(
        tuple(SCALAR_FEATURES),
        tuple(blocks),
        coef,
        bias,
        differ_threshold=d_cut,
        agree_threshold=a_cut,
    )
    judge = StanceJudge(emb, model)
    p_held = np.array(judge.score_many([(p.claim, p.evidence) for p in held]))
    stance_auc = auroc(p_held[yh == 1], p_held[yh == 0])

    def held_prec(pred: Array, side: int) -> tuple[float, int]:
        return (float((yh[pred] == side).mean()) if pred.any() else 0.0), int(pred.sum())

    d_prec, d_n = held_prec(p_held < (-1.0 if d_cut is None else d_cut), 0)
    a_prec, a_n = held_prec(p_held >= (2.0 if a_cut is None else a_cut), 1)
    print(f"held-out AUROC SUPPORT vs REFUTE, stance model: {stance_auc:.3f}")
    print(
        f"'contradicts' cut {d_cut} (fit OOF precision {d_prec_fit:.3f}): held-out precision "
        f"{d_prec:.3f} on {d_n} of {len(held)} pairs ({int((yh == 0).sum())} REFUTE)"
    )
    print(
        f"'supports' cut {a_cut} (fit OOF precision {a_prec_fit:.3f}): held-out precision "
        f"{a_prec:.3f} on {a_n} of {len(held)} pairs ({int((yh == 1).sum())} SUPPORT)"
    )
    subject = combined_rows(emb, halves[1], corpus, judge, args.precision)
    print(f"\n{time.perf_counter() - start:.0f}s in all")
    if args.write:
        path = Path(stance.__file__).resolve().parents[1] / "data" / "weights" / stance.STANCE_FILE
        data = {
            "fitted_by": "python -m eval.fit_stance --write (SciFact train claims, fit half)",
            "variant": name,
            "l2": l2,
            "heldout_auroc_support_vs_refute": round(stance_auc, 4),
            "scalars": list(SCALAR_FEATURES),
            "blocks": list(blocks),
            "bias": round(float(bias), 5),
            "differ_threshold": d_cut,
            "differ_precision": round(d_prec, 3),
            "agree_threshold": a_cut,
            "agree_precision": round(a_prec, 3),
            "subject_threshold": subject,
            "weights": [float(f"{w:.5g}") for w in coef],
        }
        path.write_text(json.dumps(data) + "\n", encoding="utf-8")
        print(f"wrote {path}")


def combined_rows(
    emb: Embedder,
    held_claims: list[dict[str, Any]],
    corpus: dict[int, list[str]],
    judge: Any,
    precision: float,
) -> float | None:
    """The support scorer's held-out rows, for the scorer alone and times P(support) of stance;
    returns the "same subject" cosine cut: the lowest at which a held-out claim vs sentence pair
    is a claim with its rationale (not another sentence of that abstract, nor of an unrelated
    one) with the given precision."""
    pairs = build_pairs(held_claims, corpus)
    scorer = SupportScorer(emb)
    feats, missing = score_pairs(scorer, pairs)
    sup = np.array([scorer.result(f, m).score for f, m in zip(feats, missing, strict=True)])
    st = np.array(judge.score_many([(p.sentence, p.passages[0]) for p in pairs]))
    kinds = np.array([p.kind for p in pairs])
    print("\n| held-out comparison | n pos | n neg | support scorer | x stance |")
    print("|---|---:|---:|---:|---:|")
    for pk, nk, label in ROWS:
        pm, nm = kinds == pk, kinds == nk
        a0 = auroc(sup[pm], sup[nm])
        a1 = auroc(sup[pm] * st[pm], sup[nm] * st[nm])
        print(f"| {label} | {int(pm.sum())} | {int(nm.sum())} | {a0:.3f} | {a1:.3f} |")
    cos = np.array([f["cos_max"] for f in feats])
    pos = np.isin(kinds, ["support", "refute"])
    neg = np.isin(kinds, ["same_abstract", "unrelated"])
    m = pos | neg
    cut, prec = precise_cut(cos[m], pos[m].astype(np.float64), precision, 1)
    recall = float((cos[pos] >= (cut or 2.0)).mean())
    print(f"same-subject cosine cut {cut} (precision {prec:.3f}, recall {recall:.3f} held-out)")
    return round(cut, 3) if cut is not None else None


if __name__ == "__main__":
    main()
