"""Stage 1, ingest: input files -> validated, de-duplicated :class:`~rag.schema.Paper` records.

One module per input format (``daily_papers``, ``json_records``), registered in
:mod:`rag.ingest.registry`; :mod:`rag.ingest.records` holds what they share.
"""

from __future__ import annotations

from pathlib import Path

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


def bundled_seed_dir() -> Path:
    """The Daily Papers dumps shipped inside the package (package data): the starting library."""
    from importlib.resources import files

    return Path(str(files("rag") / "data" / "seeds"))
