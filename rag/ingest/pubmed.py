"""PubMed XML (``efetch ... retmode=xml``: ``<PubmedArticleSet>``). Structured abstracts keep
their labels ("Background: ... Methods: ..."); authors, journal, year, PMID and DOI are read."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from rag.errors import InputError
from rag.ingest.fields import year
from rag.ingest.records import Item, guard, make_paper
from rag.ingest.xml_util import parse_xml, record_lines, text_of
from rag.schema import Paper


def sniff(head: str) -> bool:
    return "<PubmedArticleSet" in head or "<PubmedArticle>" in head


def parse(path: Path, lines: list[str]) -> Iterator[Item]:
    root = parse_xml(path, lines)
    articles = [root] if root.tag == "PubmedArticle" else root.findall("PubmedArticle")
    if not articles:
        raise InputError("no <PubmedArticle> records found", where=f"{path}:1")
    for line, article in zip(
        record_lines(lines, "PubmedArticle", len(articles)), articles, strict=True
    ):
        yield guard(path, line, _article_paper, article)


def structured_abstract(parts: list[tuple[str, str]]) -> str | None:
    """Labelled parts joined as "Background: text. Methods: text." (unlabelled as they are)."""
    out = []
    for label, text in parts:
        if not text:
            continue
        out.append(f"{label.strip().capitalize()}: {text}" if label else text)
    return " ".join(out) or None


def _article_paper(path: Path, line: int, article: ET.Element) -> Paper:
    cit = article.find("MedlineCitation")
    if cit is None:
        raise InputError("<PubmedArticle> without <MedlineCitation>", where=f"{path}:{line}")
    art = cit.find("Article")
    if art is None:
        raise InputError("<MedlineCitation> without <Article>", where=f"{path}:{line}")
    parts = [(e.get("Label", ""), text_of(e)) for e in art.findall("Abstract/AbstractText")]
    authors = []
    for a in art.findall("AuthorList/Author"):
        last, fore = text_of(a.find("LastName")), text_of(a.find("ForeName"))
        name = f"{last}, {fore}" if last and fore else last or text_of(a.find("CollectiveName"))
        if name:
            authors.append(name)
    pub = art.find("Journal/JournalIssue/PubDate")
    when = text_of(pub.find("Year")) or text_of(pub.find("MedlineDate")) if pub is not None else ""
    doi = next(
        (text_of(e) for e in art.findall("ELocationID") if e.get("EIdType") == "doi"),
        None,
    ) or next(
        (
            text_of(e)
            for e in article.findall("PubmedData/ArticleIdList/ArticleId")
            if e.get("IdType") == "doi"
        ),
        None,
    )
    pmid = text_of(cit.find("PMID"))
    return make_paper(
        path,
        line,
        title=text_of(art.find("ArticleTitle")).rstrip(".") or None,
        abstract=structured_abstract(parts),
        given_id=None,
        title_only=True,
        extra={
            "authors": authors,
            "year": year(when),
            "venue": text_of(art.find("Journal/Title")) or None,
            "doi": doi,
            "url": f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" if pmid else None,
            "pmid": pmid or None,
        },
    )
