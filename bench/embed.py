"""Embedding throughput: our ONNX MiniLM embedder vs. plain sentence-transformers.

Usage (from the repo root)::

    python -m bench.embed [--n 200] [--batch-size 32]

Embeds N SciFact abstracts (title + abstract) from ../shared/benchmarks/scifact/corpus.jsonl.gz and
prints a Markdown table. The ONNX model is built cold into a temporary folder, and that one-off
build time is reported separately from embedding time. If ``sentence_transformers`` is importable,
the baseline a user would otherwise write -- ``SentenceTransformer(MODEL_DIR).encode(texts,
batch_size=32)`` -- is timed too, with the max abs difference between the two outputs.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.index.minilm import MiniLMEmbedder, default_minilm_dir

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "benchmarks" / "scifact" / "corpus.jsonl.gz"


def load_texts(n: int, path: Path = CORPUS) -> list[str]:
    texts: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            texts.append(" ".join([doc.get("title", ""), *doc.get("abstract", [])]).strip())
            if len(texts) >= n:
                break
    return texts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Embedding throughput: ONNX MiniLM vs sentence-transformers."
    )
    parser.add_argument("--n", type=int, default=200, help="number of abstracts (default 200)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    texts = load_texts(args.n)
    rows: list[tuple[str, int, float]] = []
    notes: list[str] = [
        f"{len(texts)} SciFact abstracts, {os.cpu_count()} CPUs, batch size {args.batch_size}"
    ]

    with tempfile.TemporaryDirectory() as cache:
        ours = MiniLMEmbedder(cache_dir=Path(cache), batch_size=args.batch_size)
        start = time.perf_counter()
        ours.prepare()
        notes.append(
            f"cold ONNX build from safetensors: {ours.build_seconds or 0.0:.2f} s "
            f"(prepare incl. session load: {time.perf_counter() - start:.2f} s, once per install)"
        )
        ours.embed(texts[:4])  # warm-up
        start = time.perf_counter()
        mine = ours.embed(texts)
        rows.append(("rag MiniLMEmbedder (onnxruntime)", len(texts), time.perf_counter() - start))

    if importlib.util.find_spec("sentence_transformers") is not None:
        from sentence_transformers import SentenceTransformer

        start = time.perf_counter()
        model = SentenceTransformer(str(default_minilm_dir()), device="cpu")
        notes.append(f"sentence-transformers model load: {time.perf_counter() - start:.2f} s")
        model.encode(texts[:4], batch_size=args.batch_size)  # warm-up
        start = time.perf_counter()
        theirs = model.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)
        rows.append(
            ("sentence-transformers encode (torch)", len(texts), time.perf_counter() - start)
        )
        diff = float(np.abs(mine - np.asarray(theirs, dtype=np.float32)).max())
        cos = float((mine * theirs).sum(axis=1).min())
        notes.append(
            f"max abs difference vs sentence-transformers: {diff:.2e} (min cosine {cos:.7f})"
        )
    else:
        notes.append("sentence_transformers not importable: baseline skipped")

    print("| backend | texts | seconds | texts/s |")
    print("|---|---:|---:|---:|")
    for name, count, seconds in rows:
        print(f"| {name} | {count} | {seconds:.2f} | {count / seconds:.1f} |")
    print()
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
