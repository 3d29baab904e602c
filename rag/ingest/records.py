"""What every reader shares: the :class:`~rag.schema.Paper` a record becomes, its id and content
hash, reading a file's lines (gzip and encoding errors named with ``file:line``), and the
:class:`ParseResult` of a whole ingest.

Parsing never writes anything: every file is read and validated before the store is touched, and
every problem is reported as one :class:`~rag.errors.InputError` line naming ``file:line``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rag.errors import InputError
from rag.ingest.fields import arxiv_id as norm_arxiv
from rag.ingest.fields import doi as norm_doi
from rag.ingest.fields import pmid as norm_pmid
from rag.ingest.fields import text_or_none
from rag.schema import Paper, Section
from rag.text import clean_text, split_sentences

# --- cleaning and ids ----------------------------------------------------------------------------


def normalise_title(title: str) -> str:
    """Lower-case alphanumeric words only: what makes two listings of a paper the same paper."""
    return " ".join(re.findall(r"[a-z0-9]+", clean_text(title).lower()))


def paper_id_for_title(title: str) -> str:
    """Stable id of a paper that has none: a hash of its normalised title."""
    return "t" + hashlib.sha1(normalise_title(title).encode()).hexdigest()[:15]


def content_hash(paper: Paper) -> str:
    """Changes when the title, text or bibliographic metadata change: a changed paper replaces
    its chunks (papers without metadata hash as they always did)."""
    meta = paper.model_dump(include=META_FIELDS, exclude_none=True, exclude_defaults=True)
    tail = "\n" + json.dumps(meta, sort_keys=True, ensure_ascii=False) if meta else ""
    return hashlib.sha1(f"{paper.title}\n{paper.text}{tail}".encode()).hexdigest()[:16]


META_FIELDS = {"authors", "year", "venue", "doi", "url", "arxiv_id", "pmid", "extra"}


# --- shared by the readers ---------------------------------------------------------------


@dataclass
class ParseResult:
    papers: list[Paper] = field(default_factory=list)
    records: int = 0
    duplicates: int = 0
    merged: int = 0
    formats: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


#: Largest input file read (after decompression), unless the caller says otherwise.
MAX_INPUT_BYTES = 512 * 2**20


def read_lines(path: Path, max_bytes: int = MAX_INPUT_BYTES) -> list[str]:
    """The file's text lines; a ``.gz`` is inflated piecewise and stops at ``max_bytes``."""
    too_big = f"larger than {max_bytes / 2**20:g} MiB (raise RAG_MAX_INPUT_MB to read it)"
    try:
        if path.stat().st_size > max_bytes:
            raise InputError(too_big, where=str(path))
        raw = _gunzip(path, max_bytes, too_big) if path.suffix == ".gz" else path.read_bytes()
    except IsADirectoryError:
        raise InputError("is a directory, not a file", where=str(path)) from None
    except OSError as e:
        raise InputError(f"cannot read file: {e.strerror or e}", where=str(path)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(
            f"not UTF-8 text (byte 0x{raw[e.start]:02x})", where=f"{path}:{line}"
        ) from None
    return text.splitlines()


def _gunzip(path: Path, max_bytes: int, too_big: str) -> bytearray:
    out = bytearray()
    try:
        with gzip.open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                out += block
                if len(out) > max_bytes:
                    raise InputError(f"decompresses to {too_big}", where=str(path))
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise InputError(f"not a valid gzip file: {e}", where=str(path)) from None
    return out  # not copied: the decoded text is the one other full-size copy


def base_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


Item = Paper | InputError  # parsers yield bad records as errors so that a caller may skip them


def guard(path: Path, line: int, make: Any, *args: Any) -> Item:
    try:
        paper: Paper = make(path, line, *args)
        return paper
    except InputError as e:
        return e
    except (ValidationError, OverflowError, RecursionError) as e:  # a value no field can hold
        return InputError(f"invalid record ({type(e).__name__})", where=f"{path}:{line}")


def make_paper(
    path: Path,
    line: int,
    *,
    title: Any,
    abstract: Any,
    given_id: Any,
    extra: dict[str, Any],
    title_only: bool = False,
    sections: list[Section] | None = None,
) -> Paper:
    """A validated :class:`Paper`. ``extra`` holds the optional fields (authors, year, date,
    url, doi, venue, arxiv_id, pmid, and ``meta``: other fields kept as strings). With
    ``title_only`` a record without an abstract is kept as a title-only paper."""
    where = f"{path}:{line}"
    if not isinstance(title, str) or not clean_text(title):
        raise InputError("field 'title' is missing or empty", where=where)
    sentences = _sentences(abstract, where, title_only or bool(sections))
    title = clean_text(title)
    if given_id is not None and not isinstance(given_id, (str, int)):
        raise InputError("field 'id' must be a string or an integer", where=where)
    year = check_year(extra.get("year"), where)
    for name in ("url", "date", "venue"):
        if extra.get(name) is not None and not isinstance(extra.get(name), str):
            shown = type(extra.get(name)).__name__
            raise InputError(f"field {name!r} must be a string, not {shown}", where=where)
    for name in ("doi", "arxiv_id", "pmid"):
        value = extra.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
            raise InputError(f"field {name!r} must be a string", where=where)
    authors = extra.get("authors") or []
    if isinstance(authors, str):
        authors = [a.strip() for a in re.split(r";|,| and ", authors) if a.strip()]
    if not isinstance(authors, list) or not all(isinstance(a, str) for a in authors):
        raise InputError("field 'authors' must be a string or a list of strings", where=where)
    ids = {
        "doi": norm_doi(extra.get("doi")),
        "arxiv_id": norm_arxiv(extra.get("arxiv_id")),
        "pmid": norm_pmid(extra.get("pmid")),
    }
    paper_id = str(given_id).strip() if given_id is not None else identity_id(title, **ids)
    if not paper_id:
        raise InputError("field 'id' is empty", where=where)
    meta = {str(k): str(v) for k, v in (extra.get("meta") or {}).items() if v not in (None, "")}
    try:
        return Paper(
            paper_id=paper_id,
            title=title,
            abstract=sentences,
            source=path.name,
            location=where,
            date=text_or_none(extra.get("date")),
            year=year,
            authors=[str(a) for a in authors],
            url=text_or_none(extra.get("url")),
            venue=text_or_none(extra.get("venue")),
            sections=sections or [],
            extra=meta,
            doi=ids["doi"],
            arxiv_id=ids["arxiv_id"],
            pmid=ids["pmid"],
        )
    except ValidationError as e:
        fields = ", ".join(str(err["loc"][0]) for err in e.errors() if err.get("loc"))
        raise InputError(f"invalid field(s) {fields or '?'}", where=where) from None


#: The years a paper may carry: anything outside is a typo or garbage, not a publication year.
YEAR_RANGE = (1000, 2999)


def check_year(value: Any, where: str) -> int | None:
    """A whole year from an int, a whole float or a digit string; anything else (a bool, 2023.7,
    1e400, a 20-digit number) is an :class:`InputError` naming ``where``."""
    if value is None or value == "":
        return None
    year: int | None = None
    whole_float = isinstance(value, float) and math.isfinite(value) and value.is_integer()
    if isinstance(value, int) and not isinstance(value, bool):
        year = value
    elif whole_float or (isinstance(value, str) and re.fullmatch(r"\s*\d{1,4}\s*", value)):
        year = int(value)
    if year is None or not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise InputError(f"field 'year' is not a year: {shown}", where=where)
    return year


def identity_id(
    title: str, *, doi: str | None = None, arxiv_id: str | None = None, pmid: str | None = None
) -> str:
    """The id of a paper without a given one: its DOI, arXiv id or PMID, else a title hash."""
    if doi:
        return f"doi:{doi}"
    if arxiv_id:
        return f"arxiv:{arxiv_id}"
    if pmid:
        return f"pmid:{pmid}"
    return paper_id_for_title(title)


def _sentences(abstract: Any, where: str, optional: bool) -> list[str]:
    if isinstance(abstract, list):
        if not all(isinstance(s, str) for s in abstract):
            raise InputError("field 'abstract' must be a string or a list of strings", where=where)
        sentences = [clean_text(s) for s in abstract]
        sentences = [s for s in sentences if s]
    elif isinstance(abstract, str):
        sentences = split_sentences(clean_text(abstract))
    elif abstract is None:
        if optional:
            return []
        raise InputError("field 'abstract' (or 'text') is missing", where=where)
    else:
        raise InputError("field 'abstract' must be a string or a list of strings", where=where)
    if not sentences and not optional:
        raise InputError("field 'abstract' is empty", where=where)
    return sentences
