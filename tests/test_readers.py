"""The readers (one per format), detection by content, identity across sources, export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag.errors import InputError
from rag.ingest import parse_paths
from rag.ingest.registry import detect
from tests.pdfgen import LOREM, scanned_pdf, two_column_pdf

LIB = Path(__file__).parent / "data" / "library"


def one(tmp_path: Path, name: str, text: str) -> list:  # type: ignore[type-arg]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return parse_paths([path]).papers


def test_zotero_bibtex_macros_accents_and_multiline_abstract() -> None:
    papers = {p.title: p for p in parse_paths([LIB / "zotero.bib"]).papers}
    att = papers["Attention Is All You Need"]
    assert att.venue == "Advances in Neural Information Processing Systems"  # @string macro
    assert (att.year, att.doi, att.arxiv_id) == (2017, "10.48550/arxiv.1706.03762", "1706.03762")
    assert att.authors[0] == "Vaswani, Ashish" and len(att.authors) == 3
    assert att.abstract[1].startswith("We propose a new simple network architecture")
    assert att.paper_id == "doi:10.48550/arxiv.1706.03762"
    green = papers["Grüne Énergie für Transformers"]  # accents decoded, braces gone
    assert green.authors == ["Müller, Jörg", "Giráldez, Ana"] and green.title_only


def test_mendeley_duplicate_keys_merge_with_the_richer_record_winning() -> None:
    result = parse_paths([LIB / "mendeley.bib"])
    assert (result.records, len(result.papers), result.merged + result.duplicates) == (2, 1, 1)
    lora = result.papers[0]
    assert lora.arxiv_id == "2106.09685" and len(lora.authors) == 3 and lora.abstract


def test_bibtex_entry_the_parser_cannot_read_is_an_error_not_dropped(tmp_path: Path) -> None:
    bad = "@article{ok, title={Fine}}\n@article{broken,\n  title = {Unclosed\n@misc{x, title={X}}\n"
    with pytest.raises(InputError, match=r"bad\.bib:2: cannot parse BibTeX entry 'broken'"):
        one(tmp_path, "bad.bib", bad)


def test_endnote_ris() -> None:
    papers = parse_paths([LIB / "endnote.ris"]).papers
    mamba = papers[1]
    assert (mamba.year, mamba.venue, mamba.authors) == (
        2023,
        "arXiv preprint",
        ["Gu, Albert", "Dao, Tri"],
    )
    assert papers[0].url == "https://arxiv.org/abs/1706.03762" and papers[0].title_only


def test_csv_maps_columns_and_keeps_unknown_ones() -> None:
    papers = parse_paths([LIB / "scopus.csv"]).papers
    assert papers[0].authors == ["Gu, A.", "Dao, T."] and papers[0].extra == {"Cited by": "1200"}
    assert len(papers[0].abstract) == 2  # a quoted cell spanning two lines
    assert papers[1].title_only and papers[1].venue == "ICLR"


def test_csv_row_with_wrong_cell_count_names_its_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"t\.csv:3: row has 1 cells but the header has 2"):
        one(tmp_path, "t.csv", "title,abstract\nA,Fine text.\nlonely\n")


PUBMED = """<?xml version="1.0" ?>
<PubmedArticleSet>
<PubmedArticle>
  <MedlineCitation Status="MEDLINE">
    <PMID Version="1">31234567</PMID>
    <Article>
      <Journal><Title>The Lancet</Title>
        <JournalIssue><PubDate><Year>2019</Year></PubDate></JournalIssue></Journal>
      <ArticleTitle>Aspirin for <i>primary</i> prevention.</ArticleTitle>
      <Abstract>
        <AbstractText Label="BACKGROUND">The role of aspirin is unclear.</AbstractText>
        <AbstractText Label="METHODS">We randomised 19114 adults.</AbstractText>
        <AbstractText Label="FINDINGS">Aspirin did not prolong survival.</AbstractText>
      </Abstract>
      <AuthorList><Author><LastName>McNeil</LastName><ForeName>John J</ForeName></Author>
      <Author><CollectiveName>ASPREE Group</CollectiveName></Author></AuthorList>
      <ELocationID EIdType="doi">10.1016/S0140-6736(19)31234-5</ELocationID>
    </Article>
  </MedlineCitation>
