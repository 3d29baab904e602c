"""Fit and measure the support scorer (rag/support.py) on SciFact train claims.

Labelled (claim, passage) pairs, from ``claims_train.jsonl`` and ``corpus.jsonl.gz``:

* positives: the claim with the SUPPORT rationale sentences of a cited abstract (``support``),
  and the claim with that whole abstract as one passage (``support_abstract``);
* negatives at sentence level: the REFUTE rationale sentences (``refute``); up to two
  non-rationale sentences of the same cited abstract, one at a time (``same_abstract``, hard);
  one sentence of an abstract cited by another claim (``unrelated``, easy);
* negatives at abstract level: the whole refuting abstract (``refute_abstract``); the whole cited
  abstract of a claim without evidence (``nei_abstract``: on topic, neither supports nor
  refutes); the whole abstract cited by another claim (``unrelated_abstract``, easy).

Each reported row compares positives and negatives of the same granularity; "overall" pools all
pairs with every kind weighted alike.

Claims are split deterministically into a fit half and a held-out half by a hash of their
smallest cited doc id (so claims written about the same abstract, often negations of each other,
stay on one side). On the fit half: greedy forward feature selection by 2-fold cross-validated
AUROC, a weighted logistic regression (positives weigh 1/2, each kind of negative 1/(2K)), and
the threshold that maximises that weighted accuracy. Metrics are reported on the held-out half,
next to the cosine-similarity-only baseline (its threshold fitted the same way).

    python -m eval.fit_support            # measure only (prints a Markdown table)
    python -m eval.fit_support --write    # also rewrite rag/data/weights/support.json
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rag.answering import support
from rag.answering.support import ALL_FEATURES, SupportScorer
from rag.index.embedding import Embedder

REPO = Path(__file__).resolve().parent.parent
SCIFACT = REPO.parent / "shared" / "benchmarks" / "scifact"
POSITIVE = ("support", "support_abstract")
# (positive kind, negative kind, label): each row compares passages of the same granularity.
ROW_KEYS = ("auroc_scorer", "auroc_cosine", "bal_acc_scorer", "bal_acc_cosine")
ROWS = (
    ("support", "refute", "SUPPORT vs REFUTE rationale"),
    ("support", "same_abstract", "SUPPORT vs other sentence of the same abstract (hard)"),
    ("support", "unrelated", "SUPPORT vs sentence of an unrelated abstract (easy)"),
    ("support_abstract", "refute_abstract", "SUPPORT vs REFUTE, whole abstract"),
    ("support_abstract", "nei_abstract", "SUPPORT vs cited abstract without evidence"),
    ("support_abstract", "unrelated_abstract", "SUPPORT vs unrelated abstract (easy)"),
)
Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


@dataclass
class Pair:
    claim_id: int
    group: int  # hash of the smallest cited doc id: bit 0 = half, bit 1 = CV fold
    kind: str
    sentence: str
    passages: list[str]

    @property
    def label(self) -> int:
        return int(self.kind in POSITIVE)


def _group(claim: dict[str, Any]) -> int:
    key = min(int(d) for d in claim["cited_doc_ids"]) if claim["cited_doc_ids"] else claim["id"]
    return int(hashlib.sha256(str(key).encode()).hexdigest()[:8], 16)


def load_claims(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return sorted((json.loads(line) for line in fh if line.strip()), key=lambda c: c["id"])


def load_corpus(path: Path) -> dict[int, list[str]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return {int(d["doc_id"]): d["abstract"] for d in map(json.loads, fh)}


def build_pairs(claims: Sequence[dict[str, Any]], corpus: dict[int, list[str]]) -> list[Pair]:
    """All labelled pairs of the given claims (deterministic; see the module docstring)."""
    pairs: list[Pair] = []
    pool = sorted({int(d) for c in claims for d in c["evidence"] if int(d) in corpus})
    for c in claims:
        rng, group = random.Random(c["id"]), _group(c)

        def add(kind: str, passage: str, c: dict[str, Any] = c, group: int = group) -> None:
            pairs.append(Pair(c["id"], group, kind, c["claim"], [passage]))

        for doc_id, sets in c["evidence"].items():
            abstract = corpus.get(int(doc_id))
            if not abstract:
                continue
            rationale = {i for s in sets for i in s["sentences"]}
            for s in sets:
                kind = "support" if s["label"] == "SUPPORT" else "refute"
                add(kind, " ".join(abstract[i] for i in s["sentences"]))
            labels = {s["label"] for s in sets}
            if len(labels) == 1:
                add(
                    "support_abstract" if labels == {"SUPPORT"} else "refute_abstract",
                    " ".join(abstract),
                )
            others = [i for i in range(len(abstract)) if i not in rationale]
            for i in sorted(rng.sample(others, min(2, len(others)))):
                add("same_abstract", abstract[i])
        if not c["evidence"]:
            for doc_id in c["cited_doc_ids"]:
                if int(doc_id) in corpus:
                    add("nei_abstract", " ".join(corpus[int(doc_id)]))
        elif pool:
            cited = {int(d) for d in c["cited_doc_ids"]}
            choices = [d for d in pool if d not in cited]
            if choices:
                other = corpus[rng.choice(choices)]
                add("unrelated", other[rng.randrange(len(other))])
                add("unrelated_abstract", " ".join(other))
    return pairs


class ProgressEmbedder:
    """Embeds in length-sorted chunks behind a tqdm bar (the inner embedder may cache)."""

    def __init__(self, inner: Embedder, progress: bool = True, chunk: int = 256) -> None:
        self.inner, self.progress, self.chunk = inner, progress, chunk

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        from tqdm import tqdm

        out = np.zeros((len(texts), self.inner.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with tqdm(
            total=len(texts), desc="embedding", unit="text", disable=not self.progress
        ) as bar:
            for start in range(0, len(order), self.chunk):
                idx = order[start : start + self.chunk]
                out[idx] = self.inner.embed([texts[i] for i in idx])
                bar.update(len(idx))
        return out


# --- statistics ----------------------------------------------------------------------------------


def auroc(pos: Array, neg: Array, wp: Array | None = None, wn: Array | None = None) -> float:
    """Weighted AUROC (ties count 1/2): P(score of a positive > score of a negative)."""
    wp = np.ones(len(pos)) if wp is None else wp
    wn = np.ones(len(neg)) if wn is None else wn
    order = np.argsort(neg, kind="stable")
    ns, cw = neg[order], np.concatenate([[0.0], np.cumsum(wn[order])])
    lo, hi = np.searchsorted(ns, pos, "left"), np.searchsorted(ns, pos, "right")
    return float(np.sum(wp * (cw[lo] + 0.5 * (cw[hi] - cw[lo]))) / (wp.sum() * wn.sum()))


def class_weights(kinds: Sequence[str]) -> Array:
    """Positives weigh 1/2 in total (each positive kind alike), each negative kind 1/(2K)."""
    present = sorted(set(kinds))
    pos_k = [k for k in present if k in POSITIVE]
    neg_k = [k for k in present if k not in POSITIVE]
    count = {k: sum(1 for x in kinds if x == k) for k in present}
    share = {k: 0.5 / len(pos_k) for k in pos_k} | {k: 0.5 / len(neg_k) for k in neg_k}
    return np.array([share[k] / count[k] for k in kinds])


def fit_logistic(x: Array, y: Array, w: Array, l2: float = 1e-3) -> tuple[Array, float]:
    """Weighted L2-regularised logistic regression by Newton's method; raw-scale weights."""
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    w = w / w.sum()
    beta = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -30, 30)))
        grad = z.T @ (w * (p - y)) + reg * beta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    coef = beta[:-1] / sd
    return coef, float(beta[-1] - np.sum(coef * mu))


