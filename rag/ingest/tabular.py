"""CSV and TSV tables with a header row (``.csv``, ``.tsv``), e.g. Zotero, Scopus or Web of
Science exports, or a spreadsheet. Common column names are mapped (case and punctuation
ignored: "Title", "Article Title", "Abstract Note", "Author(s)", "Publication Year", "Source
title", "DOI", "Url"...); every other column is kept in the paper's ``extra`` metadata."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

from rag.errors import InputError
from rag.ingest.fields import arxiv_id, person, year
from rag.ingest.records import Item, guard, make_paper
from rag.schema import Paper

COLUMNS: dict[str, tuple[str, ...]] = {
    "title": ("title", "articletitle", "documenttitle", "papertitle", "ti"),
    "abstract": ("abstract", "abstractnote", "summary", "ab"),
    "authors": ("authors", "author", "authorfullnames", "authorsfullnames", "au", "af"),
    "year": ("year", "publicationyear", "pubyear", "py", "date", "publicationdate"),
    "venue": ("venue", "journal", "sourcetitle", "publicationtitle", "booktitle", "so", "source"),
    "doi": ("doi", "di"),
    "url": ("url", "link", "ur"),
    "arxiv_id": ("arxiv", "arxivid", "eprint"),
    "pmid": ("pmid", "pubmedid"),
}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def sniff(head: str) -> bool:
    first = head.lstrip("\ufeff").split("\n", 1)[0]
    cells = {_key(c) for c in re.split(r"[,\t;]", first)}
    return bool(cells & set(COLUMNS["title"])) and len(cells) > 1


def parse(path: Path, lines: list[str]) -> Iterator[Item]:
    if not lines or not lines[0].strip():
        raise InputError("empty table: expected a header row", where=f"{path}:1")
    header = lines[0].lstrip("\ufeff")
    if ".tsv" in [s.lower() for s in path.suffixes]:
        delimiter = "\t"
    else:
        delimiter = max(",\t;", key=header.count)
    # csv needs the raw text: a quoted cell may span lines (multi-line abstracts).
    reader = csv.reader(io.StringIO("\n".join([header, *lines[1:]])), delimiter=delimiter)
    try:
        rows = list(reader)
    except csv.Error as e:
        raise InputError(f"malformed table: {e}", where=f"{path}:{reader.line_num}") from None
    names = [c.strip() for c in rows[0]]
    mapped: dict[str, int] = {}
    for field, aliases in COLUMNS.items():
        for i, name in enumerate(names):
            if _key(name) in aliases and field not in mapped and i not in mapped.values():
                mapped[field] = i
    if "title" not in mapped:
        raise InputError(
            f"no title column in the header (columns: {', '.join(names[:12])})", where=f"{path}:1"
        )
    line = 2
    for row in rows[1:]:
        start, line = line, line + sum(cell.count("\n") for cell in row) + 1
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            yield InputError(
                f"row has {len(row)} cells but the header has {len(names)}", where=f"{path}:{start}"
            )
            continue
        yield guard(path, start, _row_paper, names, mapped, row)


def _authors(cell: str) -> list[str]:
    if ";" in cell:
        parts = cell.split(";")
    elif " and " in cell:
        parts = cell.split(" and ")
    else:
        parts = [cell]
    return [person(p) for p in parts if p.strip()]


def _row_paper(
    path: Path, line: int, names: list[str], mapped: dict[str, int], row: list[str]
) -> Paper:
    def get(field: str) -> str | None:
        i = mapped.get(field)
        return row[i].strip() or None if i is not None else None

    used = set(mapped.values())
    meta = {names[i]: row[i].strip() for i in range(len(names)) if i not in used and row[i].strip()}
    url = get("url")
    return make_paper(
        path,
        line,
        title=get("title"),
        abstract=get("abstract"),
        given_id=None,
        title_only=True,
        extra={
            "authors": _authors(get("authors") or ""),
            "year": year(get("year")),
            "venue": get("venue"),
            "doi": get("doi"),
            "url": url,
            "arxiv_id": get("arxiv_id") or arxiv_id(url),
            "pmid": get("pmid"),
            "meta": meta,
        },
    )
