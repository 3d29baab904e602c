"""Embedding-only micro-bench of throughput levers for the MiniLM ONNX embedder (issue 12).

Usage (from the repo root)::

    python bench/embed_levers.py [--n 96] [--rounds 1] [--only base two-sessions ...]

Embeds ``--n`` texts (half the bundled seed abstracts, half SciFact's, title + abstract, both
truncated to 256 word pieces by the model as in an ingest) with one loop that reproduces
``MiniLMEmbedder.embed`` (length-sorted batches, mean pooling, L2 norm) and varies one lever per
row: batch rows and word-piece cap, padding to buckets of 64, one session with 2 intra-op threads
against two sessions (or one shared) with 1 thread each on alternating batches, onnxruntime
session options (graph optimisation level, spinning, memory arena), int8 per channel against per
tensor. Variants alternate within each round (the machine is shared: compare within one run).
Prints texts/s, the speed against ``base`` (the shipped settings) and the max abs difference of
the vectors to ``base`` (0 means identical).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.embed import load_texts  # noqa: E402
from rag.index.embedding import Matrix, l2_normalize  # noqa: E402
from rag.index.minilm import MiniLMEmbedder  # noqa: E402


@dataclass
class Lever:
    rows: int = 32
    tokens: int = 4096  # padded word pieces per batch
    bucket: int = 0  # pad the length up to a multiple of this
    sessions: int = 1  # sessions run by as many threads, on alternating batches
    intra: int = 2
    shared: bool = False  # one session for all threads
    graph: str = "ORT_ENABLE_ALL"
    config: dict[str, str] = field(default_factory=dict)
    arena: bool = True
    model: str = "fp32"  # fp32 | int8 (per channel, shipped) | int8-tensor


LEVERS: dict[str, Lever] = {
    "base": Lever(),
    "rows32-uncapped (before)": Lever(tokens=10**9),
    "rows64-uncapped": Lever(rows=64, tokens=10**9),
    "rows8 (2048 tokens)": Lever(tokens=2048),
    "bucket64": Lever(bucket=64),
    "two-sessions intra1": Lever(sessions=2, intra=1),
    "one-session-shared intra1 x2": Lever(sessions=2, intra=1, shared=True),
    "no-spinning": Lever(config={"session.intra_op.allow_spinning": "0"}),
    "graph-basic": Lever(graph="ORT_ENABLE_BASIC"),
    "arena-off": Lever(arena=False),
    "int8-per-channel (shipped)": Lever(model="int8"),
    "int8-per-tensor": Lever(model="int8-tensor"),
}


def texts_for(n: int) -> list[str]:
    from rag.ingest import bundled_seed_dir, iter_input_files, parse_paths

    seeds = parse_paths(iter_input_files([bundled_seed_dir()])).papers
    mine = [f"{p.title}\n\n{p.abstract}" for p in seeds[: n // 2]]
    return mine + load_texts(n - len(mine))


def session(path: Path, lever: Lever) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = lever.intra
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, lever.graph)
    opts.enable_cpu_mem_arena = lever.arena
    for key, value in lever.config.items():
        opts.add_session_config_entry(key, value)
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run(emb: MiniLMEmbedder, sessions: list[Any], lever: Lever, texts: list[str]) -> Matrix:
    enc = [e.ids for e in emb._tokenizer.encode_batch(texts)]
    out = np.zeros((len(texts), emb.dim), dtype=np.float32)
    emb.batch_size, emb.batch_tokens = lever.rows, lever.tokens
    batches = emb._batches(
        sorted(range(len(texts)), key=lambda j: len(enc[j])), list(map(len, enc))
    )

    def one(k: int) -> None:
        idx = batches[k]
        width = max(len(enc[j]) for j in idx)
        if lever.bucket:
            width = min(-(-width // lever.bucket) * lever.bucket, emb.max_seq_length)
        ids = np.zeros((len(idx), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, j in enumerate(idx):
            ids[row, : len(enc[j])], mask[row, : len(enc[j])] = enc[j], 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = sessions[k % len(sessions)].run(["last_hidden_state"], feeds)[0]
        m = mask.astype(np.float32)[:, :, None]
        out[idx] = l2_normalize((hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9))

    if lever.sessions == 1:
        for k in range(len(batches)):
            one(k)
    else:
        with ThreadPoolExecutor(lever.sessions) as pool:
            list(pool.map(one, range(len(batches))))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", nargs="+", choices=sorted(LEVERS), default=sorted(LEVERS))
    args = ap.parse_args(argv)
    names = ["base", *[n for n in LEVERS if n in args.only and n != "base"]]
    texts = texts_for(args.n)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp)
        emb = MiniLMEmbedder(cache_dir=models)
        emb.prepare()
        q8 = MiniLMEmbedder(cache_dir=models, int8=True)
        q8.prepare()
        per_tensor = models / "per-tensor.onnx"
        quantize_dynamic(emb.onnx_path, per_tensor, op_types_to_quantize=["MatMul"],
                         per_channel=False, weight_type=QuantType.QInt8)  # fmt: skip
        paths = {"fp32": emb.onnx_path, "int8": q8.int8_path, "int8-tensor": per_tensor}
        pieces = sum(len(e.ids) for e in emb._tokenizer.encode_batch(texts))
        t0 = time.perf_counter()
        emb._tokenizer.encode_batch(texts)
        tokenise = time.perf_counter() - t0
        seconds: dict[str, list[float]] = {n: [] for n in names}
        vectors: dict[str, Matrix] = {}
        for _ in range(args.rounds):
            for name in names:  # alternate
                lever = LEVERS[name]
                count = 1 if lever.shared else lever.sessions
                sessions = [session(paths[lever.model], lever) for _ in range(count)]
                run(emb, sessions, lever, texts[:8])  # warm-up
                t0 = time.perf_counter()
                vectors[name] = run(emb, sessions, lever, texts)
                seconds[name].append(time.perf_counter() - t0)
                print(f"{name}: {seconds[name][-1]:.1f} s", file=sys.stderr, flush=True)
    load = os.getloadavg()
    loads = " / ".join(f"{x:.1f}" for x in load)
    print(f"{len(texts)} texts ({pieces} word pieces after truncation), {os.cpu_count()} CPUs,",
          f"load {loads}; tokenising: {tokenise:.3f} s")  # fmt: skip
    print("| lever | texts/s | vs base | max abs diff to base |")
    print("|---|---:|---:|---:|")
    base = statistics.median(seconds["base"])
    median: Callable[[str], float] = lambda n: statistics.median(seconds[n])  # noqa: E731
    for name in names:
        diff = float(np.abs(vectors[name] - vectors["base"]).max())
        print(f"| {name} | {len(texts) / median(name):.2f} | {base / median(name):.2f}x "
              f"| {diff:.1e} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
