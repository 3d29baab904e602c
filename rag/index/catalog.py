"""The papers a library holds, read back from the store's chunk metadata: listing them (with
author and venue matching for filters), rebuilding one paper (metadata, abstract and full text
by section and page) for ``show`` and export, and finding papers by source file."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rag.index.chunking import split_by_offsets
from rag.index.filters import Filters, where_in
from rag.schema import Paper, Section, stored_str, stored_year

if TYPE_CHECKING:
    from rag.index.store import Store


def paper_rows(store: Store, where: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The metadata of every paper (its first chunk's), optionally filtered, by title."""
    clause: dict[str, Any] = {"chunk_index": 0}
    if where:
        clause = {"$and": [clause, where]}
    rows = [dict(c["metadata"] or {}) for c in store.get_chunks(clause)]
    return sorted(rows, key=lambda m: (str(m.get("title", "")).casefold(), m.get("paper_id")))


def paper_from_chunks(chunks: Sequence[Mapping[str, Any]]) -> Paper:
    """One paper rebuilt from all its stored chunks (id, text, metadata)."""
    ordered = sorted(chunks, key=lambda c: int(c["metadata"].get("chunk_index", 0)))
    meta = dict(ordered[0]["metadata"])
    abstract: list[str] = []
    sections: list[Section] = []
    for c in ordered:
        m = c["metadata"]
        sentences = split_by_offsets(str(c["text"]), m.get("sent_offsets"))
        page = m.get("page") if isinstance(m.get("page"), int) else None
        if m.get("title_only"):
            continue
        if not m.get("section") and page is None:
            abstract.extend(sentences)
        elif (
            sections and sections[-1].heading == m.get("section", "") and sections[-1].page == page
        ):
            sections[-1].sentences.extend(sentences)
        else:
            sections.append(
                Section(heading=str(m.get("section", "")), page=page, sentences=sentences)
            )
    try:
        extra = json.loads(meta["extra"]) if isinstance(meta.get("extra"), str) else {}
    except (ValueError, RecursionError):
        extra = {}
    extra = extra if isinstance(extra, dict) else {}
    return Paper(
        paper_id=str(meta.get("paper_id")),
        title=str(meta.get("title", "")),
        abstract=abstract,
        source=str(meta.get("source", "")),
        date=stored_str(meta.get("date")),
        year=stored_year(meta.get("year")),
        authors=[a.strip() for a in str(meta.get("authors", "")).split(";") if a.strip()],
        url=stored_str(meta.get("url")),
        doi=stored_str(meta.get("doi")),
        venue=stored_str(meta.get("venue")),
        arxiv_id=stored_str(meta.get("arxiv_id")),
        pmid=stored_str(meta.get("pmid")),
        sections=sections,
        extra={str(k): str(v) for k, v in extra.items()},
    )


def stored_papers(store: Store, paper_ids: Sequence[str]) -> list[Paper]:
    """The given papers, rebuilt, in the given order (ids the store lacks are left out)."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    ids = list(paper_ids)
    for i in range(0, len(ids), 500):
        for c in store.get_chunks(where_in("paper_id", ids[i : i + 500])):
            by_id.setdefault(str(c["metadata"].get("paper_id")), []).append(c)
    return [paper_from_chunks(by_id[p]) for p in ids if p in by_id]


def chunk_count(store: Store, paper_id: str) -> int:
    return len(store.get_chunks(where_in("paper_id", [paper_id])))


def unsatisfiable(filters: Filters, rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Why no paper of the library (``rows``: each paper's metadata) can pass ``filters``, as
    one line, or None when some paper passes."""
    for field, values, what in (
        ("source", filters.sources, "source"),
        ("paper_id", filters.paper_ids, "paper id"),
    ):
        held = {str(m.get(field)) for m in rows}
        missing = [v for v in values if v not in held]
        if missing:
            hint = ""
            if field == "source":
                known = sorted(held)
                shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
                hint = f" (sources: {shown})" if known else " (the library is empty)"
            return f"no paper in the library has {what} {missing[0]!r}{hint}"
    if filters.years is not None:
        years = [y for m in rows if isinstance(y := m.get("year"), int)]
        if not years:
            return (
                f"no paper in this library has a year ({len(rows)} papers), so none passes --year"
            )
        if not any(Filters(years=filters.years).matches({"year": y}) for y in years):
            first, last = filters.years
            want = f"{first}" if first == last else f"{first or ''}..{last or ''}"
            return f"no paper in this library is from {want} (years {min(years)}..{max(years)})"
    for field, values, what in (
        ("authors", filters.authors, "author"),
        ("venue", filters.venues, "venue"),
    ):
        if not values:
            continue
        if not any(m.get(field) for m in rows):
            return f"no paper in this library has {'authors' if field == 'authors' else 'a venue'}"
        only = Filters(
            authors=filters.authors if field == "authors" else (),
            venues=filters.venues if field == "venue" else (),
        )
        if not any(only.passes_words(m) for m in rows):
            return f"no paper in this library has {what} matching {' or '.join(map(repr, values))}"
    if not any(filters.matches(m) for m in rows):
        return f"no paper in this library passes all of: {filters.describe()}"
    return None
