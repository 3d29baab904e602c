"""Normalising the bibliographic fields every reader shares: DOIs, arXiv ids, PMIDs, years,
author names ("Family, Given") and LaTeX-encoded text (accents, braces)."""

from __future__ import annotations

import re
from typing import Any

from rag.text import clean_text

_DOI_RE = re.compile(r"(10\.\d{4,9}/\S+)", re.IGNORECASE)
#: New-style (2106.09685, optional version) and old-style (hep-th/9901001) arXiv ids.
ARXIV_RE = re.compile(
    r"^(?:arxiv:)?((?:\d{4}\.\d{4,5})|(?:[a-z-]+(?:\.[A-Z]{2})?/\d{7}))(?:v\d+)?$", re.IGNORECASE
)
_ARXIV_URL_RE = re.compile(
    r"arxiv\.org/(?:abs|pdf)/((?:\d{4}\.\d{4,5})|(?:[a-z-]+(?:\.[A-Z]{2})?/\d{7}))", re.IGNORECASE
)
_YEAR_RE = re.compile(r"(?<!\d)(1[5-9]\d\d|20\d\d|2100)(?!\d)")


def text_or_none(value: Any) -> str | None:
    """A cleaned, non-empty string, or None."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value)
    text = clean_text(str(value))
    return text or None


def doi(value: Any) -> str | None:
    """``10.1234/abc`` (lower-cased) from a bare DOI, ``doi:`` or a doi.org URL."""
    text = text_or_none(value)
    if not text:
        return None
    m = _DOI_RE.search(text)
    return m.group(1).rstrip(".,;").lower() if m else None


def arxiv_id(value: Any) -> str | None:
    """``2106.09685`` (version dropped) from an id, ``arXiv:`` prefix or arxiv.org URL."""
    text = text_or_none(value)
    if not text:
        return None
    m = _ARXIV_URL_RE.search(text)
    if m:
        return m.group(1)
    m = ARXIV_RE.match(text.strip())
    return m.group(1) if m else None


def pmid(value: Any) -> str | None:
    text = text_or_none(value)
    if not text:
        return None
    m = re.search(r"\d{1,9}", text)
    return m.group(0) if m else None


def year(value: Any) -> int | None:
    """The first plausible 4-digit year in a year or date ("2017", "2017-06-12", "Jun 2017")."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 1500 <= value <= 2100 else None
    text = text_or_none(value)
    if not text:
        return None
    m = _YEAR_RE.search(text)
    return int(m.group(1)) if m else None


def person(name: str) -> str:
    """``Family, Given``: from "Family, Given" (kept) or "Given Family" (last word is family)."""
    name = clean_text(name).strip(" ,;")
    if not name or "," in name:
        return name
    parts = name.split()
    if len(parts) == 1:
        return name
    if re.fullmatch(r"(?:[A-Z]\.-?)+", parts[-1]):  # "Gu A." (Scopus, Web of Science)
        return f"{' '.join(parts[:-1])}, {parts[-1]}"
    particles = {"van", "von", "de", "der", "da", "di", "le", "la", "del"}
    i = len(parts) - 1
    while i > 1 and parts[i - 1].lower() in particles:
        i -= 1
    return f"{' '.join(parts[i:])}, {' '.join(parts[:i])}"


def family(name: str) -> str:
    """The family name of a ``Family, Given`` author."""
    return name.split(",", 1)[0].strip()


def short_authors(authors: list[str]) -> str:
    """ "Vaswani", "Vaswani and Shazeer" or "Vaswani et al."."""
    if not authors:
        return ""
    if len(authors) == 1:
        return family(authors[0])
    if len(authors) == 2:
        return f"{family(authors[0])} and {family(authors[1])}"
    return f"{family(authors[0])} et al."


# --- LaTeX ----------------------------------------------------------------------------------

_ACCENTS = {
    "'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304",
    ".": "\u0307", "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327", "k": "\u0328",
    "r": "\u030a",
}  # fmt: skip
_SYMBOLS = {
    "ss": "ß", "o": "ø", "O": "Ø", "ae": "æ", "AE": "Æ", "aa": "å", "AA": "Å", "l": "ł",
    "L": "Ł", "i": "ı", "oe": "œ", "OE": "Œ", "&": "&", "%": "%", "_": "_", "#": "#", "$": "$",
}  # fmt: skip
_ACCENT_RE = re.compile(
    r"\\([`'^\"~=.]|[uvHckr](?=[\s{]))\s*(?:\{\s*(\\?[A-Za-z])\s*\}|(\\?[A-Za-z]))"
)
_SYMBOL_RE = re.compile(r"\\(ss|ae|AE|aa|AA|oe|OE|[oOlLi]|[&%_#$])(?![A-Za-z])\s?")


def _accent(m: re.Match[str]) -> str:
    letter = (m.group(2) or m.group(3) or "").lstrip("\\")
    if letter == "i":
        letter = "i"
    import unicodedata

    return unicodedata.normalize("NFC", letter + _ACCENTS[m.group(1)])


def latex_to_text(value: str) -> str:
    """Decode LaTeX accents (``{\\"o}``, ``\\'{e}``), symbols (``\\ss``), dashes and braces."""
    text = _ACCENT_RE.sub(_accent, value)
    text = _SYMBOL_RE.sub(lambda m: _SYMBOLS[m.group(1)], text)
    text = text.replace("---", "—").replace("--", "–").replace("~", " ")
    text = re.sub(r"\\(?:emph|textit|textbf|textsc|mathrm|text)\s*\{", "{", text)
    text = text.replace("{", "").replace("}", "").replace("\\", "")
    return clean_text(text)
