"""Stage 1, ingest: input files -> validated, de-duplicated :class:`~rag.schema.Paper` records.

One module per input format (``daily_papers``, ``json_records``), registered in
:mod:`rag.ingest.registry`; :mod:`rag.ingest.records` holds what they share.

The names below are imported on first use (PEP 562): the read path imports
:mod:`rag.ingest.records` (through the store's metadata) and must not pay for every reader.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.ingest.records import ParseResult, content_hash, normalise_title, paper_id_for_title
    from rag.ingest.registry import FORMATS, iter_input_files, parse_file, parse_paths

__all__ = [
    "FORMATS",
    "ParseResult",
    "bundled_seed_dir",
    "content_hash",
    "iter_input_files",
    "normalise_title",
    "paper_id_for_title",
    "parse_file",
    "parse_paths",
]

_LAZY = {
    "ParseResult": "rag.ingest.records",
    "content_hash": "rag.ingest.records",
    "normalise_title": "rag.ingest.records",
    "paper_id_for_title": "rag.ingest.records",
    "FORMATS": "rag.ingest.registry",
    "iter_input_files": "rag.ingest.registry",
    "parse_file": "rag.ingest.registry",
    "parse_paths": "rag.ingest.registry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)


def bundled_seed_dir() -> Path:
    """The Daily Papers dumps shipped inside the package (package data): the starting library."""
    from importlib.resources import files

    return Path(str(files("rag") / "data" / "seeds"))