def best_threshold(scores: Array, y: Array, w: Array, forced_neg: Mask) -> float:
    """The cut maximising weighted accuracy (forced_neg pairs are rejected at any threshold)."""
    cand = np.unique(np.round(scores, 4))
    cuts = np.concatenate([[cand[0] - 1e-4], (cand[1:] + cand[:-1]) / 2, [cand[-1] + 1e-4]])
    accs = [np.sum(w * (((scores >= t) & ~forced_neg) == (y == 1))) for t in cuts]
    return float(np.round(cuts[int(np.argmax(accs))], 4))


# --- the pipeline --------------------------------------------------------------------------------


def _matrix(feats: Sequence[dict[str, float]], names: Sequence[str]) -> Array:
    return np.array([[f[n] for n in names] for f in feats], dtype=np.float64)


def select_features(
    feats: list[dict[str, float]], pairs: list[Pair], min_gain: float = 0.002
) -> list[str]:
    """Greedy forward selection by 2-fold CV weighted AUROC on the given (fit-half) pairs."""
    y = np.array([p.label for p in pairs], dtype=np.float64)
    w = class_weights([p.kind for p in pairs])
    fold = np.array([(p.group >> 1) & 1 for p in pairs])

    def cv_auc(names: list[str]) -> float:
        x, s = _matrix(feats, names), np.zeros(len(pairs))
        for k in (0, 1):
            coef, b = fit_logistic(x[fold != k], y[fold != k], w[fold != k])
            s[fold == k] = x[fold == k] @ coef + b
        return auroc(s[y == 1], s[y == 0], w[y == 1], w[y == 0])

    chosen: list[str] = []
    best = 0.5
    while True:
        trials = {n: cv_auc([*chosen, n]) for n in ALL_FEATURES if n not in chosen}
        if not trials:
            break
        name = max(trials, key=lambda n: trials[n])
        print(f"  + {name:<13} CV AUROC {trials[name]:.4f}")
        if trials[name] - best < min_gain:
            break
        chosen.append(name)
        best = trials[name]
    return chosen


