"""BibTeX and BibLaTeX (``.bib``), as Zotero, Better BibTeX, Mendeley and JabRef write them:
``@string`` macros, LaTeX accents and braces, multi-line abstracts, ``date`` or ``year``,
``journal``/``journaltitle``/``booktitle``, ``doi``, ``url``, ``eprint`` (arXiv), ``pmid``.

Parsed with bibtexparser 1.x, which skips an entry it cannot parse without a word: every
``@entry`` of the file is therefore counted first, and one the parser lost is reported as an
error at its line, never dropped silently."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.ingest.fields import latex_to_text, person, year
from rag.ingest.records import Item, guard, make_paper
from rag.schema import Paper

_ENTRY_RE = re.compile(r"^[ \t]*@([A-Za-z]+)[ \t]*[{(][ \t]*([^,\s{}()]*)", re.MULTILINE)
_NOT_ENTRIES = {"string", "comment", "preamble"}
KEPT = ("keywords", "volume", "number", "pages", "publisher", "note", "issn", "isbn")


def sniff(head: str) -> bool:
    return bool(re.search(r"^[ \t]*@(?!comment)[A-Za-z]+[ \t]*[{(]", head, re.MULTILINE))


def parse(path: Path, lines: list[str]) -> Iterator[Item]:
    import bibtexparser
    from bibtexparser.bparser import BibTexParser

    text = "\n".join(lines)
    starts = [
        (text.count("\n", 0, m.start()) + 1, m.group(2))
        for m in _ENTRY_RE.finditer(text)
        if m.group(1).lower() not in _NOT_ENTRIES
    ]
    if not starts:
        raise InputError("no BibTeX entries (@article{...}) found", where=f"{path}:1")
    parser = BibTexParser(
        common_strings=True, ignore_nonstandard_types=False, interpolate_strings=True
    )
    try:
        entries: list[dict[str, Any]] = bibtexparser.loads(text, parser).entries
    except Exception as e:  # pyparsing errors name no line we can trust
        raise InputError(f"cannot parse BibTeX: {e}", where=f"{path}:1") from None
    j = 0
    for line, key in starts:
        if j < len(entries) and entries[j].get("ID") == key:
            yield guard(path, line, _entry_paper, entries[j])
            j += 1
        else:
            yield InputError(
                f"cannot parse BibTeX entry {key!r} (unbalanced braces or a missing comma?)",
                where=f"{path}:{line}",
            )


def _field(entry: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = entry.get(name)
        if value and str(value).strip():
            return latex_to_text(str(value))
    return None


def _entry_paper(path: Path, line: int, entry: dict[str, Any]) -> Paper:
    eprint_type = (_field(entry, "archiveprefix", "eprinttype") or "").lower()
    arxiv = _field(entry, "eprint") if eprint_type in ("", "arxiv") else None
    if not arxiv and "arxiv" in (_field(entry, "journal", "journaltitle") or "").lower():
        arxiv = _field(entry, "journal", "journaltitle")
    authors = [person(a) for a in re.split(r"\s+and\s+", _field(entry, "author") or "") if a]
    meta = {"bibkey": entry.get("ID", ""), "entrytype": entry.get("ENTRYTYPE", "")}
    meta.update({k: latex_to_text(str(entry[k])) for k in KEPT if entry.get(k)})
    return make_paper(
        path,
        line,
        title=_field(entry, "title"),
        abstract=_field(entry, "abstract"),
        given_id=None,
        title_only=True,
        extra={
            "authors": [a for a in authors if a],
            "year": year(_field(entry, "year", "date")),
            "venue": _field(entry, "journal", "journaltitle", "booktitle", "howpublished"),
            "doi": _field(entry, "doi"),
            "url": _field(entry, "url"),
            "arxiv_id": arxiv,
            "pmid": _field(entry, "pmid"),
            "meta": meta,
        },
    )
