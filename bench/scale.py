"""Scale bench: 10k / 30k / 100k generated abstracts, store + lexical index + search.

The abstracts are SciFact's corpus (``../shared/benchmarks/scifact``, 5,183 abstracts) and the
bundled seed papers recombined at sentence level: each generated abstract takes 4-9 sentences from
random source abstracts (a topic mix, so BM25 and dense see realistic term statistics), gets a
fresh id, a title made of words from its sentences, a year (1990-2025), 1-4 authors from a pool
and a venue from a pool (for filters). Deterministic for a given ``--seed``.

Vectors come from a cheap deterministic hashing embedder at dim 384 (the shape of MiniLM's): the
bench measures the store, the lexical index and search, not the model (``bench/embed.py`` and
``bench/ingest.py`` measure real embedding speed). Per size, in new processes (peak RSS is the
child's ``ru_maxrss``):

* ingest wall time, in batches of ``--batch`` abstracts through ``Library.ingest`` (store write +
  lexical index sync), and the lexical sync time of each batch (the first and the last: it must
  not grow with the library);
* disk size of the data directory (Chroma + lexical index);
* peak RSS of the ingest process and of the query process;
* hybrid retrieval latency p50/p95 (k=10, SciFact claims as queries), filters off and on (a year
  range), in one warm process;
* ``Library.stats()`` time and a cold ``ask`` (new process: imports, open store + lexical index,
  answer; the hashing embedder, so without MiniLM's ~0.3 s session load).

    .venv/bin/python bench/scale.py --sizes 10000,30000          # the table (Markdown, stdout)
    .venv/bin/python bench/scale.py --sizes 100000 --work /tmp/scale
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
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SCIFACT = REPO.parent / "shared" / "benchmarks" / "scifact"
DIM = 384
VENUES = ["Nature", "Science", "Cell", "NEJM", "Lancet", "JAMA", "PLoS ONE", "ACL", "NeurIPS"]
SURNAMES = ["Smith", "Chen", "Garcia", "Kumar", "Müller", "Rossi", "Tanaka", "Okafor", "Novak"]


class HashEmbedder:
    """Words hashed (crc32) into 384 signed buckets, L2-normalised: deterministic and instant."""

    name = "hash-384"
    dim = DIM

    def __init__(self) -> None:
        self._slot: dict[str, tuple[int, float]] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            for w in re.findall(r"\w+", text.lower()):
                s = self._slot.get(w)
                if s is None:
                    h = zlib.crc32(w.encode())
                    s = self._slot[w] = (h % DIM, 1.0 if h & 0x80000000 else -1.0)
                out[i, s[0]] += s[1]
            n = float(np.linalg.norm(out[i]))
            if n:
                out[i] /= n
            else:
                out[i, 0] = 1.0
        return out


# --- data -----------------------------------------------------------------------------------


def source_abstracts() -> list[list[str]]:
    """Sentence lists of SciFact's abstracts and the bundled seed papers."""
    out: list[list[str]] = []
    with gzip.open(SCIFACT / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            sents = [s.strip() for s in json.loads(line)["abstract"] if s.strip()]
            if sents:
                out.append(sents)
    from rag.ingest import bundled_seed_dir, iter_input_files, parse_paths

    for p in parse_paths(iter_input_files([bundled_seed_dir()])).papers:
        sents = [s for s in p.abstract if s.strip()]
        if sents:
            out.append(sents)
    return out


def generate(n: int, out_dir: Path, batch: int, seed: int = 0) -> list[Path]:
    """``n`` abstracts in JSONL files of ``batch`` records each."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = sorted(out_dir.glob("part-*.jsonl"))
    if files and sum(1 for f in files for _ in f.open()) == n:
        return files
    for f in files:
        f.unlink()
    rng = random.Random(seed)
    pool = source_abstracts()
    files = []
    for start in range(0, n, batch):
        path = out_dir / f"part-{start // batch:04d}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for i in range(start, min(n, start + batch)):
                sents = [rng.choice(rng.choice(pool)) for _ in range(rng.randint(4, 9))]
                words = [w for w in re.findall(r"[A-Za-z][A-Za-z-]{4,}", " ".join(sents))]
                picked = rng.sample(words, min(len(words), rng.randint(5, 10)))
                title = " ".join(picked).capitalize()
                rec = {
                    "id": f"gen-{seed}-{i:07d}",
                    "title": title or f"Generated paper {i}",
                    "abstract": " ".join(sents),
                    "year": rng.randint(1990, 2025),
                    "authors": [
                        f"{rng.choice('ABCDEFGHJKLMNPRST')}. {rng.choice(SURNAMES)}"
                        for _ in range(rng.randint(1, 4))
                    ],
                    "venue": rng.choice(VENUES),
                }
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        files.append(path)
    return files


def queries(n: int = 200) -> list[str]:
    with (SCIFACT / "claims_train.jsonl").open(encoding="utf-8") as f:
        claims = [json.loads(line)["claim"] for line in f]
    return claims[:n]


# --- workers (run in new processes) -----------------------------------------------------------


def library(home: Path, chroma_url: str | None = None) -> Any:
    from rag.library import Library

    return Library(home=home, embedder=HashEmbedder(), seed=False, chroma_url=chroma_url)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now_mb() -> float:
    """This process's resident memory now (Linux), for the per-batch curve."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker_ingest(home: Path, files: list[Path]) -> dict[str, Any]:
    from rag.index.lexical import LexicalIndex

    syncs: list[float] = []
    original = LexicalIndex.sync

    def timed(self: Any, store: Any, **kw: Any) -> bool:
        t = time.perf_counter()
        try:
            return original(self, store, **kw)
        finally:
            syncs.append(time.perf_counter() - t)

    LexicalIndex.sync = timed  # type: ignore[method-assign]
    lib = library(home)
    batches, rss = [], []
    t0 = time.perf_counter()
    for f in files:
        t = time.perf_counter()
        lib.ingest([f], progress=False)
        batches.append(time.perf_counter() - t)
        rss.append(round(rss_now_mb()))
        print(f"batch {len(batches)}: {batches[-1]:.1f} s, RSS {rss[-1]} MB", file=sys.stderr)
    total = time.perf_counter() - t0
    return {
        "ingest_s": total,
        "batches": batches,
        "syncs": syncs,
        "rss_batches": rss,
        "rss_mb": peak_mb(),
    }


def worker_query(home: Path, n: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    lib = library(home)
    qs = queries(n)
    t = time.perf_counter()
    lib.retrieve(qs[0], 10)
    first = time.perf_counter() - t
    open_first = time.perf_counter() - t0
    years = lib.filters(year="2000..2010")
    lat: dict[str, list[float]] = {"off": [], "on": []}
    for q in qs[1:]:
        for mode, f in (("off", None), ("on", years)):
            t = time.perf_counter()
            lib.retrieve(q, 10, filters=f)
            lat[mode].append(time.perf_counter() - t)
    t = time.perf_counter()
    lib.stats()
    stats_s = time.perf_counter() - t
    return {
        "first_query_s": first,
        "open_first_query_s": open_first,
        "p50_off": pct(lat["off"], 50),
        "p95_off": pct(lat["off"], 95),
        "p50_on": pct(lat["on"], 50),
        "p95_on": pct(lat["on"], 95),
        "stats_s": stats_s,
        "rss_mb": peak_mb(),
    }


def worker_ask(home: Path) -> dict[str, Any]:
    lib = library(home)
    answer = lib.ask("Does vitamin D supplementation reduce fracture risk in older adults?")
    return {"refused": bool(getattr(answer, "refused", False)), "rss_mb": peak_mb()}


def worker_stats(home: Path) -> dict[str, Any]:
    s = library(home).stats()
    return {"papers": s.papers, "chunks": s.chunks, "rss_mb": peak_mb()}


def worker_server(home: Path, url: str, files: list[Path]) -> dict[str, Any]:
    """Clients of one Chroma server: A ingests ``files[:-1]``; B (a new client) answers its first
    query; A adds ``files[-1]``; B's next query catches up."""
    a = library(home / "a", url)
    for f in files[:-1]:
        a.ingest([f], progress=False)
    t = time.perf_counter()
    b = library(home / "b", url)
    b.retrieve("vitamin D and fractures", 10)
    first = time.perf_counter() - t
    rss_b = peak_mb()
    t = time.perf_counter()
    b.retrieve("obesity and insulin resistance", 10)
    warm = time.perf_counter() - t
    added = a.ingest([files[-1]], progress=False).papers_added
    t = time.perf_counter()
    b.retrieve("aspirin and colorectal cancer", 10)
    catch_up = time.perf_counter() - t
    sync = dict(b.lexical.last_sync)
    t = time.perf_counter()
    library(home / "b", url).retrieve("gene expression in T cells", 10)
    reopen = time.perf_counter() - t
    return {
        "first_query_s": first,
        "warm_query_s": warm,
        "added": added,
        "catch_up_s": catch_up,
        "catch_up_sync": sync,
        "reopen_query_s": reopen,
        "rss_b_mb": rss_b,
        "rss_mb": peak_mb(),
    }


def bench_server(n: int, work: Path, batch: int) -> dict[str, Any]:
    """Start ``chroma run``, then :func:`worker_server` with ``n`` papers + 1,000 more."""
    import socket

    files = generate(n, work / f"data-{n}", batch)
    extra = generate(1000, work / "data-extra", 1000, seed=1)
    exe = Path(sys.executable).parent / "chroma"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    db = work / f"server-{n}"
    shutil.rmtree(db, ignore_errors=True)
    log = (work / "server.log").open("wb")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    cmd = [str(exe), "run", "--path", str(db), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        url = f"http://127.0.0.1:{port}"
        out, _ = run_worker("server", work / f"clients-{n}", "--url", url, *map(str, files + extra))
        return {"n": n, **out}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.array(xs), p)) if xs else float("nan")


def run_worker(kind: str, home: Path, *extra: str) -> tuple[dict[str, Any], float]:
    """Run one worker in a new process; its JSON result and its wall time."""
    cmd = [sys.executable, __file__, "--worker", kind, "--home", str(home), *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t = time.perf_counter()
    # the worker's stderr (progress, errors) goes straight to ours
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env, check=False)
    wall = time.perf_counter() - t
    if out.returncode:
        raise SystemExit(f"worker {kind} failed (its stderr is above)")
    return json.loads(out.stdout.strip().splitlines()[-1]), wall


def du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def bench_size(n: int, work: Path, batch: int, nq: int) -> dict[str, Any]:
    files = generate(n, work / f"data-{n}", batch)
    home = work / f"home-{n}"
    shutil.rmtree(home, ignore_errors=True)
    ing, _ = run_worker("ingest", home, *map(str, files))
    q, _ = run_worker("query", home, "--queries", str(nq))
    _, stats_wall = run_worker("stats", home)
    asks = [run_worker("ask", home)[1] for _ in range(3)]
    syncs = ing["syncs"]
    return {
        "n": n,
        "ingest_s": ing["ingest_s"],
        "rate": n / ing["ingest_s"],
        "sync_first": syncs[0] if syncs else float("nan"),
        "sync_last": syncs[-1] if syncs else float("nan"),
        "disk_mb": du_mb(home),
        "lexical_mb": du_mb(home / "lexical") if (home / "lexical").exists() else 0.0,
        "rss_ingest": ing["rss_mb"],
        "rss_batches": ing["rss_batches"],
        "rss_query": q["rss_mb"],
        **{k: q[k] for k in ("p50_off", "p95_off", "p50_on", "p95_on", "stats_s")},
        "first_query_s": q["first_query_s"],
        "stats_cold_s": stats_wall,
        "ask_cold_s": statistics.median(asks),
    }


def table(rows: list[dict[str, Any]], batch: int) -> str:
    ms = 1000.0
    lines = [
        "| abstracts | ingest | abstracts/s | lexical sync per batch of "
        f"{batch:,} (first / last) | disk (lexical) | peak RSS ingest / query | hybrid p50 / p95"
        " no filter | hybrid p50 / p95 year filter | first query (new process) | `stats` "
        "(new process) | cold `ask` |",
        "|" + "---|" * 11,
    ]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['ingest_s']:.0f} s | {r['rate']:.0f} | "
            f"{r['sync_first'] * ms:.0f} / {r['sync_last'] * ms:.0f} ms | "
            f"{r['disk_mb']:.0f} MB ({r['lexical_mb']:.0f} MB) | "
            f"{r['rss_ingest']:.0f} / {r['rss_query']:.0f} MB | "
            f"{r['p50_off'] * ms:.1f} / {r['p95_off'] * ms:.1f} ms | "
            f"{r['p50_on'] * ms:.1f} / {r['p95_on'] * ms:.1f} ms | "
            f"{r['first_query_s']:.2f} s | {r['stats_cold_s']:.2f} s | {r['ask_cold_s']:.2f} s |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,30000", help="comma-separated abstract counts")
    ap.add_argument("--batch", type=int, default=2000, help="abstracts per ingest call")
    ap.add_argument("--queries", type=int, default=101, help="queries timed (first is warm-up)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/rag-scale"))
    ap.add_argument("--server", type=int, help="also: clients of one Chroma server at this size")
    ap.add_argument("--only-server", action="store_true", help="skip the local sizes")
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        kinds = {
            "ingest": lambda: worker_ingest(a.home, a.files),
            "query": lambda: worker_query(a.home, a.queries),
            "ask": lambda: worker_ask(a.home),
            "stats": lambda: worker_stats(a.home),
            "server": lambda: worker_server(a.home, a.url, a.files),
        }
        print(json.dumps(kinds[a.worker]()))
        return
    rows = []
    for n in () if a.only_server else (int(s) for s in a.sizes.split(",")):
        rows.append(bench_size(n, a.work, a.batch, a.queries))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if rows:
        print(table(rows, a.batch))
    if a.server:
        r = bench_server(a.server, a.work, a.batch)
        print(json.dumps(r), file=sys.stderr, flush=True)
        print(
            f"\nChroma server, {r['n']:,} papers: new client's first query "
            f"{r['first_query_s']:.1f} s"
            f" (peak RSS {r['rss_b_mb']:.0f} MB), warm query {r['warm_query_s'] * 1000:.0f} ms;"
            f" after another client adds {r['added']:,} papers, the next query (catch-up) "
            f"{r['catch_up_s']:.2f} s ({r['catch_up_sync']}); a restarted client's first query "
            f"{r['reopen_query_s']:.1f} s."
        )


if __name__ == "__main__":
    main()
