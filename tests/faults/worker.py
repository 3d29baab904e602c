"""A fork server for the fault tests: imports the library once, then runs each operation in a
forked child that the server may SIGKILL (after a delay, or the child kills itself at its Nth write
step through ``RAGPAPERS_FAULT_KILL_AT``).

Protocol: one JSON command per stdin line, one JSON reply per stdout line. A command::

    {"op": "ingest" | "remove" | "snapshot", "home": DIR, "out": FILE, "files": [...],
     "ids": [...], "batch": N, "kill_at": N | null, "kill_after": SECONDS | null,
     "log": FILE | null, "cache": FILE | null, "snapshot": bool}

The reply: ``{"killed": bool, "rc": int | null, "seconds": float}``; the child's result (the
ingest report or the chunks removed, and a snapshot of the store after it if asked) is in
``out``. The embedder is
:class:`tests.fakes.FakeEmbedder` (optionally behind the real SQLite embedding cache), which
appends the number of texts of each call to ``log``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import rag.index.store  # noqa: F401  (imported once here, before forking: children start fast)
from rag.index.journal import KILL_VAR
from rag.library import Library
from tests.fakes import FakeEmbedder

#: Questions whose top 5 chunks a snapshot records.
QUERIES = (
    "language model agents benchmark",
    "reinforcement learning reward",
    "image classification accuracy",
    "medical images generalization",
    "retrieval augmented generation",
)
CHUNK_TOKENS = 48


class LoggingEmbedder(FakeEmbedder):
    """The fake embedder, logging each call's text count to a file (survives a SIGKILL); its
    tokens are words (cheap chunking)."""

    max_tokens = 256

    def __init__(self, log: str | None) -> None:
        super().__init__()
        self.log = log

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = super().embed(texts)
        if self.log:
            with open(self.log, "a") as f:
                f.write(f"{len(texts)}\n")
        return out


def library(cmd: dict[str, Any]) -> Library:
    embedder: Any = LoggingEmbedder(cmd.get("log"))
    if cmd.get("cache"):
        from rag.index.embedding_cache import CachedEmbedder

        embedder = CachedEmbedder(embedder, Path(cmd["cache"]))
    return Library(
        home=cmd["home"],
        embedder=embedder,
        ingest_batch=int(cmd.get("batch") or 256),
        chunk_tokens=CHUNK_TOKENS,
        seed=False,
    )


def snapshot(lib: Library) -> dict[str, Any]:
    """What a converged store must equal: chunks, the lexical index as saved, top-5 results."""
    from rag.index.lexical import LexicalIndex, index_key

    saved = LexicalIndex(
        lib.home / "lexical" / index_key(lib.settings.collection, lib.settings.chroma_url)
    )  # as the last write left it on disk, before any catch-up
    words = {i: w for w, i in saved.vocab.items()}
    lexical = sorted(
        [cid, h, " ".join(words[int(t)] for t in toks)]
        for cid, h, toks in zip(saved.ids, saved.hashes, saved.doc_tokens, strict=True)
    )
    chunks = sorted(
        [r["id"], r["text"], r["metadata"].get("content_hash")] for r in lib.store.get_chunks()
    )
    top = {q: [h.chunk_id for h in lib.retrieve(q, 5)] for q in QUERIES}
    return {
        "chunks": chunks,
        "lexical": lexical,
        "top5": top,
        "pending": len(lib.store.journal_entries()),
    }


def run(cmd: dict[str, Any]) -> Any:
    from rag.index import journal

    started = time.perf_counter()
    lib = library(cmd)
    if cmd["op"] == "ingest":
        result: Any = lib.ingest(cmd["files"], progress=False).model_dump()
    elif cmd["op"] == "remove":
        result = {"removed": lib.remove(cmd["ids"])}
    else:
        result = {}
    steps = next(journal._steps) - 1
    result["seconds"] = time.perf_counter() - started  # after the fork, to the end of the write
    if cmd["op"] == "snapshot" or cmd.get("snapshot"):
        result["snapshot"] = snapshot(lib)
    result["steps"] = steps
    return result


def child(cmd: dict[str, Any]) -> None:
    log = os.open(cmd["out"] + ".log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)
    os.dup2(log, 2)
    code = 0
    try:
        os.environ[KILL_VAR] = str(cmd.get("kill_at") or 10**9)  # also counts the steps
        result = run(cmd)
        Path(cmd["out"]).write_text(json.dumps(result))
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def warm() -> None:
    """Import and load, once, what every child needs (no clients, no threads: safe to fork)."""
    import chromadb.api.rust  # noqa: F401
    import chromadb_rust_bindings  # noqa: F401
    import llama_index.vector_stores.chroma  # noqa: F401

    import rag.pipeline
    import rag.retrieval  # noqa: F401
    from rag.answering.backend import make_backend  # noqa: F401
    from rag.answering.verify import Verifier  # noqa: F401
    from rag.index.embedding_cache import CachedEmbedder  # noqa: F401
    from rag.text import Tokenizer

    Tokenizer(None)("warm up the stemmer")
    import threading

    assert threading.active_count() == 1, "the fault worker must not fork with threads running"


def serve() -> None:
    warm()
    for line in sys.stdin:
        cmd = json.loads(line)
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            child(cmd)
        kill_after = cmd.get("kill_after")
        killed = False
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if kill_after is not None and time.perf_counter() - started >= kill_after:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(0.002)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        reply = {"killed": killed, "rc": rc, "seconds": time.perf_counter() - started}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    serve()
