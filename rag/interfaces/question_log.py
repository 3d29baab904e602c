"""The question log: every ask, summarize and chat turn, from the CLI, the server or MCP, as one
row of a SQLite file (``HOME/questions.sqlite3``), like ``llm logs``.

A row holds the question, the checked answer, its citations, the backend, timings and tokens, and
the whole answer as JSON (so a chat can be resumed). ``RAG_LOG=false`` turns logging off. Writes
open their own connection (SQLite serialises writers; ``timeout`` waits out a busy file), so one
log serves many threads and processes. A failed write never fails the answer it records.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from rag.schema import Answer

if TYPE_CHECKING:
    from rag.settings import Settings

FILE_NAME = "questions.sqlite3"
Kind = Literal["ask", "summarize", "chat"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    via TEXT NOT NULL,
    kind TEXT NOT NULL,
    conversation TEXT,
    question TEXT NOT NULL,
    standalone TEXT,
    answer TEXT NOT NULL,
    refused INTEGER NOT NULL,
    citations TEXT NOT NULL,
    backend TEXT NOT NULL,
    timings_ms TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    answer_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_conversation ON turns (conversation, id);
"""


class LogEntry(BaseModel):
    """One logged turn (the ``rag logs --json`` contract)."""

    id: int
    ts: float = Field(description="Unix time the answer was logged.")
    via: str = Field(description="cli, http, openai or mcp.")
    kind: str = Field(description="ask, summarize or chat.")
    conversation: str | None = None
    question: str
    standalone: str | None = Field(default=None, description="A chat turn's rewritten question.")
    answer: str
    refused: bool
    citations: list[dict[str, Any]]
    backend: str
    timings_ms: dict[str, float]
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def new_conversation_id() -> str:
    return uuid.uuid4().hex[:12]


class QuestionLog:
    """The log file of one library home."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False

    @classmethod
    def of(cls, settings: Settings) -> QuestionLog | None:
        """The library's log, or None when ``RAG_LOG`` is off."""
        return cls(settings.resolved_home() / FILE_NAME) if settings.log else None

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        if not self._ready:
            conn.executescript(SCHEMA)
            self._ready = True
        return conn

    def record(
        self,
        answer: Answer,
        *,
        via: str,
        kind: Kind,
        question: str | None = None,
        conversation: str | None = None,
        standalone: str | None = None,
    ) -> int | None:
        """Append one turn; returns its id (None if the write failed: a warning on stderr)."""
        usage = answer.usage
        row = (
            time.time(),
            via,
            kind,
            conversation,
            question if question is not None else answer.question,
            standalone,
            answer.answer,
            int(answer.refused),
            json.dumps([c.model_dump() for c in answer.citations], ensure_ascii=False),
            answer.backend,
            json.dumps(answer.timings_ms),
            usage.prompt_tokens if usage else None,
            usage.completion_tokens if usage else None,
            answer.model_dump_json(),
        )
        try:
            with closing(self._connect()) as conn, conn:
                cur = conn.execute(
                    "INSERT INTO turns (ts, via, kind, conversation, question, standalone, answer,"
                    " refused, citations, backend, timings_ms, prompt_tokens, completion_tokens,"
                    " answer_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                return cur.lastrowid
        except sqlite3.Error as e:
            print(f"Warning: could not write the question log {self.path}: {e}", file=sys.stderr)
            return None

    def _select(self, where: str, args: tuple[Any, ...], limit: int) -> list[sqlite3.Row]:
        if not self.path.exists():
            return []
        with closing(self._connect()) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(
                f"SELECT * FROM turns {where} ORDER BY id DESC LIMIT ?", (*args, limit)
            ).fetchall()
        return list(reversed(rows))

    def recent(self, n: int = 10) -> list[LogEntry]:
        """The last ``n`` turns, oldest first."""
        return [entry_of(r) for r in self._select("", (), n)]

    def conversation(self, conversation: str, limit: int = 50) -> list[tuple[LogEntry, Answer]]:
        """A conversation's turns, oldest first, with their full answers (to resume a chat)."""
        rows = self._select("WHERE conversation = ?", (conversation,), limit)
        return [(entry_of(r), Answer.model_validate_json(r["answer_json"])) for r in rows]

    def last_conversation(self) -> str | None:
        rows = self._select("WHERE conversation IS NOT NULL", (), 1)
        return str(rows[0]["conversation"]) if rows else None


def entry_of(row: sqlite3.Row) -> LogEntry:
    return LogEntry(
        id=row["id"],
        ts=row["ts"],
        via=row["via"],
        kind=row["kind"],
        conversation=row["conversation"],
        question=row["question"],
        standalone=row["standalone"],
        answer=row["answer"],
        refused=bool(row["refused"]),
        citations=json.loads(row["citations"]),
        backend=row["backend"],
        timings_ms=json.loads(row["timings_ms"]),
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
    )


def log_answer(
    settings: Settings,
    answer: Answer,
    *,
    via: str,
    kind: Kind,
    question: str | None = None,
    conversation: str | None = None,
    standalone: str | None = None,
) -> None:
    """Record a turn in the library's log, unless ``RAG_LOG=false``."""
    log = QuestionLog.of(settings)
    if log is not None:
        log.record(
            answer,
            via=via,
            kind=kind,
            question=question,
            conversation=conversation,
            standalone=standalone,
        )
