"""Identity across separate ingests: a paper ingested again from another source (BibTeX, then
a PDF, or the reverse) is merged into the stored one, keeps its id, and is stored once.
Uses the FakeEmbedder (tests/fakes.py); Chroma, parsing and chunking are real."""

from __future__ import annotations

import shutil
from pathlib import Path

from rag.index.catalog import stored_papers
from tests.fakes import fake_library
from tests.test_readers import LIB, lora_pdf

ARXIV = "2106.09685"


def lora_rows(lib) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    return [m for m in lib.papers() if str(m["title"]).startswith("LoRA")]


def test_bibtex_then_pdf_is_one_paper(tmp_path: Path) -> None:
    bib = shutil.copy(LIB / "mendeley.bib", tmp_path / "mendeley.bib")
    pdf = lora_pdf(tmp_path / "lora.pdf")
    lib = fake_library(seed=False, home=tmp_path / "home")
    lib.ingest([bib], progress=False)
    (before,) = lora_rows(lib)
    report = lib.ingest([pdf], progress=False)
    assert (report.merged, report.merged_into_library) == (1, 1)
    assert (report.papers_added, report.papers_updated) == (0, 1)
    (after,) = lora_rows(lib)
    assert after["paper_id"] == before["paper_id"]  # the stored id is kept
    (paper,) = stored_papers(lib.store, [str(after["paper_id"])])
    assert paper.sections, "the PDF's full text was merged in"
    assert paper.authors == before["authors"].split("; ")
    assert paper.arxiv_id == ARXIV
    # The BibTeX again (unchanged) neither duplicates the paper nor drops the PDF's text.
    again = lib.ingest([bib], progress=False)
    assert again.papers_added == 0
    (paper,) = stored_papers(lib.store, [str(after["paper_id"])])
    assert paper.sections and len(lora_rows(lib)) == 1


def test_pdf_then_bibtex_is_one_paper(tmp_path: Path) -> None:
    bib = shutil.copy(LIB / "mendeley.bib", tmp_path / "mendeley.bib")
    pdf = lora_pdf(tmp_path / "lora.pdf")
    lib = fake_library(seed=False, home=tmp_path / "home")
    lib.ingest([pdf], progress=False)
    (before,) = lora_rows(lib)
    assert not before.get("authors")
    report = lib.ingest([bib], progress=False)
    assert report.merged_into_library == 1
    (after,) = lora_rows(lib)
    assert after["paper_id"] == before["paper_id"]
    (paper,) = stored_papers(lib.store, [str(after["paper_id"])])
    assert paper.sections and paper.authors  # full text kept, the BibTeX's authors added
    assert lib.stats().papers == report.papers_added + 1
