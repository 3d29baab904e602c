"""SIGKILL fault tests: ingest, changed re-ingest and remove killed at random points (a random
delay, or the Nth write step through ``RAGPAPERS_FAULT_KILL_AT``), then run again, must converge to
the store, lexical index and top-5 results of a clean run (:mod:`tests.faults.harness`; 200 trials:
``python -m bench.kill``). All use the fake embedder (tests/fakes.py) in forked children.
Runtime: ~70 s for the module (20 trials + the resume test) on the 2-core machine at load ~9."""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import Lab, make_lab


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    made = make_lab()
    yield made
    made.close()
    shutil.rmtree(made.root, ignore_errors=True)


def run_trials(lab: Lab, kind: str, n: int) -> None:
    seed = time.time_ns() % 1_000_000
    rng = random.Random(seed)
    steps = lab.steps[kind]
    at = sorted(rng.sample(range(1, steps + 1), min(n // 2, steps)))
    outcomes = [(f"step {k}", lab.trial(kind, kill_at=k)) for k in at]
    for _ in range(n - len(at)):
        delay = round(rng.uniform(0.0, 1.2 * lab.seconds[kind]), 3)
        outcomes.append((f"after {delay}s", lab.trial(kind, kill_after=delay)))
    failed = [(how, diffs) for how, (ok, _, diffs) in outcomes if not ok]
    assert failed == [], f"{kind} (seed {seed}): not converged after a kill at {failed}"
    assert all(killed for how, (_, killed, _) in outcomes if how.startswith("step"))
    assert lab.refs[kind]["pending"] == 0 and lab.refs[kind]["chunks"]


def test_first_ingest_converges_after_sigkill(lab: Lab) -> None:
    run_trials(lab, "first", 7)


def test_changed_reingest_converges_after_sigkill(lab: Lab) -> None:
    """v2 changes half the abstracts (some shorter, some longer) and adds papers."""
    assert lab.refs["reingest"]["chunks"] != lab.refs["first"]["chunks"]
    run_trials(lab, "reingest", 7)


def test_remove_converges_after_sigkill(lab: Lab) -> None:
    assert len(lab.refs["remove"]["chunks"]) < len(lab.refs["first"]["chunks"])
    run_trials(lab, "remove", 6)


@pytest.mark.parametrize("cached", [True, False])
def test_resumed_ingest_repeats_at_most_one_batch(lab: Lab, cached: bool) -> None:
    """A first ingest killed in its third batch, run again: the second run keeps the committed
    batches ("unchanged"), and the two runs together embed at most one batch of chunks more than
    a clean run (with the embedding cache; without it, the batch embedded while the killed one
    was being written is lost too: at most two)."""
    home = lab.fresh("first", f"resume-{cached}")
    log, cache = lab.root / f"embed-{cached}.log", lab.root / f"cache-{cached}.sqlite"
    extra = {"log": str(log), "cache": str(cache) if cached else None}
    per_batch = 5  # write steps per batch of a first ingest: journal, upsert, journal, 2 commits
    assert lab.steps["first"] % per_batch == 0
    killed = lab.op("first", home, kill_at=2 * per_batch + 1, **extra)  # batch 3 journaled
    assert killed["killed"]
    first_run = sum(int(x) for x in log.read_text().split())
    again = lab.op("first", home, **extra)["result"]
    total = len(lab.refs["first"]["chunks"])
    embedded = sum(int(x) for x in log.read_text().split())
    by_paper: dict[str, int] = {}
    for cid, _, _ in lab.refs["first"]["chunks"]:
        by_paper[cid.rsplit("#", 1)[0]] = by_paper.get(cid.rsplit("#", 1)[0], 0) + 1
    order = [json.loads(line)["id"] for line in Path(lab.v1).read_text().splitlines()]
    batches = [
        sum(by_paper[p] for p in order[i : i + lab.batch]) for i in range(0, len(order), lab.batch)
    ]
    assert again["papers_unchanged"] == 2 * lab.batch  # the two committed batches are kept
    assert again["papers_added"] == len(order) - 2 * lab.batch
    assert again["chunks_written"] == sum(batches[2:])
    assert first_run > sum(batches[:2])  # the killed run had embedded part of batch 3 at least
    assert embedded - total <= (1 if cached else 2) * max(batches)
    assert lab.snapshot(home)["chunks"] == lab.refs["first"]["chunks"]
