"""The input formats, registered in one place, and what turns paths into papers.

A format is a :class:`Format`: a name, the file suffixes it claims, a parser from a file's lines
to papers (bad records are yielded as :class:`~rag.errors.InputError` so that a caller may skip
them) and a sniffer that recognises its content. Adding a reader is one module under
``rag/ingest/`` plus one line in :data:`FORMATS`.

Detection (:func:`detect`) reads the start of the file: among the formats whose sniffer accepts
it, a specific one wins over the catch-all JSON records, and the extension settles a tie. No
match, or two specific matches the extension cannot settle, is one error listing the formats.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import rag.ingest.arxiv_atom as arxiv_atom
import rag.ingest.bibtex as bibtex
import rag.ingest.csl_json as csl_json
import rag.ingest.daily_papers as daily_papers
import rag.ingest.medline as medline
import rag.ingest.openalex as openalex
import rag.ingest.pdf as pdf
import rag.ingest.pubmed as pubmed
import rag.ingest.ris as ris
import rag.ingest.semantic_scholar as semantic_scholar
import rag.ingest.tabular as tabular
from rag.errors import InputError
from rag.ingest.fields import ARXIV_RE
from rag.ingest.identity import Merger
from rag.ingest.json_records import parse_document, parse_lines
from rag.ingest.records import MAX_INPUT_BYTES, Item, ParseResult, base_suffix, read_lines

Parser = Callable[[Path, list[str]], Iterator[Item]]


def _json_sniff(head: str) -> bool:
    return head.lstrip("\ufeff \t\r\n")[:1] in ("{", "[")


@dataclass(frozen=True)
class Format:
    name: str
    suffixes: tuple[str, ...]
    parse: Parser
    sniff: Callable[[str], bool]
    binary: bool = False  # the parser reads the file itself (gets no lines)
    fallback: bool = False  # accepts what a more specific format may claim


#: Every input format, by name. One line per format.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("daily-papers", (".txt",), daily_papers.parse, daily_papers.sniff),
        Format("jsonl", (".jsonl",), parse_lines, _json_sniff, fallback=True),
        Format("json", (".json",), parse_document, _json_sniff, fallback=True),
        Format("bibtex", (".bib", ".bibtex"), bibtex.parse, bibtex.sniff),
        Format("ris", (".ris",), ris.parse, ris.sniff),
        Format("csl-json", (".json",), csl_json.parse, csl_json.sniff),
        Format("csv", (".csv", ".tsv"), tabular.parse, tabular.sniff),
        Format("pubmed-xml", (".xml",), pubmed.parse, pubmed.sniff),
        Format("medline", (".nbib", ".medline"), medline.parse, medline.sniff),
        Format("openalex", (".json", ".jsonl"), openalex.parse, openalex.sniff),
        Format(
            "semantic-scholar", (".json", ".jsonl"), semantic_scholar.parse, semantic_scholar.sniff
        ),
        Format("arxiv-atom", (".xml", ".atom"), arxiv_atom.parse, arxiv_atom.sniff),
        Format("pdf", (".pdf",), pdf.parse, pdf.sniff, binary=True),
    )
}
HEAD_BYTES = 8192


def known_suffix(path: Path) -> bool:
    suffix = base_suffix(path)
    return any(suffix in f.suffixes for f in FORMATS.values())


def supported() -> str:
    by_format = (f"{f.name} ({' '.join(f.suffixes)})" for f in FORMATS.values())
    return ", ".join(by_format)


def _head(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            raw = fh.read(HEAD_BYTES)
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rb") as gz:
                raw = gz.read(HEAD_BYTES)
    except IsADirectoryError:
        raise InputError("is a directory, not a file", where=str(path)) from None
    except (OSError, EOFError) as e:
        raise InputError(f"cannot read file: {e}", where=str(path)) from None
    return raw.decode("utf-8", errors="replace").lstrip("\ufeff")


def _identifier_list(head: str) -> bool:
    lines = [line.strip() for line in head.splitlines() if line.strip()][:50]
    ids = [
        line
        for line in lines
        if ARXIV_RE.match(line) or re.match(r"^(doi:|https?://doi\.org/)?10\.\d{4,9}/\S+$", line)
    ]
    return bool(lines) and len(ids) == len(lines)


def detect(path: Path) -> Format:
    """The format of ``path``, by content and extension (see the module docs)."""
    head = _head(path)
    suffix = base_suffix(path)
    matches = [f for f in FORMATS.values() if f.sniff(head)]
    specific = [f for f in matches if not f.fallback]
    candidates = specific or matches
    if len(candidates) > 1:
        by_suffix = [f for f in candidates if suffix in f.suffixes]
        candidates = by_suffix if len(by_suffix) == 1 else candidates
    if len(candidates) == 1:
        return candidates[0]
    if _identifier_list(head):
        raise InputError(
            "looks like a list of identifiers (arXiv ids or DOIs), not papers: export them as "
            "BibTeX or an arXiv/PubMed listing first",
            where=str(path),
        )
    what = f"{suffix!r} file" if suffix else "file"
    if candidates:
        names = " and ".join(f.name for f in candidates)
        raise InputError(f"ambiguous {what}: it could be {names}", where=str(path))
    raise InputError(
        f"unrecognised {what}: its content matches no supported format ({supported()}; "
        "optionally .gz)",
        where=str(path),
    )


def iter_input_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories (the files of a known extension in them); a missing path is an error."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise InputError("no such file or directory", where=str(path))
        if path.is_dir():
            found = sorted(
                f
                for f in path.rglob("*")
                if f.is_file() and known_suffix(f) and not f.name.startswith(".")
            )
            if not found:
                raise InputError(
                    f"directory holds no file of a known format ({supported()})", where=str(path)
                )
            out.extend(found)
        else:
            out.append(path)
    return out


def parse_file(path: Path, max_bytes: int = MAX_INPUT_BYTES) -> Iterator[Item]:
    fmt = detect(path)
    return fmt.parse(path, [] if fmt.binary else read_lines(path, max_bytes))


def parse_paths(
    paths: Iterable[str | Path], *, skip_errors: bool = False, max_bytes: int = MAX_INPUT_BYTES
) -> ParseResult:
    """Parse every record of every file and keep each paper once, or raise on the first bad one.

    A file larger than ``max_bytes`` (after gzip decompression) is an error. With
    ``skip_errors`` a bad record (or an unreadable file) is skipped and reported in
    ``result.skipped`` instead. Listings of one paper (same id, DOI, arXiv id, PMID or title)
    are merged (:mod:`rag.ingest.identity`).
    """
    result = ParseResult()
    merger = Merger()
    for path in iter_input_files(paths):
        try:
            fmt = detect(path)
            result.formats[fmt.name] = result.formats.get(fmt.name, 0) + 1
            for item in fmt.parse(path, [] if fmt.binary else read_lines(path, max_bytes)):
                if isinstance(item, InputError):
                    if not skip_errors:
                        raise item
                    result.skipped.append(str(item))
                    continue
                result.records += 1
                merger.add(item)
        except InputError as e:  # the whole file is unreadable
            if not skip_errors:
                raise
            result.skipped.append(str(e))
    result.papers = merger.papers
    result.duplicates, result.merged = merger.duplicates, merger.merged
    result.warnings = merger.warnings
    return result
