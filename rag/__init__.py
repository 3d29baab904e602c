"""Literature question answering over your papers, with checked citations.

The pipeline, by stage: :mod:`rag.ingest` -> :mod:`rag.index` -> :mod:`rag.retrieval` ->
:mod:`rag.answering` (answer, then verify) -> :mod:`rag.eval`; :mod:`rag.interfaces` are the thin
layers on top (CLI). :class:`Library` owns a library's data; its :attr:`Library.pipeline`
(:class:`Pipeline`) answers questions.

Imports are lazy so that ``import rag`` (and the CLI's start-up) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "BackendError",
    "ConfigError",
    "InputError",
    "Library",
    "Pipeline",
    "RagError",
    "Settings",
    "__version__",
]

if TYPE_CHECKING:
    from rag.errors import BackendError, ConfigError, InputError, RagError
    from rag.library import Library
    from rag.pipeline import Pipeline
    from rag.settings import Settings

_WHERE = {
    "Library": "rag.library",
    "Pipeline": "rag.pipeline",
    "Settings": "rag.settings",
    "RagError": "rag.errors",
    "InputError": "rag.errors",
    "ConfigError": "rag.errors",
    "BackendError": "rag.errors",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)
