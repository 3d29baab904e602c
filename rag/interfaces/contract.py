"""The JSON contract shared by the CLI's ``--json`` output, the HTTP API and the MCP tools.

Answers are :class:`rag.schema.Answer` (``rag ask --json``); search results are
:class:`RankedHit` (``rag search --json``); statistics :class:`rag.schema.Stats`; ingest reports
:class:`rag.schema.IngestReport`. The request models bound every input (lengths, counts), so a
server can take them straight from the network.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_QUESTION = 2000  # characters of a question or topic
MAX_FILTER_VALUES = 50


class RankedHit(BaseModel):
    """One search result (``rag search --json``)."""

    rank: int
    paper_id: str
    title: str
    chunk_id: str
    score: float
    text: str


class FilterSpec(BaseModel):
    """Restrict retrieval to some papers (like ``--year``, ``--source``, ``--paper``)."""

    model_config = ConfigDict(extra="forbid")

    year: str | None = Field(
        default=None, max_length=20, description="2023, 2023..2024, 2023.. or ..2024."
    )
    source: list[str] | None = Field(
        default=None, max_length=MAX_FILTER_VALUES, description="Input file names."
    )
    paper: list[str] | None = Field(
        default=None, max_length=MAX_FILTER_VALUES, description="Paper ids."
    )


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUESTION)
    k: int | None = Field(default=None, ge=1, le=200, description="How many papers.")
    filters: FilterSpec | None = None


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    k: int | None = Field(default=None, ge=1, le=200, description="Passages to read.")
    filters: FilterSpec | None = None
    conversation: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Continue this conversation: the question is a follow-up, rewritten with "
        "the earlier turns before retrieval. The response carries the id to send next time.",
    )


class SummarizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1, max_length=MAX_QUESTION)
    papers: int = Field(default=8, ge=1, le=50, description="At most this many papers.")
    filters: FilterSpec | None = None


class Source(BaseModel):
    """A cited passage with what is known of its paper (authors, year, link)."""

    n: int
    paper_id: str
    title: str
    chunk_id: str
    text: str
    sentences: list[str] = Field(description="The passage split into its sentences.")
    authors: list[str] = Field(default_factory=list)
    year: int | None = None
    url: str | None = None
    doi: str | None = None
    source: str | None = Field(default=None, description="The input file it came from.")


class PaperInfo(BaseModel):
    """One paper of the library."""

    paper_id: str
    title: str
    authors: list[str] = Field(default_factory=list)
    year: int | None = None
    date: str | None = None
    url: str | None = None
    doi: str | None = None
    source: str | None = None
    chunks: int | None = Field(default=None, description="Its chunks (GET /papers/{id} only).")
    text: str | None = Field(default=None, description="The abstract (GET /papers/{id} only).")


class PaperList(BaseModel):
    total: int
    offset: int
    papers: list[PaperInfo]
