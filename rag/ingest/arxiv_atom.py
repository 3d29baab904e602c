"""arXiv API responses (Atom XML, ``export.arxiv.org/api/query``): one ``<entry>`` per paper
with ``id`` (abs URL), ``title``, ``summary``, ``author/name``, ``published``, and the
``arxiv:doi`` and ``arxiv:journal_ref`` extensions."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from rag.errors import InputError
from rag.ingest.fields import arxiv_id, person, year
from rag.ingest.records import Item, guard, make_paper
from rag.ingest.xml_util import parse_xml, record_lines, text_of
from rag.schema import Paper

NS = {"a": "http://www.w3.org/2005/Atom", "arxiv": "http://arxiv.org/schemas/atom"}


def sniff(head: str) -> bool:
    return "http://www.w3.org/2005/Atom" in head and "arxiv" in head.lower()


def parse(path: Path, lines: list[str]) -> Iterator[Item]:
    root = parse_xml(path, lines)
    entries = root.findall("a:entry", NS)
    if not entries:
        raise InputError("no arXiv <entry> records found", where=f"{path}:1")
    for line, entry in zip(record_lines(lines, "entry", len(entries)), entries, strict=True):
        yield guard(path, line, _entry_paper, entry)


def _entry_paper(path: Path, line: int, entry: ET.Element) -> Paper:
    abs_url = text_of(entry.find("a:id", NS))
    if "api/errors" in abs_url:
        raise InputError(
            f"arXiv API error: {text_of(entry.find('a:summary', NS))}", where=f"{path}:{line}"
        )
    return make_paper(
        path,
        line,
        title=text_of(entry.find("a:title", NS)) or None,
        abstract=text_of(entry.find("a:summary", NS)) or None,
        given_id=None,
        title_only=True,
        extra={
            "authors": [person(text_of(a)) for a in entry.findall("a:author/a:name", NS)],
            "year": year(text_of(entry.find("a:published", NS))),
            "date": text_of(entry.find("a:published", NS))[:10] or None,
            "venue": text_of(entry.find("arxiv:journal_ref", NS)) or "arXiv",
            "doi": text_of(entry.find("arxiv:doi", NS)) or None,
            "url": abs_url or None,
            "arxiv_id": arxiv_id(abs_url),
        },
    )
