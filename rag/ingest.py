"""Parse input files into :class:`~rag.schema.Paper` records.

Two formats:

* Daily Papers dumps (``.txt``): a few header lines, then blocks of title line, blank line,
  abstract paragraph on one line, blank line (see the bundled ``rag/data/seeds``).
* JSON / JSONL, optionally gzipped: one object per record with the common field names
  (``id``/``doc_id``/``_id``, ``title``, ``abstract`` or ``text`` as a string or a list of
  sentences, optional ``authors``, ``year``, ``url``, ``doi``).

Parsing never writes anything: every file is read and validated before the store is touched, and
every problem is reported as one :class:`~rag.errors.InputError` line naming ``file:line``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.schema import Paper

HEADER_LINES = {
    "new",
    "get trending papers in your email inbox!",
    "subscribe",
    "daily papers",
    "byak and the research community",
}
MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec"
DATE_RE = re.compile(rf"^(?:{MONTHS})[a-z]*\.? \d{{1,2}}(?:, \d{{4}})?$", re.IGNORECASE)
LATEX_CMD_RE = re.compile(
    r"\\?\b(?:texttt|textbf|textit|textsc|textrm|textsf|emph|mathrm|mathbf|mathcal|mathit|"
    r"mathsf|mathbb|boldsymbol|text|underline)\{([^{}]*)\}"
)
ID_FIELDS = ("id", "doc_id", "_id", "paper_id")
TEXT_FIELDS = ("abstract", "text")

# --- sentences -------------------------------------------------------------------------------

_ABBREVIATIONS = frozenset((
    "e.g.", "i.e.", "et al.", "vs.", "fig.", "figs.", "eq.", "eqs.", "approx.", "resp.", "cf.",
    "no.", "dr.", "mr.", "ms.", "prof.", "sec.", "tab.", "ref.", "refs.", "ca.", "viz.", "al.",
))  # fmt: skip
# "tasks.While": a sentence glued to the next with no space (seen in the Daily Papers dumps).
_GLUED_RE = re.compile(r"(?<=[a-z\)\]%][a-z\)\]%])([.!?])(?=[A-Z][a-z])")
_SPLIT_RE = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Split an abstract into sentences; handles glued sentences and common abbreviations."""
    text = " ".join(text.split())
    if not text:
        return []
    text = _GLUED_RE.sub(r"\1 ", text)
    pieces: list[str] = []
    start = 0
    for m in _SPLIT_RE.finditer(text):
        candidate = text[start : m.start()].rstrip()
        last_word = candidate.rsplit(" ", 1)[-1].lower().lstrip("([\"'")
        if last_word in _ABBREVIATIONS or re.fullmatch(r"[a-z]\.", last_word):
            continue  # "et al. The", "e.g. Foo", initials: not a sentence end
        pieces.append(text[start : m.end()].strip())
        start = m.end()
    pieces.append(text[start:].strip())
    return [p for p in pieces if p]


# --- cleaning and ids ----------------------------------------------------------------------------


def clean_text(text: str) -> str:
    """Normalise unicode and whitespace; strip LaTeX residue such as ``texttt{D}ual``."""
    text = unicodedata.normalize("NFKC", text)
    prev = None
    while prev != text:  # nested commands
        prev, text = text, LATEX_CMD_RE.sub(r"\1", text)
    return " ".join(text.split())


def normalise_title(title: str) -> str:
    """Lower-case alphanumeric words only: what makes two listings of a paper the same paper."""
    return " ".join(re.findall(r"[a-z0-9]+", clean_text(title).lower()))


def paper_id_for_title(title: str) -> str:
    """Stable id of a paper that has none: a hash of its normalised title."""
    return "t" + hashlib.sha1(normalise_title(title).encode()).hexdigest()[:15]


def content_hash(paper: Paper) -> str:
    """Changes when the title or abstract changes: a changed abstract replaces its chunks."""
    return hashlib.sha1(f"{paper.title}\n{paper.text}".encode()).hexdigest()[:16]


# --- readers -----------------------------------------------------------------------------------


@dataclass
class ParseResult:
    papers: list[Paper] = field(default_factory=list)
    records: int = 0
    duplicates: int = 0
    skipped: list[str] = field(default_factory=list)


