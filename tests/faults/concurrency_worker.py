"""A process of the concurrency tests (tests/faults/test_concurrency.py), on the fake embedder.

    python -m tests.faults.concurrency_worker ingest GO FILE...  # wait for GO, ingest each FILE
    python -m tests.faults.concurrency_worker ask READY STOP   # ask until STOP exists; JSON tally

The data directory is ``RAG_HOME``. ``ask`` touches READY once its library answered once, then
asks (and searches for the writer's papers) until STOP appears, and prints one JSON line: how many
questions it asked, how many failed (with the first error), and whether its last search found a
paper the writer added.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tests.fakes import fake_library


def wait_for(path: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {path}")
        time.sleep(0.01)


def ingest(go: Path, files: list[Path]) -> None:
    """One ingest (one write) per file."""
    wait_for(go)
    lib = fake_library(seed=False)
    added = [lib.ingest([f], progress=False).papers_added for f in files]
    print(json.dumps({"added": sum(added)}))


def ask(ready: Path, stop: Path) -> None:
    lib = fake_library(seed=False)
    lib.ask("Do marine heatwaves bleach coral reefs?")
    ready.touch()
    asked, failed, first_error, found = 0, 0, "", False
    while not stop.exists():
        asked += 1
        try:
            lib.ask("Do marine heatwaves bleach coral reefs?")
            hits = lib.search("zeppelin airship buoyancy", k=3)
            found = any(h.paper_id.startswith("w") for h in hits)
        except Exception as e:  # the tally is the test's evidence
            failed += 1
            first_error = first_error or f"{type(e).__name__}: {e}"
    tally = {"asked": asked, "failed": failed, "error": first_error, "found": found}
    print(json.dumps(tally))


if __name__ == "__main__":
    kind, *args = sys.argv[1:]
    if kind == "ingest":
        ingest(Path(args[0]), [Path(a) for a in args[1:]])
    else:
        ask(Path(args[0]), Path(args[1]))
