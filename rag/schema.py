"""Typed records shared by the pipeline stages: papers, chunks, hits, answers, citations."""

from __future__ import annotations

from pydantic import BaseModel, Field


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

    @property
    def text(self) -> str:
        return " ".join(self.abstract)


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


class Stats(BaseModel):
    """What a library holds."""

    papers: int
    chunks: int
    embedder: str
    location: str
    home: str
