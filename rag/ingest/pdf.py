"""PDFs with a text layer (``.pdf``), read with pypdf: the title (the largest type on the first
page, else the document's Title metadata), the abstract (under an "Abstract" heading), and the
full text split by section heading and by page, so chunks and citations carry their page.

Columns come out in the order the PDF draws them (one column, then the next), which is the
reading order for the two-column layouts LaTeX and Word write. Words hyphenated across lines are
joined. Text after "References"/"Bibliography" is dropped. A PDF without any text (a scan) is an
error: there is no OCR here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.ingest.fields import arxiv_id, doi, person, text_or_none
from rag.ingest.records import Item, make_paper
from rag.schema import Section
from rag.text import clean_text, split_sentences

KNOWN_HEADINGS = {
    "abstract", "introduction", "background", "related work", "method", "methods", "methodology",
    "approach", "model", "experiments", "experimental setup", "evaluation", "results",
    "discussion", "limitations", "conclusion", "conclusions", "future work", "acknowledgments",
    "acknowledgements", "references", "bibliography", "appendix",
}  # fmt: skip
_NUMBERED_RE = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2})*\.?|[IVX]{1,4}\.)\s+([A-Z][^.!?]{1,70})$")
_END = {"references", "bibliography"}


def sniff(head: str) -> bool:
    return head.startswith("%PDF-")


def heading_of(line: str) -> str | None:
    """The heading a line is ("1 Introduction", "ABSTRACT", "Related Work"), or None."""
    text = line.strip().rstrip(":")
    if not text or len(text) > 80:
        return None
    if text.lower() in KNOWN_HEADINGS:
        return text.title() if text.isupper() else text
    m = _NUMBERED_RE.match(text)
    if m and len(m.group(1).split()) <= 8 and not re.search(r"\d\s*$", m.group(1)):
        return text
    return None


def _page_lines(page: Any) -> tuple[list[str], list[tuple[float, str]]]:
    """The text lines of a page, and its (font size, text) fragments."""
    sized: list[tuple[float, str]] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
        if text.strip():
            sized.append((round(abs(float(size) * float(tm[3]) * float(cm[3])), 1), text.strip()))

    text = page.extract_text(visitor_text=visit) or ""
    return text.splitlines(), sized


def _title(sized: list[tuple[float, str]], meta_title: str | None) -> str | None:
    if sized:
        top = max(size for size, _ in sized)
        body = sorted(size for size, _ in sized)[len(sized) // 2]
        if top > body * 1.15:
            return clean_text(" ".join(t for size, t in sized if size == top))
    return meta_title


def _join(lines: list[str]) -> str:
    text = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if text.endswith("-") and line[:1].islower():
            text = text[:-1] + line
        else:
            text = f"{text} {line}" if text else line
    return text


def parse(path: Path, lines: list[str]) -> Iterator[Item]:
    yield _pdf_paper(path)


def _pdf_paper(path: Path) -> Item:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            return InputError("PDF is encrypted: decrypt it first", where=f"{path}:1")
        pages = [_page_lines(p) for p in reader.pages]
        info: dict[str, Any] = dict(reader.metadata or {})
    except (PdfReadError, OSError, ValueError, KeyError) as e:
        return InputError(f"not a readable PDF ({e})", where=f"{path}:1")
    if not any(line.strip() for page_lines, _ in pages for line in page_lines):
        return InputError(
            f"PDF has no text layer ({len(pages)} page(s), a scan?): OCR it first, e.g. "
            "with ocrmypdf",
            where=f"{path}:1",
        )
    title = _title(pages[0][1], text_or_none(info.get("/Title")))
    abstract: list[str] = []
    sections: list[Section] = []
    heading = ""
    buffer: list[str] = []

    def flush(page: int) -> None:
        sentences = split_sentences(clean_text(_join(buffer)))
        if sentences and heading.lower() == "abstract":
            abstract.extend(sentences)
        elif sentences:
            sections.append(Section(heading=heading, page=page, sentences=sentences))
        buffer.clear()

    ended = False
    for number, (page_lines, _) in enumerate(pages, start=1):
        for line in page_lines:
            if number == 1 and title and clean_text(line) and clean_text(line) in title:
                continue  # the title's own lines
            if re.match(r"^arXiv:\d{4}\.\d", line.strip()):
                continue  # the arXiv stamp in the margin
            found = heading_of(line)
            if found:
                flush(number)
                heading = found
                ended = heading.lower().lstrip("0123456789. ") in _END
                if ended:
                    break
            else:
                buffer.append(line)
        flush(number)
        if ended:
            break
    first_page = " ".join(pages[0][0])
    arxiv = re.search(r"arXiv:\s*(\d{4}\.\d{4,5})", first_page)
    found_doi = re.search(r"\b(?:doi[:\s]*|doi\.org/)(10\.\d{4,9}/\S+)", first_page, re.IGNORECASE)
    authors = text_or_none(info.get("/Author"))
    if not title:
        return InputError(
            "no title found in the PDF (no larger type, no Title metadata)", where=f"{path}:1"
        )
    try:
        return make_paper(
            path,
            1,
            title=title,
            abstract=abstract or None,
            given_id=None,
            sections=sections,
            title_only=True,
            extra={
                "authors": [person(a) for a in re.split(r";| and ", authors)] if authors else [],
                "year": 2000 + int(arxiv.group(1)[:2]) if arxiv else None,
                "doi": doi(found_doi.group(1)) if found_doi else None,
                "arxiv_id": arxiv_id(arxiv.group(1)) if arxiv else None,
                "meta": {"pages": str(len(pages))},
            },
        )
    except InputError as e:
        return e
