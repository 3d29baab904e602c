"""OpenAlex works (``.json``/``.jsonl``): one work, a ``{"results": [...]}`` page of the API, or
one work per line (snapshots). The abstract is rebuilt from ``abstract_inverted_index``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.ingest.fields import arxiv_id, person, pmid
from rag.ingest.json_records import map_records
from rag.ingest.records import Item, make_paper
from rag.schema import Paper


def sniff(head: str) -> bool:
    return bool(re.search(r'"(abstract_inverted_index|authorships)"\s*:|openalex\.org/W', head))


def parse(path: Path, lines: list[str]) -> Iterator[Item]:
    return map_records(path, lines, _work_paper)


def abstract_from_index(index: Any) -> str | None:
    """The abstract text of an ``abstract_inverted_index`` (word -> positions)."""
    if not isinstance(index, dict) or not index:
        return None
    words: dict[int, str] = {}
    for word, positions in index.items():
        for pos in positions if isinstance(positions, list) else []:
            if isinstance(pos, int):
                words[pos] = str(word)
    return " ".join(words[i] for i in sorted(words)) or None


def _venue(work: dict[str, Any]) -> str | None:
    for key in ("primary_location", "host_venue"):
        loc = work.get(key)
        if isinstance(loc, dict):
            source = loc.get("source") if "source" in loc else loc
            if isinstance(source, dict) and source.get("display_name"):
                return str(source["display_name"])
    return None


def _work_paper(path: Path, line: int, work: Any) -> Paper:
    if not isinstance(work, dict):
        raise InputError("OpenAlex work is not a JSON object", where=f"{path}:{line}")
    ids: dict[str, Any] = work["ids"] if isinstance(work.get("ids"), dict) else {}
    authors = [
        person(str(a["author"]["display_name"]))
        for a in work.get("authorships") or []
        if isinstance(a, dict)
        and isinstance(a.get("author"), dict)
        and a["author"].get("display_name")
    ]
    urls = [
        str(loc.get("landing_page_url") or "")
        for loc in work.get("locations") or []
        if isinstance(loc, dict)
    ]
    arxiv = next((a for u in urls if (a := arxiv_id(u))), None)
    return make_paper(
        path,
        line,
        title=work.get("title") or work.get("display_name"),
        abstract=abstract_from_index(work.get("abstract_inverted_index")),
        given_id=None,
        title_only=True,
        extra={
            "authors": authors,
            "year": work.get("publication_year"),
            "date": work.get("publication_date"),
            "venue": _venue(work),
            "doi": work.get("doi") or ids.get("doi"),
            "url": next((u for u in urls if u), None) or work.get("id"),
            "arxiv_id": arxiv,
            "pmid": pmid(ids.get("pmid")) if ids.get("pmid") else None,
            "meta": {"openalex": str(work.get("id", ""))},
        },
    )
