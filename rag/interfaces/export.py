"""Writing papers out: BibTeX (readable, stable keys like ``vaswani2017attention``; parsed back
by the same bibtexparser the reader uses), RIS, CSL-JSON, and a Markdown report of an answer
with its references."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rag.ingest.fields import family

if TYPE_CHECKING:
    from rag.schema import Answer, Paper

FORMATS = ("bibtex", "ris", "csljson", "markdown")
_STOP = {"a", "an", "the", "on", "of", "in", "for", "to", "and", "with", "is", "are", "towards"}


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text)
    return "".join(c for c in plain if not unicodedata.combining(c) and c.isascii())


def cite_key(paper: Paper) -> str:
    """``vaswani2017attention``: first author's family name, year, first significant word."""
    who = re.sub(r"[^a-z]", "", _ascii(family(paper.authors[0])).lower()) if paper.authors else ""
    words = [w for w in re.findall(r"[a-z0-9]+", _ascii(paper.title).lower()) if w not in _STOP]
    return f"{who or 'anon'}{paper.year or ''}{words[0] if words else 'paper'}"


def keys_for(papers: Sequence[Paper]) -> list[str]:
    """Unique keys, in order: a repeated key gets a, b, c... (``smith2020deepa``)."""
    base = [cite_key(p) for p in papers]
    out: list[str] = []
    for key in base:
        if base.count(key) == 1:
            out.append(key)
            continue
        n = sum(1 for k in out if k.startswith(key) and len(k) == len(key) + 1)
        out.append(key + "abcdefghijklmnopqrstuvwxyz"[n % 26])
    return out


def _bib_escape(text: str) -> str:
    return text.replace("\\", "").replace("{", "(").replace("}", ")")


def bibtex(papers: Sequence[Paper]) -> str:
    entries = []
    for key, p in zip(keys_for(papers), papers, strict=True):
        fields: list[tuple[str, str]] = [("title", p.title)]
        if p.authors:
            fields.append(("author", " and ".join(p.authors)))
        if p.year:
            fields.append(("year", str(p.year)))
        kind = p.extra.get("entrytype") or ("article" if p.venue else "misc")
        if p.venue:
            fields.append(("booktitle" if kind == "inproceedings" else "journal", p.venue))
        for name, value in (("doi", p.doi), ("url", p.url), ("pmid", p.pmid)):
            if value:
                fields.append((name, value))
        if p.arxiv_id:
            fields += [("eprint", p.arxiv_id), ("archiveprefix", "arXiv")]
        if p.abstract:
            fields.append(("abstract", " ".join(p.abstract)))
        body = ",\n".join(
            f"  {name} = {{{'{' if name == 'title' else ''}{_bib_escape(value)}"
            f"{'}' if name == 'title' else ''}}}"
            for name, value in fields
        )
        entries.append(f"@{kind}{{{key},\n{body}\n}}\n")
    return "\n".join(entries)


def ris(papers: Sequence[Paper]) -> str:
    out = []
    for p in papers:
        lines = ["TY  - JOUR" if p.venue else "TY  - GEN", f"TI  - {p.title}"]
        lines += [f"AU  - {a}" for a in p.authors]
        for tag, value in (("PY", p.year), ("T2", p.venue), ("DO", p.doi), ("UR", p.url)):
            if value:
                lines.append(f"{tag}  - {value}")
        if p.abstract:
            lines.append(f"AB  - {' '.join(p.abstract)}")
        out.append("\n".join([*lines, "ER  - ", ""]))
    return "\n".join(out)


def csljson(papers: Sequence[Paper]) -> str:
    items: list[dict[str, Any]] = []
    for key, p in zip(keys_for(papers), papers, strict=True):
        item: dict[str, Any] = {"id": key, "type": "article-journal", "title": p.title}
        item["author"] = [
            {"family": a.split(",", 1)[0].strip(), "given": a.split(",", 1)[1].strip()}
            if "," in a
            else {"literal": a}
            for a in p.authors
        ]
        if p.year:
            item["issued"] = {"date-parts": [[p.year]]}
        for name, value in (
            ("container-title", p.venue), ("DOI", p.doi), ("URL", p.url), ("PMID", p.pmid),
            ("abstract", " ".join(p.abstract) or None),
        ):  # fmt: skip
            if value:
                item[name] = value
        items.append(item)
    return json.dumps(items, ensure_ascii=False, indent=2) + "\n"


def reference(p: Paper) -> str:
    """One reference line: "Vaswani, Ashish; Shazeer, Noam (2017). Title. Venue. doi:..."."""
    who = "; ".join(p.authors[:6]) + (" et al." if len(p.authors) > 6 else "")
    parts = [f"{who} ({p.year})." if who and p.year else (f"{who}." if who else "")]
    parts += [f"*{p.title}*.", f"{p.venue}." if p.venue else ""]
    parts.append(f"doi:{p.doi}" if p.doi else (p.url or ""))
    return " ".join(x for x in parts if x)


def markdown_papers(papers: Sequence[Paper]) -> str:
    return "".join(f"- {reference(p)}\n" for p in papers)


def markdown_answer(answer: Answer, papers: Sequence[Paper], heading: str) -> str:
    """An answer or summary as a report: the question, the cited text, the references."""
    by_id = {p.paper_id: p for p in papers}
    lines = [f"# {heading}", "", f"**{answer.question}**", "", answer.answer, "", "## References"]
    lines.append("")
    for c in answer.citations:
        p = by_id.get(c.paper_id)
        page = f", p. {c.page}" if c.page else ""
        lines.append(f"[{c.n}] {reference(p) if p else c.title}{page}")
    return "\n".join(lines) + "\n"


def render(fmt: str, papers: Sequence[Paper]) -> str:
    writer = {"bibtex": bibtex, "ris": ris, "csljson": csljson, "markdown": markdown_papers}
    return writer[fmt](papers)
