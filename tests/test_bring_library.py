"""A library built from BibTeX, RIS, CSV and a PDF: metadata in hits and citations, author and
venue filters, unsatisfiable filters, papers/show/remove/export, BibTeX round trip."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.errors import InputError
from rag.index.filters import Filters
from rag.interfaces import library_cli
from rag.interfaces.cli import cli
from rag.interfaces.export import bibtex, cite_key
from tests.fakes import fake_library
from tests.test_readers import LIB, lora_pdf


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "library"
    shutil.copytree(LIB, out)
    lora_pdf(out / "lora.pdf")
    return out


def test_ingest_report_and_metadata_in_hits_and_citations(folder: Path) -> None:
    lib = fake_library(seed=False)
    report = lib.ingest([folder], progress=False)
    assert (report.records, report.papers_added) == (9, 5)
    assert report.merged + report.duplicates == 4
    assert report.title_only == 2  # the accented BibTeX entry, FlashAttention-2 from the CSV
    hits = lib.search("low-rank adapters frozen pretrained weights", k=5)
    lora = next(h for h in hits if h.paper_id == "arxiv:2106.09685")
    assert lora.metadata["authors"] == "Hu, Edward J.; Shen, Yelong; Wallis, Phillip"
    answer = lib.ask("What do low-rank adapters add at inference?", paper="arxiv:2106.09685")
    assert answer.citations, answer.answer
    c = answer.citations[0]
    assert (c.authors[0], c.year, c.arxiv_id) == ("Hu, Edward J.", 2021, "2106.09685")
    assert c.page in (1, 2)


def test_author_and_venue_filters_and_unsatisfiable_ones(folder: Path) -> None:
    lib = fake_library(seed=False)
    lib.ingest([folder], progress=False)
    assert {m["paper_id"] for m in lib.papers(lib.filters(author="dao"))} == {
        "doi:10.48550/arxiv.2307.08691",
        next(m["paper_id"] for m in lib.papers() if str(m["title"]).startswith("Mamba")),
    }
    hits = lib.search("attention", k=10, filters=lib.filters(venue="neural information"))
    assert {h.paper_id for h in hits} == {"doi:10.48550/arxiv.1706.03762"}
    with pytest.raises(InputError, match="no paper in this library has author matching 'Hinton'"):
        lib.filters(author="Hinton")
    with pytest.raises(
        InputError, match=r"no paper in this library is from 2024 \(years 2017..2023\)"
    ):
        lib.filters(year="2024")
    daily = fake_library(seed=False, home=folder.parent / "daily")
    daily.ingest([Path(__file__).parent / "data" / "tiny_daily.txt"], progress=False)
    with pytest.raises(InputError, match="no paper in this library has a year"):
        daily.filters(year="2024")


def test_author_venue_filters_select_the_same_chunks_on_both_sides(folder: Path) -> None:
    lib = fake_library(seed=False, chunk_tokens=40)
    lib.ingest([folder], progress=False)
    rows = lib.papers()
    for f in [
        Filters.make(author="Vaswani"),
        Filters.make(author=["gu", "müller"], year="2020.."),
        Filters.make(venue="arXiv"),
        Filters.make(venue="ICLR", author="Dao"),
    ]:
        assert f is not None
        f = f.bind(rows)
        in_chroma = {r["id"] for r in lib.store.get_chunks(f.where())}
        mask = lib.lexical.mask(f)
        assert mask is not None and in_chroma
        assert {cid for cid, keep in zip(lib.lexical.ids, mask, strict=True) if keep} == in_chroma
        assert in_chroma == {r["id"] for r in lib.store.get_chunks() if f.matches(r["metadata"])}


def test_bibtex_export_round_trips_into_a_fresh_library(folder: Path, tmp_path: Path) -> None:
    lib = fake_library(seed=False, home=tmp_path / "a")
    lib.ingest([folder], progress=False)
    from rag.index.catalog import stored_papers

    papers = stored_papers(lib.store, [str(m["paper_id"]) for m in lib.papers()])
    text = bibtex(papers)
    assert (
        "@article{vaswani2017attention," in text or "@inproceedings{vaswani2017attention," in text
    )
    assert cite_key(papers[0]) in text
    out = tmp_path / "refs.bib"
    out.write_text(text, encoding="utf-8")
    fresh = fake_library(seed=False, home=tmp_path / "b")
    report = fresh.ingest([out], progress=False)
    assert (report.records, report.papers_added, report.merged + report.duplicates) == (5, 5, 0)
    again = {m["paper_id"]: m for m in fresh.papers()}
    for m in lib.papers():
        for key in ("title", "authors", "year", "venue", "doi", "arxiv_id"):
            assert again[m["paper_id"]].get(key) == m.get(key), (m["paper_id"], key)
    assert fresh.ingest([out], progress=False).papers_added == 0  # no duplicates


def test_papers_show_remove_export_commands(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = fake_library(seed=False)
    lib.ingest([folder], progress=False)
    monkeypatch.setattr(library_cli, "open_lib", lambda *a, **k: lib)
    runner = CliRunner()
    out = runner.invoke(cli, ["papers", "--author", "vaswani"])
    assert (
        out.exit_code == 0 and "Attention Is All You Need" in out.output and "Vaswani" in out.output
    )
    out = runner.invoke(cli, ["show", "arxiv:2106.09685"])
    assert "2 Method  [p. 1]" in out.output and "authors: Hu, Edward J.;" in out.output
    out = runner.invoke(cli, ["export", "--format", "ris", "--venue", "ICLR"])
    assert out.output.startswith("TY  - JOUR\nTI  - FlashAttention-2")
    # Mamba is in the CSV too, but its merged record keeps the richer listing's source (RIS)
    out = runner.invoke(cli, ["remove", "--source", "scopus.csv"])
    assert out.exit_code == 0 and "Removed 1 paper(s), 1 chunk(s)" in out.output, out.output
    assert len(lib.papers()) == 4
    out = runner.invoke(cli, ["remove", "nope"])
    assert out.exit_code == 1 and "no paper in the library has paper id 'nope'" in out.output
    assert not (set(lib.lexical.paper_ids) - {m["paper_id"] for m in lib.papers()})
