"""CSL-JSON (``.json``), as Zotero and Better BibTeX export it: a list of items with ``title``,
``author`` (``family``/``given`` or ``literal``), ``issued`` (``date-parts`` or ``raw``),
``container-title``, ``DOI``, ``URL``, ``PMID``, ``abstract`` (Crossref's JATS markup removed)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.ingest.fields import arxiv_id, text_or_none, year
from rag.ingest.json_records import map_records
from rag.ingest.records import Item, make_paper
from rag.schema import Paper


def sniff(head: str) -> bool:
    return bool(
        re.search(r'"(issued|container-title|citation-key)"\s*:', head)
        or re.search(r'"author"\s*:\s*\[\s*\{\s*"(family|given|literal)"', head)
    )


def parse(path: Path, lines: list[str]) -> Iterator[Item]:
    return map_records(path, lines, _item_paper)


def _name(a: Any) -> str:
    if not isinstance(a, dict):
        return str(a)
    if a.get("literal"):
        return str(a["literal"])
    family = " ".join(str(a[k]) for k in ("non-dropping-particle", "family") if a.get(k))
    return f"{family}, {a['given']}" if a.get("given") else family


def _year(issued: Any) -> int | None:
    if isinstance(issued, dict):
        parts = issued.get("date-parts")
        if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
            return year(parts[0][0])
        return year(issued.get("raw") or issued.get("literal"))
    return year(issued)


def _plain(text: str | None) -> str | None:
    """An abstract without the JATS/HTML markup Crossref's CSL-JSON wraps it in."""
    if text is None or "<" not in text:
        return text
    return re.sub(r"</?(?:jats:)?[a-zA-Z][\w-]*(?:\s[^<>]*)?>", " ", text).strip() or None


def _item_paper(path: Path, line: int, item: Any) -> Paper:
    if not isinstance(item, dict):
        raise InputError("CSL item is not a JSON object", where=f"{path}:{line}")
    authors = item.get("author") or []
    if not isinstance(authors, list):
        raise InputError("field 'author' must be a list", where=f"{path}:{line}")
    url = text_or_none(item.get("URL"))
    arxiv = arxiv_id(url) or arxiv_id(item.get("number")) if url or item.get("number") else None
    if not arxiv and "arxiv" in str(item.get("note", "")).lower():
        m = re.search(r"arxiv:\s*(\S+)", str(item["note"]), re.IGNORECASE)
        arxiv = arxiv_id(m.group(1)) if m else None
    meta = {
        k: str(item[k])
        for k in ("id", "citation-key", "type", "volume", "issue", "page", "publisher")
        if item.get(k)
    }
    return make_paper(
        path,
        line,
        title=item.get("title"),
        abstract=_plain(text_or_none(item.get("abstract"))),
        given_id=None,
        title_only=True,
        extra={
            "authors": [n for n in (_name(a) for a in authors) if n],
            "year": _year(item.get("issued")),
            "venue": item.get("container-title") or item.get("event-title"),
            "doi": item.get("DOI"),
            "url": url,
            "arxiv_id": arxiv,
            "pmid": item.get("PMID"),
            "meta": meta,
        },
    )
