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
from typing import TYPE_CHECKING

from rag.answer import CONTEXT_MARKER, terms

if TYPE_CHECKING:
    from rag.library import Library
    from rag.schema import Answer

ANAPHORA_RE = re.compile(
    r"\b(it|its|they|them|their|theirs|this|that|these|those|he|she|there|the same|"
    r"the (method|model|paper|approach|authors|study|framework|technique|dataset|benchmark))\b",
    re.IGNORECASE,
)
HISTORY_TURNS = 3


@dataclass
class Turn:
    message: str
    standalone: str
    answer: Answer
    subject: str = ""  # the self-contained question this turn follows up on (or is)


@dataclass
class ChatSession:
    lib: Library
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
        from rag.llm import make_llm

        llm = make_llm(self.lib.settings)
        if llm is not None:
            from rag.prompts import load_prompt

            history = "\n".join(
                f"User: {t.message}\nAssistant: {t.answer.answer}"
                for t in self.history[-HISTORY_TURNS:]
            )
            messages = load_prompt("condense").render(history=history, question=message)
            text = llm.complete(messages, max_tokens=120).text.strip()
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            return lines[0] if lines else message
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

    def ask(self, message: str, *, on_delta: Callable[[str], None] | None = None) -> Answer:
        standalone = self.condense(message)
        answer = self.lib.ask(standalone, on_delta=on_delta)
        subject = self.history[-1].subject if self.is_follow_up(message) else standalone
        self.history.append(Turn(message, standalone, answer, subject))
        return answer
