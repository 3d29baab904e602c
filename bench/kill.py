"""SIGKILL convergence bench: N trials of first ingest, changed re-ingest and remove, each killed
at a random write step or after a random delay, run again, and compared with a clean run (chunk
ids, texts and hashes; the lexical index as saved; top-5 chunks of five queries; an empty write
journal). Uses the fake embedder (tests/fakes.py) in forked children; see tests/faults/harness.py.

Usage (from the repo root)::

    python -m bench.kill [--trials 200] [--batch 6] [--seed 0]

Prints a table by kind and a last line such as ``200/200 converged``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--batch", type=int, default=6, help="Papers per ingest batch.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    scratch = Path(tempfile.mkdtemp(prefix="rag-kill-"))
    os.environ["RAG_HOME"] = str(scratch / "home")
    os.environ["RAG_CACHE_DIR"] = str(scratch / "cache")
    from tests.faults.harness import KINDS, Lab

    lab = Lab(scratch / "lab", batch=args.batch)
    rng = random.Random(args.seed)
    rows = {k: [0, 0, 0] for k in KINDS}  # trials, killed, converged
    failures: list[str] = []
    started = time.perf_counter()
    try:
        for i in range(args.trials):
            kind = KINDS[i % len(KINDS)]
            if i % 2 == 0:
                how, kw = "step", {"kill_at": rng.randint(1, lab.steps[kind])}
            else:
                how, kw = "delay", {"kill_after": round(rng.uniform(0, 1.2 * lab.seconds[kind]), 3)}
            ok, killed, diffs = lab.trial(kind, **kw)
            row = rows[kind]
            row[0] += 1
            row[1] += killed
            row[2] += ok
            if not ok:
                failures.append(f"{kind} killed at {how} {kw}: differs in {diffs}")
            print(f"trial {i + 1}: {kind} {how} {kw} killed={killed} ok={ok}", file=sys.stderr)
    finally:
        lab.close()
        shutil.rmtree(scratch, ignore_errors=True)
    print("| kind | trials | killed before finishing | converged |")
    print("|---|---:|---:|---:|")
    for kind, (n, killed, ok) in rows.items():
        print(f"| {kind} | {n} | {killed} | {ok} |")
    for line in failures:
        print(line)
    total = sum(r[2] for r in rows.values())
    print(f"{total}/{args.trials} converged ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
