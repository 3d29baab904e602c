"""Chat over the papers: a history, and follow-ups rewritten into standalone questions.

With an LLM backend the rewrite uses ``prompts/condense``. The extractive backend has no model to
write with, so it rewrites by rule: a follow-up that refers back ("it", "they", "this method"...)
or is too short to search on its own gets the subject of the previous turn attached, namely the
previous standalone question and the title of the paper its answer cited first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from rag.answering.grammar import escape_data, is_refusal
from rag.text import CONTEXT_MARKER, terms

if TYPE_CHECKING:
    from rag.answering.backend import Backend
    from rag.answering.llm import LLM
    from rag.index.filters import Filters
    from rag.schema import Answer

ANAPHORA_RE = re.compile(
    r"\b(it|its|they|them|their|theirs|this|that|these|those|he|she|there|the same|"
    r"the (method|model|paper|approach|authors|study|framework|technique|dataset|benchmark))\b",
    re.IGNORECASE,
)
HISTORY_TURNS = 3
MAX_REWRITE = 400  # characters: a longer "question" is the model rambling, or obeying a payload


class Asks(Protocol):
    """What a chat needs of a pipeline (:class:`rag.pipeline.Pipeline` is one)."""

    backend: Backend
    condenser: LLM | None

    def ask(
        self,
        question: str,
        *,
        filters: Filters | None = None,
        search_query: str | None = None,
        on_delta: Callable[[str], None] | None = None,
    ) -> Answer: ...


@dataclass
class Turn:
    message: str
    standalone: str
    answer: Answer
    subject: str = ""  # the self-contained question this turn follows up on (or is)


@dataclass
class ChatSession:
    """One conversation over a pipeline. Its history is its own: sessions do not share state."""

    pipeline: Asks
    history: list[Turn] = field(default_factory=list)

    def reset(self) -> None:
        self.history.clear()

    @property
    def last(self) -> Turn | None:
        return self.history[-1] if self.history else None

    def condense(self, message: str) -> str:
        """The standalone question to retrieve with."""
        if not self.history:
            return message
        llm = self.pipeline.condenser
        if llm is not None:
            from rag.answering.prompt import load_prompt

            history = "\n".join(  # data: escaped, so that no turn can close the fence
                f"User: {escape_data(t.message)}\nAssistant: {escape_data(t.answer.answer)}"
                for t in self.history[-HISTORY_TURNS:]
            )
            folder = getattr(self.pipeline.backend, "prompts_dir", None)
            prompt = load_prompt("condense", folder)
            messages = prompt.render(history=history, question=escape_data(message))
            text = llm.complete(messages, max_tokens=120).text.strip()
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines and not is_refusal(lines[0]) and len(lines[0]) <= MAX_REWRITE:
                return lines[0]
            # A small model copies the last answer's refusal phrase (seen with SmolLM2-135M):
            # searching for that finds nothing of the conversation. The rule does better.
        return self.condense_by_rule(message)

    def is_follow_up(self, message: str) -> bool:
        return bool(self.history) and (
            ANAPHORA_RE.search(message) is not None or len(terms(message)) < 4
        )

    def condense_by_rule(self, message: str) -> str:
        if not self.is_follow_up(message):
            return message  # a new, self-contained question
        last = self.history[-1]
        context = [last.subject]
        cited = next(
            (t.answer.citations[0].title for t in reversed(self.history) if t.answer.citations),
            None,
        )
        if cited:
            context.insert(0, cited)
        return f"{message}{CONTEXT_MARKER}{'; '.join(context)})"

    def ask(
        self,
        message: str,
        *,
        on_delta: Callable[[str], None] | None = None,
        filters: Filters | None = None,
    ) -> Answer:
        standalone = self.condense(message)
        answer = self.pipeline.ask(standalone, on_delta=on_delta, filters=filters)
        subject = self.history[-1].subject if self.is_follow_up(message) else standalone
        self.history.append(Turn(message, standalone, answer, subject))
        return answer
