"""Typed records shared by the pipeline stages: papers, chunks, hits, answers, citations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field


class Section(BaseModel):
    """A piece of a paper's full text (from a PDF): one heading's sentences on one page."""

    heading: str = ""
    page: int | None = None
    sentences: list[str] = Field(default_factory=list)


class Paper(BaseModel):
    """One paper as parsed from an input file, before chunking."""

    paper_id: str
    title: str
    abstract: list[str] = Field(description="The abstract as sentences.")
    source: str = Field(default="", description="Where it came from: file name.")
    location: str = Field(default="", description="file:line of the record, for error messages.")
    date: str | None = None
    year: int | None = None
    authors: list[str] = Field(default_factory=list)
    url: str | None = None
    doi: str | None = None
    venue: str | None = None
    arxiv_id: str | None = None
    pmid: str | None = None
    sections: list[Section] = Field(
        default_factory=list, description="Full text by section and page (PDFs); may be empty."
    )
    extra: dict[str, str] = Field(
        default_factory=dict, description="Other fields of the record (e.g. unknown CSV columns)."
    )
    merged_from: list[str] = Field(
        default_factory=list, description="Locations of other listings merged into this one."
    )

    @property
    def text(self) -> str:
        return " ".join([*self.abstract, *(s for sec in self.sections for s in sec.sentences)])

    @property
    def title_only(self) -> bool:
        return not self.abstract and not self.sections


#: Bibliographic fields added to hits and citations (``--json``) from the chunk metadata.
BIB_FIELDS = ("authors", "year", "venue", "doi", "url", "arxiv_id")


def stored_year(value: object) -> int | None:
    """A year read back from stored metadata: an int of at most 4 digits, else None. Reading
    never trusts the store (a bad value written by an older version must not brick the
    library)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        year = int(value)
    except (ValueError, OverflowError):
        return None
    return year if 0 < year < 10_000 else None


def stored_str(value: object) -> str | None:
    """A string field read back from stored metadata (None for missing or empty)."""
    return str(value) if value not in (None, "") else None


def bib_fields(meta: Mapping[str, object]) -> dict[str, Any]:
    """authors (a list), year, venue, doi, url and arxiv_id of a chunk's stored metadata."""
    authors = meta.get("authors")
    year = meta.get("year")
    out: dict[str, Any] = {
        "authors": [a.strip() for a in str(authors).split(";") if a.strip()] if authors else []
    }
    out["year"] = stored_year(year)
    for key in ("venue", "doi", "url", "arxiv_id"):
        value = meta.get(key)
        out[key] = str(value) if value not in (None, "") else None
    return out


class Chunk(BaseModel):
    """A sentence-aligned, token-budgeted piece of one paper's abstract."""

    chunk_id: str
    paper_id: str
    title: str
    text: str = Field(description="The passage itself (sentences joined by spaces).")
    sentence_start: int = Field(description="Index of the first sentence (unit) in the chunk.")
    sentence_end: int = Field(description="Index one past the last sentence in the chunk.")
    n_tokens: int = Field(description="Tokens of the embedded text, in the embedder's tokens.")
    chunk_index: int
    sent_offsets: str = Field(default="", description="Start offset of each sentence in text.")
    page: int | None = Field(default=None, description="PDF page the passage starts on.")
    section: str = Field(default="", description="Section heading of full text ('' abstract).")


class Hit(BaseModel):
    """A retrieved chunk with its score (higher is better)."""

    chunk_id: str
    paper_id: str
    title: str
    text: str
    score: float
    metadata: dict[str, object] = Field(default_factory=dict)


class Citation(BaseModel):
    n: int = Field(description="The number used in the answer's [n] markers.")
    paper_id: str
    title: str
    chunk_id: str
    text: str = Field(description="The cited passage.")
    authors: list[str] = Field(default_factory=list, description="As 'Family, Given'.")
    year: int | None = None
    venue: str | None = None
    doi: str | None = None
    url: str | None = None
    arxiv_id: str | None = None
    page: int | None = Field(default=None, description="PDF page of the passage, if any.")