</PubmedArticle>
</PubmedArticleSet>
"""


def test_pubmed_xml_structured_abstract(tmp_path: Path) -> None:
    (p,) = one(tmp_path, "search.xml", PUBMED)
    assert p.abstract == [
        "Background: The role of aspirin is unclear.",
        "Methods: We randomised 19114 adults.",
        "Findings: Aspirin did not prolong survival.",
    ]
    assert (p.title, p.pmid, p.year, p.venue) == (
        "Aspirin for primary prevention",
        "31234567",
        2019,
        "The Lancet",
    )
    assert p.authors == ["McNeil, John J", "ASPREE Group"] and p.doi.startswith("10.1016/s0140")


def test_medline_nbib(tmp_path: Path) -> None:
    nbib = (
        "PMID- 31234567\nTI  - Aspirin for primary\n      prevention.\nAB  - The role of aspirin "
        "is unclear.\nFAU - McNeil, John J\nDP  - 2019 Oct\nJT  - The Lancet\n"
        "LID - 10.1016/S0140-6736(19)31234-5 [doi]\n"
    )
    (p,) = one(tmp_path, "pubmed.nbib", nbib)
    assert (p.title, p.year, p.authors, p.pmid) == (
        "Aspirin for primary prevention",
        2019,
        ["McNeil, John J"],
        "31234567",
    )


OPENALEX = {
    "id": "https://openalex.org/W2963403868",
    "doi": "https://doi.org/10.48550/arxiv.1706.03762",
    "title": "Attention Is All You Need",
    "publication_year": 2017,
    "authorships": [{"author": {"display_name": "Ashish Vaswani"}}],
    "primary_location": {"source": {"display_name": "Neural Information Processing Systems"}},
    "abstract_inverted_index": {
        "The": [0],
        "dominant": [1],
        "models": [2, 5],
        "are": [3],
        "big": [4],
    },
}


def test_openalex_work_rebuilds_its_abstract(tmp_path: Path) -> None:
    (p,) = one(tmp_path, "works.json", json.dumps({"results": [OPENALEX]}))
    assert p.abstract == ["The dominant models are big models"]
    assert (p.doi, p.authors, p.venue) == (
        "10.48550/arxiv.1706.03762",
        ["Vaswani, Ashish"],
        "Neural Information Processing Systems",
    )


def test_csl_json_keeps_authors_year_and_doi(tmp_path: Path) -> None:
    item = {"id": "x", "type": "article-journal", "title": "Mamba", "DOI": "10.1234/M",
            "author": [{"family": "Gu", "given": "Albert"}, {"literal": "Dao Lab"}],
            "issued": {"date-parts": [[2023, 12]]}, "container-title": "arXiv"}  # fmt: skip
    (p,) = one(tmp_path, "zotero.json", json.dumps([item]))
    assert (p.authors, p.year, p.doi, p.venue) == (
        ["Gu, Albert", "Dao Lab"],
        2023,
        "10.1234/m",
        "arXiv",
    )


def test_semantic_scholar_and_arxiv_atom(tmp_path: Path) -> None:
    s2 = {
        "paperId": "abc", "title": "LoRA", "abstract": "Freeze and adapt.", "year": 2021,
        "authors": [{"name": "Edward J. Hu"}], "externalIds": {"ArXiv": "2106.09685"},
    }  # fmt: skip
    (p,) = one(tmp_path, "s2.json", json.dumps(s2))
    assert (p.arxiv_id, p.authors) == ("2106.09685", ["Hu, Edward J."])
    atom = (
        '<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom">\n<entry>\n'
        "<id>http://arxiv.org/abs/2106.09685v2</id><published>2021-06-17T17:37:18Z</published>"
        "<title>LoRA: Low-Rank\n  Adaptation</title><summary>We freeze weights.</summary>"
        "<author><name>Edward J. Hu</name></author></entry>\n</feed>\n"
    )
    (q,) = one(tmp_path, "listing.atom", atom)
    assert (q.title, q.arxiv_id, q.year, q.paper_id) == (
        "LoRA: Low-Rank Adaptation",
        "2106.09685",
        2021,
        "arxiv:2106.09685",
    )


def lora_pdf(path: Path) -> Path:
    return two_column_pdf(
        path,
        title="LoRA: Low-Rank Adaptation of Large Language Models",
        abstract="We freeze the pretrained weights. We inject trainable low-rank matrices.",
        sections=[
            ("1 Introduction", LOREM * 2),
            ("2 Method", LOREM * 3),
            ("3 Experiments", LOREM * 2),
            ("4 Conclusion", "Adapters suffice. They are cheap."),
            ("References", "[1] Houlsby et al. Parameter-efficient transfer."),
        ],
        header="arXiv:2106.09685v2 [cs.CL] 16 Oct 2021",
    )


def test_two_column_pdf_title_abstract_sections_and_pages(tmp_path: Path) -> None:
    (p,) = parse_paths([lora_pdf(tmp_path / "lora.pdf")]).papers
    assert p.title == "LoRA: Low-Rank Adaptation of Large Language Models"
    assert p.abstract == [
        "We freeze the pretrained weights.",
        "We inject trainable low-rank matrices.",
    ]
    assert [(s.heading, s.page) for s in p.sections] == [
        ("1 Introduction", 1),
        ("2 Method", 1),
        ("3 Experiments", 1),
        ("4 Conclusion", 2),
    ]
    assert not any("Houlsby" in s for sec in p.sections for s in sec.sentences)  # references cut
    assert p.arxiv_id == "2106.09685"


def test_scanned_pdf_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"scan\.pdf:1: PDF has no text layer"):
        parse_paths([scanned_pdf(tmp_path / "scan.pdf")])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("ids.txt", "2106.09685\n1706.03762\n", "looks like a list of identifiers"),
        ("notes.txt", "shopping\nmilk\n", "unrecognised '.txt' file"),
        ("data.bin", "\x00\x01", "unrecognised '.bin' file"),
        ("fake.pdf", "title,abstract\nA,B\n", None),  # content wins over the extension
    ],
)
def test_detection_by_content(tmp_path: Path, name: str, content: str, message: str | None) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    if message is None:
        assert detect(path).name == "csv"
        return
    with pytest.raises(InputError, match=message) as err:
        parse_paths([path])
    assert "bibtex (.bib .bibtex)" in str(err.value) or "identifiers" in message


def test_mixed_folder_ingests_to_five_distinct_papers(tmp_path: Path) -> None:
    folder = tmp_path / "library"
    shutil.copytree(LIB, folder)
    lora_pdf(folder / "lora.pdf")
    result = parse_paths([folder])
    # zotero.bib 2 + mendeley.bib 2 + endnote.ris 2 + scopus.csv 2 + lora.pdf 1 = 9 records;
    # Attention (bib + RIS by DOI), LoRA (2 bib + PDF by arXiv id/title), Mamba (RIS + CSV by
    # title): 5 distinct papers.
    assert result.records == 9
    assert len(result.papers) == 5
    assert result.merged + result.duplicates == 4
    lora = next(p for p in result.papers if p.arxiv_id == "2106.09685")
    assert lora.sections and len(lora.authors) == 3  # the PDF's text, the BibTeX's authors
    assert result.formats == {"bibtex": 2, "ris": 1, "csv": 1, "pdf": 1}
