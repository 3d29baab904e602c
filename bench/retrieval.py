"""Retrieval benchmark: BM25 alone, dense alone, hybrid (plain RRF), hybrid tuned, hybrid + rerank.

Datasets:

* SciFact train claims (``../shared/benchmarks/scifact``): the claim is the query, the relevant
  papers are ``cited_doc_ids`` (BEIR's convention). Weights are fitted (``--fit``) on half A, a
  deterministic half (sha1 of the claim id, even); the table shows the held-out half B and all 809.
* The seed ``dev`` questions (``eval/datasets/seed.jsonl``) with gold papers, over the bundled
  corpus. Never the ``test`` split.

Metrics per query over the ranked *papers* (first chunk of each, as BEIR and ``rag eval`` rank):
nDCG@10, Recall@10, Recall@100, MRR (``rag.eval.metrics``). Latency: one ``Library.retrieve`` call
returning 100 papers, per query, run back to back with the models loaded once (after 3 warm-up
queries); the query embedding is computed by the model every time (the embedding cache is
bypassed, so repeated runs do not get faster).

    .venv/bin/python bench/retrieval.py                      # the table (Markdown, stdout)
    .venv/bin/python bench/retrieval.py --fit                # refit lexical_weight and reranker
    .venv/bin/python bench/retrieval.py --tokenizers         # BM25 tokenisation ablation
    .venv/bin/python bench/retrieval.py --mmr                # MMR vs rank for summarize
    .venv/bin/python bench/retrieval.py --copy-from DIR      # start from an existing SciFact lib

The SciFact library lives in ``<RAG_HOME>/bench/scifact-library`` (built on first run: 5,183
abstracts; with a shared ``RAG_CACHE_DIR`` the embeddings are reused), the seed one in
``<RAG_HOME>/bench/seed-library``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag.eval import metrics as M  # noqa: E402
from rag.library import Library  # noqa: E402
from rag.settings import Settings  # noqa: E402

SCIFACT = REPO.parent / "shared" / "benchmarks" / "scifact"
SEED = REPO / "eval" / "datasets" / "seed.jsonl"
SCIFACT_PAPERS = 5183
DEPTH = 100  # papers ranked per query

CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("BM25 alone", {"retrieval": "bm25"}),
    ("dense alone", {"retrieval": "dense"}),
    ("hybrid (plain RRF)", {"retrieval": "hybrid", "fusion": "rrf", "rerank": False}),
    ("hybrid tuned", {"retrieval": "hybrid", "fusion": "weighted", "rerank": False}),
    ("hybrid + rerank", {"retrieval": "hybrid", "fusion": "weighted", "rerank": True}),
]


@dataclass
class Query:
    id: str
    text: str
    gold: list[str]
    half: int = 0


def half_of(claim_id: object) -> int:
    """0 = half A (fit), 1 = half B (held out); deterministic."""
    return int(hashlib.sha1(str(claim_id).encode()).hexdigest(), 16) % 2


def scifact_queries() -> list[Query]:
    with (SCIFACT / "claims_train.jsonl").open() as f:
        claims = [json.loads(line) for line in f if line.strip()]
    return [
        Query(str(c["id"]), c["claim"], [str(d) for d in c["cited_doc_ids"]], half_of(c["id"]))
        for c in claims
    ]


def seed_queries(split: str = "dev") -> list[Query]:
    from rag.ingest import paper_id_for_title

    if split == "test":
        raise SystemExit("the seed test split is never used for retrieval tuning")
    out = []
    for line in SEED.read_text().splitlines():
        row = json.loads(line)
        if row["split"] == split and row["gold_titles"]:
            gold = [paper_id_for_title(t) for t in row["gold_titles"]]
            out.append(Query(row["id"], row["question"], gold))
    return out


def open_library(home: Path, **overrides: Any) -> Library:
    return Library(home=home, seed=False, chroma_url=None, **overrides)


def scifact_library(home: Path, copy_from: Path | None) -> Path:
    if copy_from is not None and not (home / "chroma").exists():
        print(f"copying {copy_from} -> {home}", file=sys.stderr)
        shutil.copytree(copy_from / "chroma", home / "chroma")
    lib = open_library(home, retrieval="dense")
    if lib.store.count_papers() < SCIFACT_PAPERS:
        print(
            "ingesting the SciFact corpus (embeddings come from the cache when shared)...",
            file=sys.stderr,
        )
        lib.ingest([SCIFACT / "corpus.jsonl.gz"], progress=True)
    return home


def seed_library(home: Path) -> Path:
    from rag.ingest import bundled_seed_dir

    lib = open_library(home, retrieval="dense")
    if lib.store.count_chunks() == 0:
        lib.ingest([bundled_seed_dir()], progress=False)
    return home


def raw_embedder(settings: Settings) -> Any:
    """The model itself, without the SQLite cache (latency includes embedding every query)."""
    from rag.index.embedders import make_embedder

    embedder = make_embedder(settings)
    inner = getattr(embedder, "inner", embedder)
    prepare = getattr(inner, "prepare", None)
    if callable(prepare):
        prepare()
    return inner


def scores(ranked: Sequence[str], gold: Sequence[str]) -> dict[str, float]:
    return {
        "ndcg_at_10": M.ndcg_at_k(ranked, gold, 10) or 0.0,
        "recall_at_10": M.recall_at_k(ranked, gold, 10) or 0.0,
        "recall_at_100": M.recall_at_k(ranked, gold, 100) or 0.0,
        "mrr": M.reciprocal_rank(ranked, gold) or 0.0,
    }


def run_config(home: Path, queries: list[Query], embedder: Any, **overrides: Any) -> list[dict]:
    """Every query through ``Library.retrieve`` (100 papers), timed; one row per query."""
    lib = open_library(home, embedder=embedder, **overrides)
    for q in queries[:3]:  # warm-up: imports, ONNX session, lexical index, Chroma caches
        lib.retrieve(q.text, DEPTH, max_per_paper=1)
    rows = []
    for q in queries:
        t0 = time.perf_counter()
        hits = lib.retrieve(q.text, DEPTH, max_per_paper=1)
        ms = (time.perf_counter() - t0) * 1000
        ranked = [h.paper_id for h in hits]
        rows.append({"id": q.id, "half": q.half, "ms": ms, **scores(ranked, q.gold)})
    return rows


def summary(rows: list[dict]) -> dict[str, float]:
    out = {
        k: float(np.mean([r[k] for r in rows]))
        for k in ("ndcg_at_10", "recall_at_10", "recall_at_100", "mrr")
    }
    out["p50_ms"] = M.percentile([r["ms"] for r in rows], 50)
    return out


# --- fitting (half A only) -------------------------------------------------------------------


def candidate_sets(home: Path, queries: list[Query], embedder: Any) -> tuple[Library, list]:
    """Fused candidates per query (both retrievers' top 100, exact scores), computed once."""
    from rag.retrieval.base import Query as RetrievalQuery
    from rag.retrieval.hybrid import HybridRetriever

    lib = open_library(home, embedder=embedder, retrieval="hybrid", fusion="weighted", rerank=False)
    retriever = lib.retriever
    assert isinstance(retriever, HybridRetriever)
    vectors = embedder.embed([q.text for q in queries])
    out = []
    for q, v in zip(queries, vectors, strict=True):
        cands = retriever.rank(RetrievalQuery(q.text, retriever.candidates, vector=v))
        out.append((q, cands))
    return lib, out


def paper_ndcg(order: Sequence[Any], gold: Sequence[str]) -> float:
    ranked = M.unique_in_order(c.paper_id for c in order)
    return M.ndcg_at_k(ranked, gold, 10) or 0.0


def fit(home: Path, queries: list[Query], embedder: Any) -> dict[str, Any]:
    from rag.retrieval import rerank
    from rag.retrieval.fusion import weighted_scores

    train = [q for q in queries if q.half == 0]
    lib, sets = candidate_sets(home, train, embedder)

    def mean_weighted(w: float) -> float:
        total = 0.0
        for q, cands in sets:
            fused = weighted_scores(
                {c.chunk_id: c.cosine for c in cands if c.cosine is not None},
                {c.chunk_id: c.bm25 for c in cands},
                w,
            )
            order = sorted(cands, key=lambda c: (-fused.get(c.chunk_id, 0.0), c.chunk_id))
            total += paper_ndcg(order, q.gold)
        return total / len(sets)

    grid = [round(x, 2) for x in np.arange(0.0, 1.0001, 0.05)]
    by_weight = {w: mean_weighted(w) for w in grid}
    best_w = max(grid, key=lambda w: (round(by_weight[w], 4), -abs(w - 0.5)))
    print("lexical_weight grid (half A nDCG@10):", file=sys.stderr)
    for w in grid:
        print(f"  {w:.2f}  {by_weight[w]:.4f}", file=sys.stderr)

    # Reranker: feature matrices once, then coordinate ascent on nDCG@10 from the tuned fusion.
    lex = lib.lexical
    mats = []
    for q, cands in sets:
        qids = lex.query_ids(q.text)
        title = lex.scores(qids, title=True) if qids else None
        idf = lex.idf()[qids] if qids else np.zeros(0)
        qa = np.asarray(qids)

        def coverage(c: Any, idf: np.ndarray = idf, qa: np.ndarray = qa) -> float:
            if c.row is None or not len(qa):
                return 0.0
            return float(idf[np.isin(qa, lex.doc_tokens[c.row])].sum()) / (float(idf.sum()) or 1)

        x = rerank.features(cands, title_scores=title, coverage=coverage, depth=100)
        mats.append((q, cands, x))

    def objective(w: np.ndarray) -> float:
        total = 0.0
        for q, cands, x in mats:
            s = x @ w
            order = sorted(range(len(cands)), key=lambda i: (-s[i], cands[i].chunk_id))
            total += paper_ndcg([cands[i] for i in order], q.gold)
        return total / len(mats)

    start = np.zeros(len(rerank.FEATURES))
    start[0], start[1] = 1 - best_w, best_w
    weights, value = rerank.coordinate_ascent(objective, start)
    fitted = {f: round(float(v), 3) for f, v in zip(rerank.FEATURES, weights, strict=True)}
    print(
        f"reranker (half A nDCG@10 {value:.4f} vs fusion {by_weight[best_w]:.4f}):",
        json.dumps(fitted),
        file=sys.stderr,
    )
    return {"lexical_weight": best_w, "rerank_weights": fitted}


# --- tokenizer ablation ---------------------------------------------------------------------


def tokenizer_ablation(home: Path, queries: list[Query]) -> str:
    """BM25-alone nDCG@10 on half A for each tokenisation choice (index built in memory)."""
    from rag.index.lexical import LexicalIndex, TokenizerConfig, top_rows

    train = [q for q in queries if q.half == 0]
    lib = open_library(home, retrieval="dense")
    lines = ["| stemming | stopwords | compounds joined | nDCG@10 (half A) |", "|---|---|---|---|"]
    variants = [
        TokenizerConfig(stem=s, stopwords=w, compounds=c)  # type: ignore[arg-type]
        for s, w, c in [
            ("snowball", "english", False),
            ("snowball", "english", True),
            ("snowball", "lucene", False),
            ("snowball", "none", False),
            ("porter", "english", False),
            ("light", "english", False),
            ("none", "english", False),
        ]
    ]
    import tempfile

    for cfg in variants:
        with tempfile.TemporaryDirectory() as tmp:
            index = LexicalIndex(Path(tmp), tokenizer=cfg)
            index.sync(lib.store)
            total = 0.0
            for q in train:
                rows = top_rows(index.scores(q.text), 300)
                ranked = M.unique_in_order(str(index.paper_ids[r]) for r, _ in rows)
                total += M.ndcg_at_k(ranked, q.gold, 10) or 0.0
        lines.append(
            f"| {cfg.stem} | {cfg.stopwords} | {'yes' if cfg.compounds else 'no'} | "
            f"{total / len(train):.4f} |"
        )
    return "\n".join(lines)


# --- MMR for summaries -----------------------------------------------------------------------


def mmr_check(seed_home: Path, embedder: Any, max_papers: int = 8) -> str:
    """Share of gold papers among the passages ``summarize`` reads (seed dev ``summary`` and
    ``multi`` questions): one passage per paper by rank, versus MMR re-selection."""
    from rag.answering.summary import ABSOLUTE_CUTOFF, RELATIVE_CUTOFF
    from rag.ingest import paper_id_for_title
    from rag.retrieval.diversity import mmr

    rows = [json.loads(line) for line in SEED.read_text().splitlines()]
    dev = [r for r in rows if r["split"] == "dev" and r["gold_titles"]]
    dev = [r for r in dev if r["type"] in ("summary", "multi")]
    lib = open_library(seed_home, embedder=embedder)
    lines = ["| selection | gold papers kept | papers read |", "|---|---|---|"]
    for lam in (None, 0.9, 0.7, 0.5):
        kept, read = [], []
        for r in dev:
            gold = {paper_id_for_title(t) for t in r["gold_titles"]}
            hits = lib.retrieve(r["question"], 60, max_per_paper=1)
            if lam is not None and hits:
                by_id = lib.store.embeddings([h.chunk_id for h in hits])
                vectors = np.array([by_id[h.chunk_id] for h in hits])
                rel = [float(str(h.metadata["fused_score"])) for h in hits]
                hits = [hits[i] for i in mmr(rel, vectors, max_papers, lam)]
            hits = hits[:max_papers]
            top = max((h.score for h in hits), default=0.0)
            hits = [h for h in hits if h.score >= max(ABSOLUTE_CUTOFF, RELATIVE_CUTOFF * top)]
            kept.append(len(gold & {h.paper_id for h in hits}) / len(gold))
            read.append(len(hits))
        name = "by rank, one per paper" if lam is None else f"MMR, lambda {lam}"
        lines.append(f"| {name} | {np.mean(kept):.4f} | {np.mean(read):.1f} |")
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------------


def fmt_row(dataset: str, name: str, s: dict[str, float]) -> str:
    return (
        f"| {dataset} | {name} | {s['ndcg_at_10']:.4f} | {s['recall_at_10']:.4f} | "
        f"{s['recall_at_100']:.4f} | {s['mrr']:.4f} | {s['p50_ms']:.1f} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    base = Settings().resolved_home() / "bench"
    ap.add_argument("--scifact-library", type=Path, default=base / "scifact-library")
    ap.add_argument("--seed-library", type=Path, default=base / "seed-library")
    ap.add_argument(
        "--copy-from",
        type=Path,
        default=None,
        help="copy this SciFact library (its chroma/ folder) instead of ingesting",
    )
    ap.add_argument("--fit", action="store_true", help="refit on SciFact half A and print")
    ap.add_argument("--tokenizers", action="store_true", help="BM25 tokenisation ablation")
    ap.add_argument("--mmr", action="store_true", help="MMR vs rank for summarize's sources")
    ap.add_argument("--limit", type=int, default=None, help="at most this many SciFact claims")
    args = ap.parse_args(argv)

    sci_home = scifact_library(args.scifact_library, args.copy_from)
    sci = scifact_queries()[: args.limit]
    settings = Settings(home=sci_home)
    embedder = raw_embedder(settings)
    if args.tokenizers:
        print(tokenizer_ablation(sci_home, sci))
        return 0
    if args.fit:
        print(json.dumps(fit(sci_home, sci, embedder), indent=2))
        return 0
    seed_home = seed_library(args.seed_library)
    if args.mmr:
        print(mmr_check(seed_home, embedder))
        return 0
    seed = seed_queries("dev")
    lines = [
        "| Dataset | Retrieval | nDCG@10 | Recall@10 | Recall@100 | MRR | p50 ms/query |",
        "|---|---|---|---|---|---|---|",
    ]
    held: list[str] = []
    seed_lines: list[str] = []
    n_b = sum(1 for q in sci if q.half == 1)
    for name, overrides in CONFIGS:
        rows = run_config(sci_home, sci, embedder, **overrides)
        lines.append(fmt_row(f"SciFact train, all {len(sci)}", name, summary(rows)))
        held.append(
            fmt_row(
                f"SciFact train, held-out half {n_b}",
                name,
                summary([r for r in rows if r["half"] == 1]),
            )
        )
        seed_rows = run_config(seed_home, seed, embedder, **overrides)
        seed_lines.append(fmt_row(f"seed dev, {len(seed)}", name, summary(seed_rows)))
        print(f"done: {name}", file=sys.stderr)
    print("\n".join(lines + held + seed_lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
