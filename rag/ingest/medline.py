"""MEDLINE/PubMed text (``.nbib``, ``.medline``): records of ``TAG - value`` lines (values
continue on lines indented by six spaces), separated by blank lines: ``PMID``, ``TI``, ``AB``,
``FAU``/``AU``, ``DP``, ``JT``/``TA``, ``LID``/``AID`` (``10.1/x [doi]``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from rag.errors import InputError
from rag.ingest.fields import year
from rag.ingest.records import Item, guard, make_paper
from rag.schema import Paper

_TAG_RE = re.compile(r"^([A-Z][A-Z0-9]{0,3})\s*- (.*)$")


def sniff(head: str) -> bool:
    return bool(re.search(r"^PMID- ?\d+", head.lstrip("\ufeff"), re.MULTILINE))


def parse(path: Path, lines: list[str]) -> Iterator[Item]:
    record: dict[str, list[str]] = {}
    start, last = 0, ""
    found = False
    for n, raw in enumerate([*lines, ""], start=1):
        if not raw.strip():
            if record:
                found = True
                yield guard(path, start, _record_paper, record)
            record, last = {}, ""
            continue
        m = _TAG_RE.match(raw)
        if m:
            if not record:
                start = n
            last = m.group(1)
            record.setdefault(last, []).append(m.group(2).strip())
        elif raw.startswith(" ") and last:
            record[last][-1] += " " + raw.strip()
        else:
            yield InputError(
                "expected 'TAG - value' or an indented continuation", where=f"{path}:{n}"
            )
    if not found:
        raise InputError("no MEDLINE records (PMID- ...) found", where=f"{path}:1")


def _one(record: dict[str, list[str]], *tags: str) -> str | None:
    return next((record[t][0] for t in tags if record.get(t)), None)


def _record_paper(path: Path, line: int, record: dict[str, list[str]]) -> Paper:
    ids = record.get("LID", []) + record.get("AID", [])
    doi = next((i.split()[0] for i in ids if i.endswith("[doi]")), None)
    pmid = _one(record, "PMID")
    return make_paper(
        path,
        line,
        title=(_one(record, "TI") or "").rstrip(".") or None,
        abstract=_one(record, "AB"),
        given_id=None,
        title_only=True,
        extra={
            "authors": record.get("FAU") or record.get("AU") or [],
            "year": year(_one(record, "DP")),
            "venue": _one(record, "JT", "TA"),
            "doi": doi,
            "url": f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" if pmid else None,
            "pmid": pmid,
        },
    )
