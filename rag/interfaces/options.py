"""Options and helpers shared by the ``rag`` commands: library location, filters, JSON output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from rag.index.filters import Filters
    from rag.library import Library

F = TypeVar("F", bound=Callable[..., Any])


def dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def library_options(func: F) -> F:
    func = click.option(
        "--chroma-url", default=None, help="Use a Chroma server (http://host:port)."
    )(func)
    func = click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Library data directory (default: $RAG_HOME or a per-user folder).",
    )(func)
    return func


def filter_options(func: F) -> F:
    """--year / --source / --paper / --author / --venue: restrict retrieval to some papers."""
    func = click.option(
        "--venue",
        "venues",
        multiple=True,
        metavar="WORDS",
        help="Only papers whose venue has these words, e.g. 'neural information' (repeatable).",
    )(func)
    func = click.option(
        "--author",
        "authors",
        multiple=True,
        metavar="NAME",
        help="Only papers with an author of this name, e.g. Vaswani (repeatable).",
    )(func)
    func = click.option(
        "--paper",
        "paper_ids",
        multiple=True,
        metavar="ID",
        help="Only this paper (repeatable).",
    )(func)
    func = click.option(
        "--source",
        "sources",
        multiple=True,
        metavar="NAME",
        help="Only papers from this input file name, e.g. papers.jsonl (repeatable).",
    )(func)
    func = click.option(
        "--year",
        default=None,
        metavar="RANGE",
        help="Only papers from these years: 2023, 2023..2024, 2023.. or ..2024.",
    )(func)
    return func


def make_filters(
    lib: Library,
    year: str | None,
    sources: tuple[str, ...],
    paper_ids: tuple[str, ...],
    authors: tuple[str, ...] = (),
    venues: tuple[str, ...] = (),
) -> Filters | None:
    return lib.filters(
        year=year,
        source=list(sources) or None,
        paper=list(paper_ids) or None,
        author=list(authors) or None,
        venue=list(venues) or None,
    )


def open_library(home: Path | None, chroma_url: str | None, **overrides: Any) -> Library:
    from rag.library import Library

    return Library(home=home, chroma_url=chroma_url, **overrides)
