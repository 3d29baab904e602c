"""Metadata filters on retrieval (year range, source file, paper id, author, venue), one rule
applied two ways:
as a Chroma ``where`` clause (:meth:`Filters.where`) and as a mask over the lexical index's
columns (:meth:`Filters.mask`). A test checks both select the same chunks."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rag.errors import InputError


def where_in(field: str, values: Sequence[str]) -> Any:
    """A Chroma ``where`` clause: ``field`` is one of ``values``."""
    return {field: {"$in": list(values)}}


def fold(text: str) -> list[str]:
    """Case- and accent-folded words: "Müller, J." -> ["muller", "j"]."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return re.findall(r"[a-z0-9]+", plain.casefold())


def words_match(query: str, value: Any) -> bool:
    """Every word of ``query`` is a word of ``value`` (folded): "vaswani" matches
    "Vaswani, Ashish"; "neural information" matches "Advances in Neural Information..."."""
    want = fold(query)
    have = set(fold(str(value or "")))
    return bool(want) and all(w in have for w in want)


def author_matches(query: str, authors: Any) -> bool:
    """Whether one of the ``;``-joined ``authors`` has every word of ``query``."""
    return any(words_match(query, a) for a in str(authors or "").split(";"))


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
    authors: tuple[str, ...] = ()  # an author of the paper has every word of one of these
    venues: tuple[str, ...] = ()  # the venue has every word of one of these
    #: The papers passing the author and venue conditions, found by :meth:`bind` over the
    #: library's papers (Chroma cannot match words inside a metadata value).
    bound_ids: tuple[str, ...] | None = None

    @classmethod
    def make(
        cls,
        *,
        year: str | int | tuple[int | None, int | None] | None = None,
        source: str | Sequence[str] | None = None,
        paper: str | Sequence[str] | None = None,
        author: str | Sequence[str] | None = None,
        venue: str | Sequence[str] | None = None,
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
        authors, venues = _values("author", author), _values("venue", venue)
        if years is None and not (sources or papers or authors or venues):
            return None
        return cls(years=years, sources=sources, paper_ids=papers, authors=authors, venues=venues)

    def __bool__(self) -> bool:
        return self.years is not None or any(
            (self.sources, self.paper_ids, self.authors, self.venues)
        )

    def passes_words(self, meta: Mapping[str, Any]) -> bool:
        """The author and venue conditions on one paper's metadata."""
        if self.authors and not any(author_matches(a, meta.get("authors")) for a in self.authors):
            return False
        return not (self.venues and not any(words_match(v, meta.get("venue")) for v in self.venues))

    def bind(self, papers: Sequence[Mapping[str, Any]]) -> Filters:
        """These filters with the author/venue conditions resolved over ``papers`` (each
        paper's metadata); needed before :meth:`where` or :meth:`mask` when they are set."""
        if not (self.authors or self.venues):
            return self
        ids = tuple(str(m.get("paper_id")) for m in papers if self.passes_words(m))
        return replace(self, bound_ids=ids)

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
        if self.authors or self.venues:
            out.append(where_in("paper_id", self._bound()))
        return out

    def _bound(self) -> list[str]:
        if self.bound_ids is None:
            raise RuntimeError("author/venue filters must be bound to the library's papers")
        return list(self.bound_ids) or ["\x00no paper"]

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
        if self.paper_ids and meta.get("paper_id") not in self.paper_ids:
            return False
        return self.passes_words(meta)

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
        if self.authors or self.venues:
            keep &= np.isin(paper_ids.astype(str), self._bound())
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
        if self.authors:
            parts.append("author " + ", ".join(self.authors))
        if self.venues:
            parts.append("venue " + ", ".join(self.venues))
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
