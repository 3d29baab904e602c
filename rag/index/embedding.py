"""Text embedders: what they promise (the registry is :mod:`rag.index.embedders`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Maps texts to L2-normalised float32 rows, shape (n, dim); ``name`` is stored with them.

    Implementations must be safe to call from several threads at once."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Matrix: ...


@runtime_checkable
class TokenWindow(Protocol):
    """An embedder that reads at most ``max_tokens`` of its own tokens: chunks are budgeted with
    its :meth:`count_tokens` so that nothing is cut off at embedding time."""

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...


def l2_normalize(x: npt.ArrayLike) -> Matrix:
    arr = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return np.asarray(arr / np.maximum(norms, 1e-12), dtype=np.float32)
