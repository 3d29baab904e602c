"""Metadata filters on retrieval (year range, source file, paper id), one rule applied two ways:
as a Chroma ``where`` clause (:meth:`Filters.where`) and as a mask over the lexical index's
columns (:meth:`Filters.mask`). A test checks both select the same chunks."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.errors import InputError


def where_in(field: str, values: Sequence[str]) -> Any:
    """A Chroma ``where`` clause: ``field`` is one of ``values``."""
    return {field: {"$in": list(values)}}


_YEAR_RE = re.compile(r"^\s*(\d{4})?\s*(\.\.)?\s*(\d{4})?\s*$")


def parse_years(text: str | int) -> tuple[int | None, int | None]:
    """``"2023"``, ``"2023..2024"``, ``"2023.."`` or ``"..2024"`` -> inclusive (first, last)."""
    raw = str(text)
    m = _YEAR_RE.match(raw)
    if not m or not (m.group(1) or m.group(3)) or (not m.group(2) and not m.group(1)):
        raise InputError(
            f"bad year filter {raw!r}: use YEAR, FIRST..LAST, FIRST.. or ..LAST (e.g. 2023..2024)"
        )
    first = int(m.group(1)) if m.group(1) else None
    last = int(m.group(3)) if m.group(3) else None
    if not m.group(2):
        last = first
    if first is not None and last is not None and first > last:
        raise InputError(f"bad year filter {raw!r}: {first} is after {last}")
    return first, last


@dataclass(frozen=True)
class Filters:
    """Metadata filters on retrieval, applied identically to the vector store (a Chroma
    ``where``) and to the lexical index (:meth:`mask`). Conditions combine with AND; the values
    inside one condition with OR. A paper without a year never passes a year filter."""

    years: tuple[int | None, int | None] | None = None
    sources: tuple[str, ...] = ()
    paper_ids: tuple[str, ...] = ()

    @classmethod
    def make(
        cls,
        *,
        year: str | int | tuple[int | None, int | None] | None = None,
        source: str | Sequence[str] | None = None,
        paper: str | Sequence[str] | None = None,
    ) -> Filters | None:
        """Validated filters from user values (None when there are none); a bad value raises
        :class:`~rag.errors.InputError` with one line saying what is wrong."""
        years = None
        if year is not None and year != "":
            years = year if isinstance(year, tuple) else parse_years(year)
            if not (years[0] is not None or years[1] is not None):
                raise InputError("bad year filter: give a first or a last year")
        sources = _values("source", source)
        papers = _values("paper", paper)
        if years is None and not sources and not papers:
            return None
        return cls(years=years, sources=sources, paper_ids=papers)

    def __bool__(self) -> bool:
        return self.years is not None or bool(self.sources) or bool(self.paper_ids)

    def clauses(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.years is not None:
            first, last = self.years
            if first is not None:
                out.append({"year": {"$gte": first}})
            if last is not None:
                out.append({"year": {"$lte": last}})
        if self.sources:
            out.append(where_in("source", self.sources))
        if self.paper_ids:
            out.append(where_in("paper_id", self.paper_ids))
        return out

    def where(self) -> dict[str, Any] | None:
        """The Chroma ``where`` clause (None without conditions)."""
        clauses = self.clauses()
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, meta: Mapping[str, Any]) -> bool:
        """Whether one chunk's metadata passes (the rule the Chroma ``where`` implements)."""
        if self.years is not None:
            year = meta.get("year")
            if not isinstance(year, int) or isinstance(year, bool):
                return False
            first, last = self.years
            if (first is not None and year < first) or (last is not None and year > last):
                return False
        if self.sources and meta.get("source") not in self.sources:
            return False
        return not (self.paper_ids and meta.get("paper_id") not in self.paper_ids)

    def mask(self, *, paper_ids: np.ndarray, sources: np.ndarray, years: np.ndarray) -> np.ndarray:
        """:meth:`matches` over columns of many chunks at once (years: ints, missing = a very
        negative number); returns a boolean mask."""
        keep = np.ones(len(paper_ids), dtype=bool)
        if self.years is not None:
            first, last = self.years
            keep &= years > -(2**31)
            if first is not None:
                keep &= years >= first
            if last is not None:
                keep &= years <= last
        if self.sources:
            keep &= np.isin(sources.astype(str), list(self.sources))
        if self.paper_ids:
            keep &= np.isin(paper_ids.astype(str), list(self.paper_ids))
        return keep

    def describe(self) -> str:
        parts = []
        if self.years is not None:
            first, last = self.years
            parts.append(f"year {first}" if first == last else f"year {first or ''}..{last or ''}")
        if self.sources:
            parts.append("source " + ", ".join(self.sources))
        if self.paper_ids:
            parts.append("paper " + ", ".join(self.paper_ids))
        return "; ".join(parts)


def _values(name: str, value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else list(value)
    out = []
    for v in values:
        if not isinstance(v, str) or not v.strip():
            raise InputError(f"bad {name} filter {v!r}: expected a non-empty name")
        out.append(v.strip())
    return tuple(dict.fromkeys(out))