def measure(
    scores: Array, cos: Array, pairs: list[Pair], forced_neg: Mask, thr: float, cos_thr: float
) -> dict[str, Any]:
    """Per-row and overall AUROC / balanced accuracy of the scorer and of the cosine baseline,
    and for each kind of pair the share judged supported."""
    kinds = np.array([p.kind for p in pairs])
    y = np.array([p.label for p in pairs])
    w = class_weights(list(kinds))
    out: dict[str, Any] = {"threshold": thr, "cosine_threshold": cos_thr, "rows": {}}
    out["judged_supported"] = {}
    pred, cpred = (scores >= thr) & ~forced_neg, cos >= cos_thr
    for k in dict.fromkeys(kinds.tolist()):
        m = kinds == k
        out["judged_supported"][k] = {
            "n": int(m.sum()),
            "scorer": float(pred[m].mean()),
            "cosine": float(cpred[m].mean()),
        }

    def row(posm: Mask, negm: Mask, ww: Array) -> dict[str, Any]:
        r: dict[str, Any] = {"n_pos": int(posm.sum()), "n_neg": int(negm.sum())}
        for name, s, pr in (("scorer", scores, pred), ("cosine", cos, cpred)):
            r[f"auroc_{name}"] = auroc(s[posm], s[negm], ww[posm], ww[negm])
            tpr = np.sum(ww[posm] * pr[posm]) / ww[posm].sum()
            tnr = np.sum(ww[negm] * ~pr[negm]) / ww[negm].sum()
            r[f"bal_acc_{name}"] = float((tpr + tnr) / 2)
        return r

    ones = np.ones(len(pairs))
    for pk, nk, label in ROWS:
        if (kinds == nk).any():
            out["rows"][nk] = row(kinds == pk, kinds == nk, ones) | {"label": label}
    out["overall"] = row(y == 1, y == 0, w) | {"label": "**overall** (kinds weighted equally)"}
    return out


def markdown(m: dict[str, Any]) -> str:
    """The held-out metrics as two Markdown tables."""
    cols = ("n pos", "n neg", "AUROC scorer", "AUROC cosine", "bal. acc scorer", "bal. acc cosine")
    lines = ["| held-out comparison | " + " | ".join(cols) + " |", "|---" + "|---:" * 6 + "|"]
    for r in [*m["rows"].values(), m["overall"]]:
        cells = [r["n_pos"], r["n_neg"], *(f"{r[k]:.3f}" for k in ROW_KEYS)]
        lines.append(f"| {r['label']} | " + " | ".join(map(str, cells)) + " |")
    lines += ["", "| pairs judged supported | n | scorer | cosine |", "|---|---:|---:|---:|"]
    for k, r in m["judged_supported"].items():
        lines.append(f"| {k} | {r['n']} | {r['scorer']:.3f} | {r['cosine']:.3f} |")
    return "\n".join(lines)


def score_pairs(
    scorer: SupportScorer, pairs: list[Pair]
) -> tuple[list[dict[str, float]], list[list[str]]]:
    computed = scorer.features_many([(p.sentence, p.passages) for p in pairs])
    if any(f is None for f, _ in computed):
        raise ValueError("a pair with an empty claim or passage")
    return [f or {} for f, _ in computed], [miss for _, miss in computed]


