"""Paper-level atomicity in-process, against a ``chroma run`` server: a write that dies at its
write steps (an exception raised where ``RAGPAPERS_FAULT_KILL_AT``
would SIGKILL), then run again, gives the clean run's store; and what :func:`repair` does with
a half-written paper the re-run's input does not hold. Fake embedder (tests/fakes.py); ~25 s
with the server's start, on the 2-core machine at load average ~9."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rag.index import journal
from rag.library import Library
from tests.faults.harness import write_corpus
from tests.faults.worker import LoggingEmbedder


class Crash(BaseException):
    """Stands for a SIGKILL at a write step (raised through every handler)."""


@pytest.fixture
def where(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The Chroma server, crashed at every third write step (1, 4, 7...); the SIGKILL trials of
    test_kill.py cover the embedded store's steps."""
    return {"chroma_url": request.getfixturevalue("chroma_server"), "start": 1}


def open_lib(where: dict[str, Any], home: Path, collection: str) -> Library:
    where = {k: v for k, v in where.items() if k != "start"}
    return Library(
        home=home,
        embedder=LoggingEmbedder(None),
        collection=collection,
        ingest_batch=3,
        chunk_tokens=48,
        seed=False,
        **where,
    )


def state(lib: Library) -> tuple[Any, ...]:
    chunks = sorted(
        (r["id"], r["text"], r["metadata"]["content_hash"]) for r in lib.store.get_chunks()
    )
    lib.lexical.sync(lib.store)
    lexical = sorted(zip(lib.lexical.ids, lib.lexical.hashes, strict=True))
    return chunks, lexical, lib.store.journal_entries()


def crash_at(monkeypatch: pytest.MonkeyPatch, n: int | None) -> None:
    count = iter(range(1, 10**6))

    def step() -> None:
        if n is not None and next(count) == n:
            raise Crash

    monkeypatch.setattr(journal, "step", step)


@pytest.mark.server
def test_a_write_that_dies_at_any_step_is_repaired_by_the_rerun(
    where: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1, v2, removed = write_corpus(tmp_path / "corpus", n=4, new=2)
    home = tmp_path / "home"
    tag = tmp_path.name.replace("_", "-")[-30:]
    clean = open_lib(where, home, f"clean-{tag}")
    clean.ingest([v1], progress=False)
    clean.ingest([v2], progress=False)
    after_v2 = state(clean)
    clean.remove(removed)
    after_remove = state(clean)
    assert after_v2[2] == {} and len(after_remove[0]) < len(after_v2[0])
    for op, want in (("reingest", after_v2), ("remove", after_remove)):
        k, crashed = where["start"] - 3, True
        while crashed:
            k += 3
            name = f"{op[:3]}{k}-{tag}"
            crash_at(monkeypatch, None)
            base = open_lib(where, home, name)
            for files in [[v1]] if op == "reingest" else [[v1], [v2]]:
                base.ingest(files, progress=False)
            crash_at(monkeypatch, k)
            try:
                lib = open_lib(where, home, name)
                lib.ingest([v2], progress=False) if op == "reingest" else lib.remove(removed)
                crashed = False  # k is past the last step: every step was tried
            except Crash:
                pass
            crash_at(monkeypatch, None)
            again = open_lib(where, home, name)
            again.ingest([v2], progress=False) if op == "reingest" else again.remove(removed)
            assert state(again) == want, f"{op} died at step {k}"
        assert k > (6 if op == "reingest" else 3)  # the sweep went past several steps


def test_repair_without_the_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A later ingest of another file settles the journal: a whole new version is kept (its
    stale tail dropped), an untouched old version is kept, a mixed one is removed and named."""
    v1, _, _ = write_corpus(tmp_path / "corpus", n=6)
    lib = open_lib({}, tmp_path / "home", "papers")
    lib.ingest([v1], progress=False)
    store = lib.store
    rows = {r["id"]: r for r in store.get_chunks()}
    pids = sorted({r["metadata"]["paper_id"] for r in rows.values()})
    many = [p for p in pids if sum(r["metadata"]["paper_id"] == p for r in rows.values()) >= 3]
    grown, mixed = many[0], many[1]
    untouched = next(p for p in pids if p not in (grown, mixed))
    # `grown` got a whole new version of one chunk (the stale tail was not deleted yet);
    # `mixed` had only its first chunk overwritten; `untouched` was journaled but not written.
    for pid, digest in ((grown, "new-hash"), (mixed, "new-hash")):
        first = rows[f"{pid}#0"]
        meta = {**first["metadata"], "content_hash": digest}
        vec = lib.embedder.embed([first["text"]])
        store.upsert_chunks([f"{pid}#0"], vec, ["rewritten " + first["text"]], [meta])
    old = {p: rows[f"{p}#0"]["metadata"]["content_hash"] for p in pids}
    n = {p: sum(r["metadata"]["paper_id"] == p for r in rows.values()) for p in pids}
    store.journal_put(
        {
            grown: {
                "op": "replace",
                "new": "new-hash",
                "new_n": 1,
                "old": old[grown],
                "old_n": n[grown],
            },
            mixed: {
                "op": "replace",
                "new": "new-hash",
                "new_n": 3,
                "old": old[mixed],
                "old_n": n[mixed],
            },
            untouched: {
                "op": "replace",
                "new": "x",
                "new_n": 1,
                "old": old[untouched],
                "old_n": n[untouched],
            },
        }
    )
    other = tmp_path / "other.jsonl"
    other.write_text('{"id": "solo", "title": "Solo", "abstract": "One sentence here."}\n')
    lib.ingest([other], progress=False)
    after = {r["id"]: r for r in store.get_chunks()}
    assert store.journal_entries() == {}
    assert [c for c in after if c.startswith(f"{grown}#")] == [f"{grown}#0"]
    assert after[f"{grown}#0"]["text"].startswith("rewritten ")
    assert not [c for c in after if c.startswith(f"{mixed}#")]
    assert len([c for c in after if c.startswith(f"{untouched}#")]) == n[untouched]
    assert mixed in capsys.readouterr().err
    assert set(lib.lexical.ids) == set(after)
