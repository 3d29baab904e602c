"""The input formats, registered in one place, and what turns paths into papers.

A format is a :class:`Format`: a name, the file suffixes it claims, and a parser from a file's
lines to papers (bad records are yielded as :class:`~rag.errors.InputError` so that a caller may
skip them). Adding a reader is one module under ``rag/ingest/`` plus one line in :data:`FORMATS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.errors import InputError
from rag.ingest.daily_papers import parse as parse_daily_papers
from rag.ingest.json_records import parse_document, parse_lines
from rag.ingest.records import Item, ParseResult, base_suffix, read_lines
from rag.schema import Paper

Parser = Callable[[Path, list[str]], Iterator[Item]]


@dataclass(frozen=True)
class Format:
    name: str
    suffixes: tuple[str, ...]
    parse: Parser


#: Every input format, by name. One line per format.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("daily-papers", (".txt",), parse_daily_papers),
        Format("jsonl", (".jsonl",), parse_lines),
        Format("json", (".json",), parse_document),
    )
}


def format_for(path: Path) -> Format | None:
    suffix = base_suffix(path)
    return next((f for f in FORMATS.values() if suffix in f.suffixes), None)


def supported() -> str:
    return ", ".join(f"{s} ({f.name})" for f in FORMATS.values() for s in f.suffixes)


def iter_input_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories (the files of a known format in them); a missing path is an error."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise InputError("no such file or directory", where=str(path))
        if path.is_dir():
            found = sorted(f for f in path.rglob("*") if f.is_file() and format_for(f) is not None)
            if not found:
                raise InputError(
                    f"directory holds no file of a known format ({supported()})", where=str(path)
                )
            out.extend(found)
        else:
            out.append(path)
    return out


def parse_file(path: Path) -> Iterator[Item]:
    fmt = format_for(path)
    if fmt is None:
        suffix = base_suffix(path)
        raise InputError(
            f"unknown format {suffix or '(no extension)'!r}: expected {supported()}, "
            "optionally .gz",
            where=str(path),
        )
    return fmt.parse(path, read_lines(path))


def parse_paths(paths: Iterable[str | Path], *, skip_errors: bool = False) -> ParseResult:
    """Parse and de-duplicate every record of every file, or raise on the first bad one.

    With ``skip_errors`` a bad record (or an unreadable file) is skipped and reported in
    ``result.skipped`` instead. A paper listed twice (same id) is kept once: the first listing.
    """
    result = ParseResult()
    seen: dict[str, Paper] = {}
    for path in iter_input_files(paths):
        try:
            for item in parse_file(path):
                if isinstance(item, InputError):
                    if not skip_errors:
                        raise item
                    result.skipped.append(str(item))
                    continue
                result.records += 1
                if item.paper_id in seen:
                    result.duplicates += 1
                    continue
                seen[item.paper_id] = item
        except InputError as e:  # the whole file is unreadable
            if not skip_errors:
                raise
            result.skipped.append(str(e))
    result.papers = list(seen.values())
    return result
