"""Fakes for fast unit tests (integration tests use the real components instead).

``FakeEmbedder`` hashes words into a fixed-size bag-of-words vector: deterministic, instant, and
similar texts still land near each other, which is enough to test plumbing, not quality.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np


class FakeEmbedder:
    def __init__(self, name: str = "fake-bow", dim: int = 64) -> None:
        self.name = name
        self.dim = dim
        self.calls = 0
        self.texts_embedded = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                h = int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "little")
                out[i, h % self.dim] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
            if not norm:
                out[i, 0] = 1.0
        return out


def fake_library(home: object = None, **overrides: object):  # type: ignore[no-untyped-def]
    """A Library whose embedder is the FakeEmbedder (everything else real: Chroma, chunking)."""
    from rag.library import Library

    return Library(home=home, embedder=FakeEmbedder(), **overrides)
