"""Daily Papers dumps (``.txt``): a few header lines, then blocks of title line, blank line,
abstract paragraph on one line, blank line (see the bundled ``rag/data/seeds``). A title followed
by another title (or by the end of the file) is kept as a title-only paper."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from rag.errors import InputError
from rag.ingest.records import Item, guard, make_paper
from rag.schema import Paper

HEADER_LINES = {
    "new",
    "get trending papers in your email inbox!",
    "subscribe",
    "daily papers",
    "byak and the research community",
}
MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec"
DATE_RE = re.compile(rf"^(?:{MONTHS})[a-z]*\.? \d{{1,2}}(?:, \d{{4}})?$", re.IGNORECASE)


def sniff(head: str) -> bool:
    """The dump's header or a listing date, or a title line, a blank line, then an abstract
    paragraph of at least 12 words; a list of ids or other plain text does not pass."""
    lines = [line.strip() for line in head.splitlines()]
    if any(line.lower() in HEADER_LINES or DATE_RE.match(line) for line in lines[:12] if line):
        return True  # the dump's own header or listing date
    content = [
        line
        for line in lines
        if line and line.lower() not in HEADER_LINES and not DATE_RE.match(line)
    ]
    if len(content) < 2 or content[0][:1] in ("{", "[", "@", "<", "%"):
        return False
    title, abstract = content[0], content[1]
    i = lines.index(title)
    return (
        i + 1 < len(lines)
        and not lines[i + 1]
        and len(abstract.split()) >= 12
        and len(title.split()) < 40
    )


def parse(path: Path, lines: list[str]) -> Iterator[Item]:
    """Yield papers from a Daily Papers dump (header lines skipped, listing date kept)."""
    date: str | None = None
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.lower() in HEADER_LINES:
            i += 1
        elif DATE_RE.match(stripped):
            date = stripped
            i += 1
        else:
            break
    content = [(n + 1, line.strip()) for n, line in enumerate(lines) if n >= i and line.strip()]
    if not content:
        raise InputError("no title/abstract blocks found", where=str(path))
    j = 0
    while j < len(content):
        title_line, title = content[j]
        following = content[j + 1] if j + 1 < len(content) else None
        if following is None or looks_like_title(following[1]):
            yield guard(path, title_line, _dp_paper, title, None, date)  # title-only
            j += 1
            continue
        abstract_line, abstract = following
        if abstract_line > title_line + 2 and any(
            lines[k].strip() for k in range(title_line, abstract_line - 1)
        ):
            raise InputError("expected a blank line after the title", where=f"{path}:{title_line}")
        yield guard(path, title_line, _dp_paper, title, abstract, date)
        j += 2


def looks_like_title(line: str) -> bool:
    """A line after a title that is itself a title (the first paper has no abstract): short,
    one sentence, not ending with a full stop (abstracts are paragraphs of sentences)."""
    return (
        len(line.split()) <= 25
        and not line.endswith(".")
        and not re.search(r"[a-z0-9)][.!?]\s+[A-Z]", line)
    )


def _dp_paper(path: Path, line: int, title: str, abstract: str | None, date: str | None) -> Paper:
    return make_paper(
        path,
        line,
        title=title,
        abstract=abstract,
        given_id=None,
        extra={"date": date},
        title_only=True,
    )