def evaluate_judge(
    embedder: Embedder,
    claims_path: Path = SCIFACT / "claims_train.jsonl",
    corpus_path: Path = SCIFACT / "corpus.jsonl.gz",
    max_claims: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Held-out AUROC / balanced accuracy of the shipped scorer (and the cosine baseline)."""
    start = time.perf_counter()
    claims = [c for c in load_claims(Path(claims_path)) if _group(c) & 1]
    claims = claims[:max_claims] if max_claims else claims
    pairs = build_pairs(claims, load_corpus(Path(corpus_path)))
    scorer = SupportScorer(ProgressEmbedder(embedder, progress))
    feats, missing = score_pairs(scorer, pairs)
    scores = np.array([scorer.result(f, m).score for f, m in zip(feats, missing, strict=True)])
    cos = np.array([f["cos_max"] for f in feats])
    forced = np.array([bool(m) for m in missing])
    m = measure(scores, cos, pairs, forced, scorer.threshold, support.COSINE_THRESHOLD)
    return m | {
        "n_claims": len(claims),
        "n_pairs": len(pairs),
        "seconds": time.perf_counter() - start,
    }


def write_weights(names: list[str], coef: Array, bias: float, thr: float, cos_thr: float) -> None:
    """Rewrite the package data file the scorer loads (``rag/data/weights/support.json``)."""
    path = Path(support.__file__).resolve().parents[1] / "data" / "weights" / support.WEIGHTS_FILE
    data = {
        "fitted_by": "python -m eval.fit_support --write (SciFact train claims, fit half)",
        "features": list(names),
        "weights": [round(float(c), 4) for c in coef],
        "bias": round(float(bias), 4),
        "threshold": round(float(thr), 4),
        "cosine_threshold": round(float(cos_thr), 4),
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--write", action="store_true", help="rewrite rag/data/weights/support.json")
    ap.add_argument("--claims", type=Path, default=SCIFACT / "claims_train.jsonl")
    ap.add_argument("--corpus", type=Path, default=SCIFACT / "corpus.jsonl.gz")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/rag-shared-cache"))
    ap.add_argument("--max-claims", type=int, default=None, help="per half, for a quick run")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    from rag.index.embedders import make_embedder
    from rag.settings import Settings

    start = time.perf_counter()
    claims = load_claims(args.claims)
    halves = [[c for c in claims if _group(c) & 1 == h] for h in (0, 1)]
    if args.max_claims:
        halves = [h[: args.max_claims] for h in halves]
    corpus = load_corpus(args.corpus)
    fit_pairs, held_pairs = build_pairs(halves[0], corpus), build_pairs(halves[1], corpus)
    print(f"claims fit/held-out: {len(halves[0])}/{len(halves[1])}", end="; ")
    print(f"pairs {len(fit_pairs)}/{len(held_pairs)}")
    emb = make_embedder(Settings(home=Path("/tmp/support-home"), cache_dir=args.cache_dir))
    scorer = SupportScorer(ProgressEmbedder(emb, not args.no_progress))
    feats, miss_lists = score_pairs(scorer, fit_pairs + held_pairs)
    missing = np.array([bool(m) for m in miss_lists])
    n_fit = len(fit_pairs)
    f_fit, f_held, m_fit, m_held = feats[:n_fit], feats[n_fit:], missing[:n_fit], missing[n_fit:]
    labels = np.array([p.label for p in fit_pairs + held_pairs])
    npos, nneg = int(missing[labels == 1].sum()), int(missing[labels == 0].sum())
    print(f"embedded in {time.perf_counter() - start:.0f}s", end="; ")
    print(f"pairs with a number missing from the passage: {npos} positive, {nneg} negative")

    print("forward feature selection (fit half, 2-fold CV, weighted AUROC):")
    names = select_features(f_fit, fit_pairs)
    y = np.array([p.label for p in fit_pairs], dtype=np.float64)
    w = class_weights([p.kind for p in fit_pairs])
    coef, bias = fit_logistic(_matrix(f_fit, names), y, w)
    print(
        "model: "
        + ", ".join(f"{n} {c:+.3f}" for n, c in zip(names, coef, strict=True))
        + f", bias {bias:+.3f}"
    )
    fitted = SupportScorer(emb, features=names, weights=coef.tolist(), bias=bias, threshold=0.5)
    raw_fit = np.array([fitted.result(f, []).score for f in f_fit])
    thr = best_threshold(raw_fit, y, w, m_fit)
    cos_fit = np.array([f["cos_max"] for f in f_fit])
    cos_thr = best_threshold(cos_fit, y, w, np.zeros(len(y), dtype=bool))
    fitted.threshold = thr
    scores = np.array(
        [fitted.result(f, ["x"] if m else []).score for f, m in zip(f_held, m_held, strict=True)]
    )
    cos = np.array([f["cos_max"] for f in f_held])
    result = measure(scores, cos, held_pairs, m_held, thr, cos_thr)
    elapsed = time.perf_counter() - start
    print(f"\nthreshold {thr:.4f} (cosine baseline {cos_thr:.4f}); {elapsed:.0f}s in all\n")
    print(markdown(result))
    if args.write:
        write_weights(names, coef, bias, thr, cos_thr)


if __name__ == "__main__":
    main()
