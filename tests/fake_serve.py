"""Run `rag serve` or `rag mcp` in a subprocess over a fake-embedder library of the tiny corpus.

    python -m tests.fake_serve http HOME PORT     # the HTTP server (SIGTERM test)
    python -m tests.fake_serve mcp HOME           # the MCP server over stdio

``FAKE_EMBED_DELAY`` (seconds per embedded text) slows ingests down, to catch one in flight.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

import numpy as np

from tests.conftest import DATA
from tests.fakes import FakeEmbedder


class SlowEmbedder(FakeEmbedder):
    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(self.delay * len(texts))
        return super().embed(texts)


def main(argv: list[str]) -> None:
    from rag.library import Library

    mode, home = argv[0], argv[1]
    delay = float(os.environ.get("FAKE_EMBED_DELAY", "0"))
    lib = Library(home=home, embedder=SlowEmbedder(delay), seed=False)
    if lib.is_empty():
        lib.ingest([DATA / "tiny.jsonl", DATA / "tiny_daily.txt"], progress=False)
    if mode == "mcp":
        from rag.interfaces.mcp_server import run_mcp

        run_mcp(lib, "stdio")
    else:
        from rag.interfaces.http import serve

        serve(lib, "127.0.0.1", int(argv[2]), log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