class AnswerSentence(BaseModel):
    text: str
    citations: list[int] = Field(default_factory=list)
    supported: bool | None = Field(
        default=None, description="Verdict of the support check; None when not checked."
    )
    support_score: float | None = None


class DroppedSentence(BaseModel):
    """An answer sentence that failed verification (removed, or shown marked)."""

    text: str
    citations: list[int] = Field(default_factory=list, description="As the model wrote them.")
    reason: str = Field(description="Why: uncited, cites a source not given, unsupported...")
    support_score: float | None = None


class TokenUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float | None = Field(default=None, description="Estimated; None if price unknown.")


class NearPaper(BaseModel):
    paper_id: str
    title: str
    score: float


class Agreement(BaseModel):
    """Summaries: two papers reporting on the same thing, and whether they agree or differ."""

    papers: list[int] = Field(description="The two papers, by their citation numbers [n].")
    verdict: Literal["agree", "differ"]
    check: Literal["numbers", "stance"] = Field(
        description="numbers: the same metric on the same dataset, numbers compared; stance: "
        "similar sentences judged by the stance model at a cut precise on held-out SciFact."
    )
    about: str = Field(description='What both report on, e.g. "accuracy on ImageNet".')
    values: list[str] = Field(default_factory=list, description="numbers: as each paper writes.")
    text: str = Field(description="The finding as the terminal prints it.")


class Answer(BaseModel):
    question: str
    answer: str
    refused: bool
    sentences: list[AnswerSentence]
    citations: list[Citation]
    backend: str
    timings_ms: dict[str, float] = Field(default_factory=dict)
    nearest: list[NearPaper] = Field(
        default_factory=list, description="The nearest papers retrieved (shown with a refusal)."
    )
    support: float | None = Field(
        default=None,
        description="Share of the written sentences that their citations support (verification); "
        "None when nothing was checked.",
    )
    dropped: list[DroppedSentence] = Field(
        default_factory=list, description="Sentences that failed verification."
    )
    usage: TokenUsage | None = Field(default=None, description="LLM tokens and estimated cost.")
    partial: bool = Field(
        default=False,
        description="The papers discuss the question's subject but do not report the asked "
        "detail: `refused` is true, and `sentences` / `citations` say what they do report.",
    )
    not_reported: str | None = Field(
        default=None, description="With `partial`: what was asked for and not found."
    )
    papers_considered: int | None = Field(
        default=None, description="Summaries: papers retrieved as candidates for the topic."
    )
    papers_used: int | None = Field(
        default=None, description="Summaries: papers the summary cites (off-topic ones dropped)."
    )
    agreement: list[Agreement] | None = Field(
        default=None,
        description="Summaries: where two papers report on the same thing, whether they agree or "
        "differ (only where the check can tell); None when not a summary.",
    )
    agreement_checked: int | None = Field(
        default=None,
        description="Summaries: pairs of sentences from different papers found to be about the "
        "same thing and so checked for agreement.",
    )
    addresses: float | None = Field(
        default=None,
        description="Share of the supported sentences that address the question (the question "
        "check); None when nothing was checked.",
    )


class IngestReport(BaseModel):
    """What an ingest did."""

    files: int
    records: int
    duplicates: int
    papers_added: int
    papers_updated: int
    papers_unchanged: int
    chunks_written: int
    skipped: list[str]
    seconds: float
    merged: int = Field(default=0, description="Records merged into another listing of a paper.")
    merged_into_library: int = Field(
        default=0,
        description="Of ``merged``: records merged into a paper the library already held.",
    )
    title_only: int = Field(default=0, description="Papers kept with a title but no text.")
    fetched: int = Field(default=0, description="`rag add`: lookup requests made (not retries).")
    from_cache: int = Field(
        default=0, description="`rag add`: identifiers answered from the lookup cache."
    )
    formats: dict[str, int] = Field(default_factory=dict, description="Files per input format.")
    warnings: list[str] = Field(
        default_factory=list,
        description="Records kept with a caveat, e.g. an id listed twice with different texts.",
    )


class Stats(BaseModel):
    """What a library holds."""

    papers: int
    chunks: int
    embedder: str
    location: str
    home: str
