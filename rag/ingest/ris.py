"""RIS (``.ris``), as EndNote, Zotero, Mendeley and most publishers write it: ``TY`` ... ``ER``
records with ``TI``/``T1``, ``AB``/``N2``, ``AU``/``A1``, ``PY``/``Y1``/``DA``, ``T2``/``JO``/
``JF``, ``DO``, ``UR``. Parsed with rispy; each record's line is the line of its ``TY`` tag."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.ingest.fields import arxiv_id, person, text_or_none, year
from rag.ingest.records import Item, guard, make_paper
from rag.schema import Paper

_TY_RE = re.compile(r"^TY  - ", re.MULTILINE)


def sniff(head: str) -> bool:
    return bool(re.search(r"^TY  - \S", head.lstrip("\ufeff"), re.MULTILINE))


def parse(path: Path, lines: list[str]) -> Iterator[Item]:
    import rispy

    text = "\n".join(lines)
    starts = [n + 1 for n, line in enumerate(lines) if line.startswith("TY  -")]
    if not starts:
        raise InputError("no RIS records (TY  - ...) found", where=f"{path}:1")
    ends = sum(1 for line in lines if re.match(r"^ER  -", line))
    if ends < len(starts):
        raise InputError(
            "RIS record without its closing 'ER  -' line", where=f"{path}:{starts[-1]}"
        )
    try:
        records: list[dict[str, Any]] = rispy.loads(text)
    except Exception as e:
        raise InputError(f"cannot parse RIS: {e}", where=f"{path}:1") from None
    if len(records) != len(starts):
        raise InputError(
            f"found {len(starts)} TY lines but {len(records)} records", where=f"{path}:1"
        )
    for line, rec in zip(starts, records, strict=True):
        yield guard(path, line, _record_paper, rec)


def _first(rec: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = rec.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value not in (None, ""):
            return value
    return None


def _record_paper(path: Path, line: int, rec: dict[str, Any]) -> Paper:
    authors = [person(a) for a in [*rec.get("authors", []), *rec.get("first_authors", [])]]
    urls = [u for u in rec.get("urls", []) if u]
    arxiv = next((a for u in urls if (a := arxiv_id(u))), None)
    meta = {
        k: "; ".join(map(str, v)) if isinstance(v, list) else str(v)
        for k, v in rec.items()
        if k in ("type_of_reference", "keywords", "volume", "number", "start_page", "publisher")
    }
    return make_paper(
        path,
        line,
        title=text_or_none(_first(rec, "title", "primary_title")),
        abstract=text_or_none(_first(rec, "abstract", "notes_abstract")),
        given_id=None,
        title_only=True,
        extra={
            "authors": list(dict.fromkeys(a for a in authors if a)),
            "year": year(_first(rec, "year", "publication_year", "date")),
            "venue": _first(rec, "secondary_title", "journal_name", "alternate_title3"),
            "doi": _first(rec, "doi"),
            "url": urls[0] if urls else None,
            "arxiv_id": arxiv,
            "meta": meta,
        },
    )
