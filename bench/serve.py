"""Load test of `rag serve`, on loopback only, with loops bounded in count and time.

16 clients ask and search for 60 s while one more client ingests batches of new papers; then the
library's paper and chunk counts are checked to be exact (nothing lost, nothing duplicated).

    python bench/serve.py                  # real model (all-MiniLM-L6-v2), bundled corpus
    python bench/serve.py --seconds 10 --fake   # quick: the fake embedder, the tiny corpus

Prints requests/s, p50/p95/p99 latency and errors per route. Exit 1 on any error or a wrong count.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QUESTIONS = [
    "How does Block-LoRA share parameters?",
    "What reduces hallucinations in retrieval-augmented generation?",
    "Which methods speed up diffusion model sampling?",
    "How are vision language models evaluated?",
    "What is mixture of experts routing?",
]
MAX_REQUESTS_PER_CLIENT = 100_000
INGEST_BATCHES = 20
PAPERS_PER_BATCH = 10


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--fake", action="store_true", help="fake embedder and the tiny corpus")
    args = ap.parse_args()
    seconds = min(args.seconds, 600.0)

    from rag.interfaces.http import create_app
    from rag.library import Library
    from tests.http_helpers import running

    home = Path(tempfile.mkdtemp(prefix="rag-bench-serve-"))
    if args.fake:
        from tests.fakes import FakeEmbedder

        lib = Library(home=home, embedder=FakeEmbedder(), seed=False)
        lib.ingest([REPO / "tests" / "data" / "tiny.jsonl"], progress=False)
    else:
        lib = Library(home=home)
        lib.seed(progress=False)
    before = lib.stats()
    lib.pipeline  # noqa: B018  (warm)
    latencies: dict[str, list[float]] = {"ask": [], "search": [], "ingest": []}
    errors: dict[str, int] = {"ask": 0, "search": 0, "ingest": 0}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    added = {"papers": 0, "chunks": 0}

    def record(route: str, started: float, ok: bool) -> None:
        with lock:
            latencies[route].append(time.perf_counter() - started)
            if not ok:
                errors[route] += 1

    def reader(base: str, i: int) -> None:
        with httpx.Client(base_url=base, timeout=120) as c:
            for n in range(MAX_REQUESTS_PER_CLIENT):
                if time.monotonic() >= stop_at:
                    return
                q = QUESTIONS[(i + n) % len(QUESTIONS)]
                route = "ask" if n % 2 == 0 else "search"
                body = {"question": q} if route == "ask" else {"query": q, "k": 5}
                t = time.perf_counter()
                try:
                    ok = c.post(f"/{route}", json=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                record(route, t, ok)

    def ingester(base: str) -> None:
        with httpx.Client(base_url=base, timeout=300) as c:
            for b in range(INGEST_BATCHES):
                if time.monotonic() >= stop_at:
                    return
                lines = "".join(
                    json.dumps({
                        "id": f"bench-{b}-{i}",
                        "title": f"Benchmark paper {b}.{i} on load testing",
                        "abstract": f"Batch {b} paper {i} measures server load. It is synthetic.",
                    }) + "\n"
                    for i in range(PAPERS_PER_BATCH)
                )  # fmt: skip
                t = time.perf_counter()
                try:
                    r = c.post("/ingest", files={"file": (f"bench-{b}.jsonl", lines)})
                    ok = r.status_code == 200
                    if ok:
                        added["papers"] += r.json()["papers_added"]
                        added["chunks"] += r.json()["chunks_written"]
                except httpx.HTTPError:
                    ok = False
                record("ingest", t, ok)

    with running(create_app(lib)) as base:
        assert base.startswith("http://127.0.0.1:")  # loopback only
        started = time.monotonic()
        threads = [threading.Thread(target=reader, args=(base, i)) for i in range(args.clients)]
        threads.append(threading.Thread(target=ingester, args=(base,)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        after = httpx.get(f"{base}/stats", timeout=60).json()

    total = sum(len(v) for v in latencies.values())
    model = "fake embedder" if args.fake else "all-MiniLM-L6-v2"
    print(f"rag serve load test: {args.clients} clients + 1 ingesting, {elapsed:.0f} s, "
          f"{model}, library {before.papers} papers")  # fmt: skip
    print("| route  | requests | req/s | p50 ms | p95 ms | p99 ms | errors |")
    print("|--------|---------:|------:|-------:|-------:|-------:|-------:|")
    for route, values in latencies.items():
        ms = [v * 1000 for v in values]
        print(
            f"| {route:<6} | {len(values):>8} | {len(values) / elapsed:>5.1f} | "
            f"{percentile(ms, 50):>6.0f} | {percentile(ms, 95):>6.0f} | {percentile(ms, 99):>6.0f} "
            f"| {errors[route]:>6} |"
        )
    all_ms = [v * 1000 for values in latencies.values() for v in values]
    print(f"| all    | {total:>8} | {total / elapsed:>5.1f} | {percentile(all_ms, 50):>6.0f} | "
          f"{percentile(all_ms, 95):>6.0f} | {percentile(all_ms, 99):>6.0f} | "
          f"{sum(errors.values()):>6} |")  # fmt: skip
    expected = (before.papers + added["papers"], before.chunks + added["chunks"])
    exact = (after["papers"], after["chunks"]) == expected
    print(f"papers {before.papers} -> {after['papers']} (expected {expected[0]}), chunks "
          f"{before.chunks} -> {after['chunks']} (expected {expected[1]}): "
          f"{'exact' if exact else 'WRONG'}")  # fmt: skip
    return 0 if exact and not sum(errors.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
