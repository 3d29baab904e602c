"""Semantic Scholar papers (``.json``/``.jsonl``), as the Graph API returns them: ``paperId``,
``title``, ``abstract``, ``year``, ``authors`` (``name``), ``venue``/``journal``,
``externalIds`` (``DOI``, ``ArXiv``, ``PubMed``), ``url``; one paper, a ``{"data": [...]}`` page,
or one per line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.ingest.fields import person
from rag.ingest.json_records import map_records
from rag.ingest.records import Item, make_paper
from rag.schema import Paper


def sniff(head: str) -> bool:
    return bool(re.search(r'"(paperId|externalIds)"\s*:', head))


def parse(path: Path, lines: list[str]) -> Iterator[Item]:
    return map_records(path, lines, _paper)


def _paper(path: Path, line: int, obj: Any) -> Paper:
    if not isinstance(obj, dict):
        raise InputError("Semantic Scholar paper is not a JSON object", where=f"{path}:{line}")
    ext: dict[str, Any] = obj["externalIds"] if isinstance(obj.get("externalIds"), dict) else {}
    journal: dict[str, Any] = obj["journal"] if isinstance(obj.get("journal"), dict) else {}
    authors = [
        person(str(a["name"]))
        for a in obj.get("authors") or []
        if isinstance(a, dict) and a.get("name")
    ]
    return make_paper(
        path,
        line,
        title=obj.get("title"),
        abstract=obj.get("abstract") or None,
        given_id=None,
        title_only=True,
        extra={
            "authors": authors,
            "year": obj.get("year"),
            "date": obj.get("publicationDate"),
            "venue": obj.get("venue") or journal.get("name"),
            "doi": ext.get("DOI"),
            "url": obj.get("url"),
            "arxiv_id": ext.get("ArXiv"),
            "pmid": ext.get("PubMed"),
            "meta": {"s2": str(obj.get("paperId", ""))},
        },
    )
