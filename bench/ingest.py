"""Ingest speed: rag-papers against the plain llama-index pipeline a user would write, in one run.

Both sides embed with the same all-MiniLM-L6-v2 ONNX graph and write to a local Chroma collection:

* **baseline**: llama-index's documented path -- ``Document``\\ s (title + abstract) ->
  ``VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(
  vector_store=ChromaVectorStore(chroma_collection=...)), embed_model=...)`` with the default
  splitter and batching (``embed_batch_size`` 10), the model wrapped as a ``BaseEmbedding`` the
  plain way (one onnxruntime session with default options, the tokenizer padding each batch to
  its longest text, mean pooling, L2 normalisation);
* **product**: ``rag.Library(...).ingest([file])`` with the configured embedder (``--int8``
  switches ``RAG_QUANTIZE_EMBEDDER`` on for a row of its own).

Every run is a child process of its own (honest peak RSS: ``ru_maxrss`` of that child) with an
empty library and an empty embedding cache (the ONNX files are prepared once, before timing, as
``rag setup`` does). Sides alternate, round after round: these machines are shared and noisy,
so the ratio within one run is the figure that counts.

Corpora: ``seeds`` (the bundled 242 abstracts), ``scifact`` (5,183; ``--limit N`` for the first
N), ``sample`` (``--sample-size`` abstracts, default 20,000, recombined from SciFact sentences
with fresh ids and titles; long). ``--quality`` adds seed ``dev`` Recall@10 and nDCG@10 (via
bench/retrieval.py) for fp32 and int8; ``--quality-scifact`` also SciFact held-out nDCG@10 (each
variant builds a 5,183-abstract library).

    .venv/bin/python bench/ingest.py                                  # seeds, 2 rounds
    .venv/bin/python bench/ingest.py --corpora seeds scifact --limit 1000 --rounds 2 --int8
    .venv/bin/python bench/ingest.py --corpora sample --sample-size 20000 --rounds 1
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SCIFACT = REPO.parent / "shared" / "benchmarks" / "scifact" / "corpus.jsonl.gz"


# --- corpora: one JSONL file each, SciFact's shape (doc_id, title, abstract sentences) ----------


def write_jsonl(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def seed_rows() -> list[dict[str, Any]]:
    from rag.ingest import bundled_seed_dir, iter_input_files, parse_paths

    papers = parse_paths(iter_input_files([bundled_seed_dir()])).papers
    return [{"doc_id": p.paper_id, "title": p.title, "abstract": p.abstract} for p in papers]


def scifact_rows(limit: int | None = None) -> list[dict[str, Any]]:
    rows = []
    with gzip.open(SCIFACT, "rt", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            rows.append(
                {"doc_id": doc["doc_id"], "title": doc["title"], "abstract": doc["abstract"]}
            )
            if limit is not None and len(rows) >= limit:
                break
    return rows


def sample_rows(n: int, seed: int = 12) -> list[dict[str, Any]]:
    """``n`` abstracts recombined at sentence level from SciFact: 4-10 sentences each, drawn
    from 2-3 source abstracts, with fresh ids and titles (deterministic)."""
    rng = random.Random(seed)
    source = [r for r in scifact_rows() if r["abstract"]]
    rows = []
    for i in range(n):
        parts = rng.sample(source, rng.randint(2, 3))
        pool = [s for p in parts for s in p["abstract"]]
        k = min(len(pool), rng.randint(4, 10))
        words = re.findall(r"[A-Za-z]{4,}", " ".join(p["title"] for p in parts))
        title = " ".join(rng.sample(words, min(8, len(words)))).capitalize() or f"Paper {i}"
        rows.append({"doc_id": 9_000_000 + i, "title": f"{title} ({i})", "abstract": pool[:k]})
    return rows


# --- the two pipelines (each run in a child process: `--worker SIDE`) ---------------------------


def run_baseline(corpus: Path, work: Path, onnx_path: Path, model_dir: Path) -> dict[str, Any]:
    import chromadb
    import numpy as np
    import onnxruntime as ort
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore
    from tokenizers import Tokenizer

    class OnnxMiniLM(BaseEmbedding):  # type: ignore[misc]
        """all-MiniLM-L6-v2 on onnxruntime, written the plain way."""

        def model_post_init(self, __context: Any) -> None:
            tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            tok.enable_truncation(max_length=256)
            tok.enable_padding()
            self._tok = tok
            self._sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])

        def _vectors(self, texts: list[str]) -> list[list[float]]:
            enc = self._tok.encode_batch(texts)
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": 0 * ids}
            hidden = self._sess.run(None, feeds)[0]
            m = mask[:, :, None].astype(np.float32)
            v = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
            return (v / np.linalg.norm(v, axis=1, keepdims=True)).tolist()  # type: ignore[no-any-return]

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._vectors([query])[0]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._vectors([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._vectors(texts)

    t0 = time.perf_counter()
    rows = [json.loads(line) for line in corpus.open(encoding="utf-8")]
    docs = [
        Document(text=f"{r['title']}\n\n{' '.join(r['abstract'])}", metadata={"title": r["title"]})
        for r in rows
    ]
    client = chromadb.PersistentClient(path=str(work / "chroma"))
    collection = client.get_or_create_collection("papers")
    storage = StorageContext.from_defaults(
        vector_store=ChromaVectorStore(chroma_collection=collection)
    )
    VectorStoreIndex.from_documents(docs, storage_context=storage, embed_model=OnnxMiniLM())
    return {
        "abstracts": len(rows),
        "chunks": collection.count(),
        "seconds": time.perf_counter() - t0,
    }


def run_product(corpus: Path, work: Path) -> dict[str, Any]:
    from rag.library import Library

    t0 = time.perf_counter()
    lib = Library(home=work / "home", seed=False, chroma_url=None)
    report = lib.ingest([corpus], progress=False)
    return {
        "abstracts": report.papers_added,
        "chunks": report.chunks_written,
        "seconds": time.perf_counter() - t0,
    }


def worker(args: argparse.Namespace) -> int:
    from rag.index.minilm import MINILM_NAME

    models = Path(os.environ["RAG_CACHE_DIR"]) / "models"
    if args.worker == "baseline":
        out = run_baseline(args.corpus, args.work, models / f"{MINILM_NAME}.onnx", args.model_dir)
    else:
        out = run_product(args.corpus, args.work)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
    return 0


# --- the parent: prepare, alternate, tabulate ---------------------------------------------------


def prepare_models(models: Path, int8: bool) -> Path:
    """Build the ONNX files once (as `rag setup` does); each run gets hard links to them."""
    from rag.index.minilm import MiniLMEmbedder

    emb = MiniLMEmbedder(cache_dir=models, int8=False)
    emb.prepare()
    if int8:
        MiniLMEmbedder(cache_dir=models, int8=True).prepare()
    return emb.model_dir


def one_run(side: str, corpus: Path, work: Path, models: Path, model_dir: Path) -> dict[str, Any]:
    shutil.rmtree(work, ignore_errors=True)
    cache = work / "cache"
    shutil.copytree(models, cache / "models", copy_function=os.link)  # no embeddings cached
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(PYTHONPATH=str(REPO), RAG_CACHE_DIR=str(cache), RAG_MODEL_DIR=str(model_dir))
    kind = "product" if side.startswith("product") else "baseline"
    if side == "product int8":
        env["RAG_QUANTIZE_EMBEDDER"] = "true"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--corpus",
           str(corpus), "--work", str(work), "--model-dir", str(model_dir)]  # fmt: skip
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{side} failed: {done.stderr.strip()[-800:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall"] = wall
    shutil.rmtree(work, ignore_errors=True)
    return out


def table(results: dict[tuple[str, str], list[dict[str, Any]]], sides: list[str]) -> str:
    lines = [
        "| corpus | pipeline | abstracts | chunks | chunks/abstract | ingest s (median) "
        "| abstracts/s | chunks/s | process wall s | peak RSS MB | speed vs baseline |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for corpus in dict.fromkeys(c for c, _ in results):
        base = statistics.median(r["seconds"] for r in results[(corpus, "baseline")])
        for side in sides:
            runs = results[(corpus, side)]
            sec = statistics.median(r["seconds"] for r in runs)
            n, chunks = runs[0]["abstracts"], runs[0]["chunks"]
            wall = statistics.median(r["wall"] for r in runs)
            rss = max(r["peak_rss_mb"] for r in runs)
            lines.append(
                f"| {corpus} | {side} | {n} | {chunks} | {chunks / max(n, 1):.2f} | {sec:.1f} "
                f"| {n / sec:.1f} | {chunks / sec:.1f} | {wall:.1f} | {rss:.0f} "
                f"| {base / sec:.2f}x |"
            )
    return "\n".join(lines)


def scifact_subset(work: Path, first: int) -> tuple[Path, int]:
    """A SciFact library of its first ``first`` abstracts plus every paper cited by a held-out
    claim, in ``work`` (reused when built): cheaper than 5,183, easier (fewer distractors), so
    only a difference between embedders on it means anything."""
    import bench.retrieval as R

    gold = {g for q in R.scifact_queries() if q.half == 1 for g in q.gold}
    rows = [r for i, r in enumerate(scifact_rows()) if i < first or str(r["doc_id"]) in gold]
    home = work / "home"
    lib = R.open_library(home, retrieval="dense")
    if lib.store.count_papers() < len(rows):
        lib.ingest([write_jsonl(rows, work / "corpus.jsonl")], progress=True)
    return home, len(rows)


def quality(
    work: Path, scifact: bool, variants: Sequence[str] = ("fp32", "int8"), subset: int = 0
) -> str:
    """Seed ``dev`` Recall@10 / nDCG@10 and (``scifact``) SciFact held-out nDCG@10, with the
    default retrieval (hybrid), fp32 against int8; each variant builds its own libraries (under
    ``work/q-VARIANT``, reused when complete: run one variant per process to build them at once)."""
    import bench.retrieval as R

    lines = ["| embedder | seed dev Recall@10 | seed dev nDCG@10 | SciFact held-out nDCG@10 |",
             "|---|---:|---:|---:|"]  # fmt: skip
    for label in variants:
        os.environ["RAG_QUANTIZE_EMBEDDER"] = "true" if label == "int8" else "false"
        os.environ["RAG_CACHE_DIR"] = str(work / f"q-{label}" / "cache")
        seed_home = R.seed_library(work / f"q-{label}" / "seed")
        embedder = R.raw_embedder(R.Settings(home=seed_home))
        seed = R.summary(R.run_config(seed_home, R.seed_queries("dev"), embedder))
        sci = "not run (--quality-scifact)"
        if subset:
            sci_home, n = scifact_subset(work / f"q-{label}" / f"scifact-{subset}", subset)
            rows = R.run_config(sci_home, R.scifact_queries(), embedder)
            sci = f"{R.summary([r for r in rows if r['half'] == 1])['ndcg_at_10']:.4f} ({n})"
        elif scifact:
            sci_home = R.scifact_library(work / f"q-{label}" / "scifact", None)
            rows = R.run_config(sci_home, R.scifact_queries(), embedder)
            sci = f"{R.summary([r for r in rows if r['half'] == 1])['ndcg_at_10']:.4f}"
        lines.append(f"| {label} | {seed['recall_at_10']:.4f} | {seed['ndcg_at_10']:.4f} | {sci} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--corpora", nargs="+", default=["seeds"], choices=["seeds", "scifact", "sample"]
    )
    ap.add_argument("--limit", type=int, default=None, help="first N SciFact abstracts")
    ap.add_argument("--sample-size", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=2, help="runs per side and corpus")
    ap.add_argument("--int8", action="store_true", help="add a row with RAG_QUANTIZE_EMBEDDER=true")
    ap.add_argument("--quality", action="store_true", help="seed dev quality, fp32 vs int8")
    ap.add_argument("--quality-scifact", action="store_true", help="and SciFact held-out (slow)")
    ap.add_argument("--quality-subset", type=int, default=0, metavar="N",
                    help="SciFact held-out on the first N abstracts + the cited ones")  # fmt: skip
    ap.add_argument(
        "--quality-variants", nargs="+", default=["fp32", "int8"], choices=["fp32", "int8"]
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/rag-bench-ingest"))
    ap.add_argument("--worker", choices=["baseline", "product"], help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.rounds == 0 and (args.quality or args.quality_scifact or args.quality_subset):
        print(quality(args.work, args.quality_scifact, args.quality_variants, args.quality_subset))
        return 0

    models = args.work / "models"
    model_dir = prepare_models(models, args.int8)
    build = {"seeds": seed_rows, "scifact": lambda: scifact_rows(args.limit),
             "sample": lambda: sample_rows(args.sample_size)}  # fmt: skip
    sides = ["baseline", "product"] + (["product int8"] if args.int8 else [])
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for name in args.corpora:
        rows = build[name]()
        label = f"{name} ({len(rows)})"
        corpus = write_jsonl(rows, args.work / "corpora" / f"{name}.jsonl")
        for i in range(args.rounds):
            for side in sides:  # alternate
                r = one_run(side, corpus, args.work / "run", models, model_dir)
                results.setdefault((label, side), []).append(r)
                print(f"{label} round {i + 1} {side}: {r['seconds']:.1f} s", file=sys.stderr)
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print(table(results, sides))
    if args.quality or args.quality_scifact:
        print()
        print(quality(args.work, args.quality_scifact, args.quality_variants, args.quality_subset))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