def _read_lines(path: Path) -> list[str]:
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise InputError("is a directory, not a file", where=str(path)) from None
    except OSError as e:
        raise InputError(f"cannot read file: {e.strerror or e}", where=str(path)) from None
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise InputError(f"not a valid gzip file: {e}", where=str(path)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(
            f"not UTF-8 text (byte 0x{raw[e.start]:02x})", where=f"{path}:{line}"
        ) from None
    return text.splitlines()


def _base_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


Item = Paper | InputError  # parsers yield bad records as errors so that a caller may skip them


def _guard(path: Path, line: int, make: Any, *args: Any) -> Item:
    try:
        paper: Paper = make(path, line, *args)
        return paper
    except InputError as e:
        return e


def parse_daily_papers(path: Path, lines: list[str]) -> Iterator[Item]:
    """Yield papers from a Daily Papers dump (header lines skipped, listing date kept)."""
    date: str | None = None
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.lower() in HEADER_LINES:
            i += 1
        elif DATE_RE.match(stripped):
            date = stripped
            i += 1
        else:
            break
    content = [(n + 1, line.strip()) for n, line in enumerate(lines) if n >= i and line.strip()]
    if not content:
        raise InputError("no title/abstract blocks found", where=str(path))
    for j in range(0, len(content), 2):
        title_line, title = content[j]
        if j + 1 >= len(content):
            raise InputError(
                f"title {title[:60]!r} has no abstract after it", where=f"{path}:{title_line}"
            )
        abstract_line, abstract = content[j + 1]
        if abstract_line > title_line + 2 and any(
            lines[k].strip() for k in range(title_line, abstract_line - 1)
        ):
            raise InputError("expected a blank line after the title", where=f"{path}:{title_line}")
        yield _guard(path, title_line, _dp_paper, title, abstract, date)


def _dp_paper(path: Path, line: int, title: str, abstract: str, date: str | None) -> Paper:
    return _make_paper(
        path, line, title=title, abstract=abstract, given_id=None, extra={"date": date}
    )


def _make_paper(
    path: Path,
    line: int,
    *,
    title: Any,
    abstract: Any,
    given_id: Any,
    extra: dict[str, Any],
) -> Paper:
    where = f"{path}:{line}"
    if not isinstance(title, str) or not clean_text(title):
        raise InputError("field 'title' is missing or empty", where=where)
    if isinstance(abstract, list):
        if not all(isinstance(s, str) for s in abstract):
            raise InputError("field 'abstract' must be a string or a list of strings", where=where)
        sentences = [clean_text(s) for s in abstract]
        sentences = [s for s in sentences if s]
    elif isinstance(abstract, str):
        sentences = split_sentences(clean_text(abstract))
    elif abstract is None:
        raise InputError("field 'abstract' (or 'text') is missing", where=where)
    else:
        raise InputError("field 'abstract' must be a string or a list of strings", where=where)
    if not sentences:
        raise InputError("field 'abstract' is empty", where=where)
    title = clean_text(title)
    if given_id is not None and not isinstance(given_id, (str, int)):
        raise InputError("field 'id' must be a string or an integer", where=where)
    paper_id = str(given_id).strip() if given_id is not None else paper_id_for_title(title)
    if not paper_id:
        raise InputError("field 'id' is empty", where=where)
    year = extra.get("year")
    if year is not None:
        try:
            year = int(year)
        except (TypeError, ValueError):
            raise InputError(f"field 'year' is not a year: {year!r}", where=where) from None
    authors = extra.get("authors") or []
    if isinstance(authors, str):
        authors = [a.strip() for a in re.split(r";|,| and ", authors) if a.strip()]
    return Paper(
        paper_id=paper_id,
        title=title,
        abstract=sentences,
        source=path.name,
        location=where,
        date=extra.get("date"),
        year=year,
        authors=[str(a) for a in authors],
        url=extra.get("url"),
        doi=extra.get("doi"),
    )


def _record_to_paper(path: Path, line: int, obj: Any) -> Paper:
    if not isinstance(obj, dict):
        raise InputError("record is not a JSON object", where=f"{path}:{line}")
    given_id = next((obj[f] for f in ID_FIELDS if obj.get(f) not in (None, "")), None)
    abstract = next((obj[f] for f in TEXT_FIELDS if f in obj), None)
    extra = {k: obj.get(k) for k in ("authors", "year", "url", "doi", "date")}
    return _make_paper(
        path, line, title=obj.get("title"), abstract=abstract, given_id=given_id, extra=extra
    )


def parse_jsonl(path: Path, lines: list[str]) -> Iterator[Item]:
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield InputError(f"malformed JSON: {e.msg}", where=f"{path}:{n}")
            continue
        yield _guard(path, n, _record_to_paper, obj)


def parse_json(path: Path, lines: list[str]) -> Iterator[Item]:
    text = "\n".join(lines)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"malformed JSON: {e.msg}", where=f"{path}:{e.lineno}") from None
    if isinstance(data, dict):
        for key in ("papers", "documents", "records", "data"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            data = [data]
    if not isinstance(data, list):
        raise InputError("expected a list of records", where=f"{path}:1")
    # A JSON array has no per-record line; find each record's line by its opening brace.
    starts = [n + 1 for n, line in enumerate(lines) if line.lstrip().startswith(("{", "[{"))]
    for idx, obj in enumerate(data):
        line = starts[idx] if len(starts) == len(data) else 1
        yield _guard(path, line, _record_to_paper, obj)


def iter_input_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories (their .txt/.json/.jsonl[.gz] files); a missing path is an error."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise InputError("no such file or directory", where=str(path))
        if path.is_dir():
            found = sorted(f for f in path.rglob("*") if f.is_file() and _base_suffix(f) in FORMATS)
            if not found:
                raise InputError("directory holds no .txt, .json or .jsonl files", where=str(path))
            out.extend(found)
        else:
            out.append(path)
    return out


FORMATS = {".txt": parse_daily_papers, ".jsonl": parse_jsonl, ".json": parse_json}


def parse_file(path: Path) -> Iterator[Item]:
    suffix = _base_suffix(path)
    parser = FORMATS.get(suffix)
    if parser is None:
        raise InputError(
            f"unknown format {suffix or '(no extension)'!r}: expected .txt (Daily Papers), "
            ".json or .jsonl, optionally .gz",
            where=str(path),
        )
    return parser(path, _read_lines(path))


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


def bundled_seed_dir() -> Path:
    """The Daily Papers dumps shipped inside the package: the starting library."""
    return Path(__file__).parent / "data" / "seeds"
