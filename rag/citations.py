"""Citation format and refusal phrase: the single source of truth.

Prompts, the answer parser, the verifier, the evaluator and the tests all import these constants;
nothing else spells them out.
"""

from __future__ import annotations

import re

#: The exact sentence an answer consists of when the papers do not answer the question.
REFUSAL_PHRASE = "The provided papers do not answer this question."

#: How one citation is written after a sentence: ``[n]``; several: ``[1][3]`` or ``[1, 3]``.
CITATION_FORMAT = "[{n}]"

#: Matches one citation group such as ``[2]`` or ``[1, 3]``; group 1 holds the numbers.
CITATION_RE = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def format_citations(numbers: list[int]) -> str:
    """``[1, 3]`` -> ``"[1][3]"``."""
    return "".join(CITATION_FORMAT.format(n=n) for n in numbers)


def is_refusal(text: str) -> bool:
    """True when ``text`` is (or starts with) the refusal phrase, ignoring case and spacing."""
    norm = " ".join(text.lower().split())
    return norm.startswith(REFUSAL_PHRASE.lower().rstrip("."))
