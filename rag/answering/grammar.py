"""Citation format and refusal phrase: the single source of truth.

Prompts, the answer parser, the verifier, the evaluator and the tests all import these constants;
nothing else spells them out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from rag.schema import DroppedSentence, TokenUsage
from rag.text import split_sentences

#: The exact sentence an answer consists of when the papers do not answer the question.
REFUSAL_PHRASE = "The provided papers do not answer this question."

#: How a "not reported" partial answer starts: the papers discuss the subject, not the asked
#: detail. The full form is ``PARTIAL_FORM.format(what=...)`` followed by the cited sentences.
PARTIAL_PREFIX = "The provided papers do not report"
PARTIAL_FORM = PARTIAL_PREFIX + " {what}. What they do report:"

#: How one citation is written after a sentence: ``[n]``; several: ``[1][3]`` or ``[1, 3]``.
CITATION_FORMAT = "[{n}]"

#: Matches one citation group such as ``[2]``, ``[1, 3]``, ``[1; 3]`` or a range ``[1-3]``;
#: group 1 holds the numbers (see :func:`numbers_in`).
CITATION_RE = re.compile(r"\[\s*(\d+(?:\s*[,;–-]\s*\d+)*)\s*\]")


def format_citations(numbers: list[int]) -> str:
    """``[1, 3]`` -> ``"[1][3]"``."""
    return "".join(CITATION_FORMAT.format(n=n) for n in numbers)


def is_partial(text: str) -> bool:
    """True when ``text`` starts with the partial-answer form (ignoring case and spacing)."""
    norm = " ".join(text.lower().split())
    return norm.startswith(PARTIAL_PREFIX.lower())


def is_refusal(text: str) -> bool:
    """True when ``text`` is (or starts with) the refusal phrase, ignoring case and spacing."""
    norm = " ".join(text.lower().split())
    return norm.startswith(REFUSAL_PHRASE.lower().rstrip("."))


# --- what a backend wrote -------------------------------------------------------------------


@dataclass
class DraftSentence:
    text: str
    citations: list[int]


@dataclass
class Draft:
    """A backend's reply: sentences citing sources by their 1-based number in the prompt."""

    sentences: list[DraftSentence]
    refused: bool = False
    usage: TokenUsage | None = None
    given: int | None = None  # how many sources the backend was shown (None: all)
    not_reported: str | None = None  # the backend says the asked detail is not in the sources


#: JSON schema for structured replies (response_format json_schema).
ANSWER_SCHEMA: dict[str, Any] = {
    "title": "cited_answer",
    "type": "object",
    "properties": {
        "refused": {"type": "boolean"},
        "sentences": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "citations": {"type": "array", "items": {"type": "integer"}},
                },
                "required": ["text", "citations"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["refused", "sentences"],
    "additionalProperties": False,
}

TEXT_FORMAT_INSTRUCTIONS = (
    "Write plain sentences, each followed by its citations like "
    f"{CITATION_FORMAT.format(n=1)}; no list of sources at the end."
)
JSON_FORMAT_INSTRUCTIONS = (
    'Reply with JSON only: {"refused": false, "sentences": [{"text": "...", "citations": [1]}]}. '
    'Put the citation numbers in "citations", not in "text". When the sources do not answer, '
    'reply {"refused": true, "sentences": []}.'
)

# "...end. [1][2] Next" -> "...end [1][2]. Next": citations after the full stop belong before it.
_TRAILING_CITES_RE = re.compile(rf"([.!?])((?:\s*{CITATION_RE.pattern})+)")


def numbers_in(marker_text: str) -> list[int]:
    """Every source number cited in ``marker_text``: ``"[1, 3][5-6]"`` -> ``[1, 3, 5, 6]``."""
    out: list[int] = []
    for group in CITATION_RE.findall(marker_text):
        for part in re.split(r"\s*[,;]\s*", group.strip()):
            bounds = [int(x) for x in re.split(r"\s*[–-]\s*", part) if x]
            first, last = bounds[0], bounds[-1]
            # A range "[2-4]" cites 2, 3 and 4; a reversed or huge one only its ends.
            out.extend(range(first, last + 1) if 0 <= last - first <= 20 else [first, last])
    return out


def escape_data(text: str) -> str:
    """Text that goes into a prompt as data (a passage, an earlier answer, a user message): it
    cannot close the fence it sits in (``</source>``, ``</conversation>``) or open a tag."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def strip_markers(text: str) -> str:
    """The sentence without its ``[n]`` markers."""
    clean = " ".join(CITATION_RE.sub(" ", text).split())
    return re.sub(r"\s+([.!?,;:])", r"\1", clean)


#: A blank line, or a new line that starts a list item, ends a sentence even without a full stop
#: (a sentence cut off by the token limit, a heading, a bullet): what follows is a new sentence.
_BLOCK_BREAK_RE = re.compile(r"\n[ \t]*\n\s*|\n[ \t]*(?:[-*•]|\d{1,2}[.)])[ \t]+")
_LEADING_BULLET_RE = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])[ \t]+")


def parse_text_reply(text: str) -> Draft:
    """Split a reply into sentences and the ``[n]`` citations each carries. A paragraph break or
    a list item starts a new sentence; a single line break is only a space."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if is_refusal(" ".join(text.split())):
        return Draft(sentences=[], refused=True)
    not_reported = None
    flat = " ".join(text.split())
    if is_partial(flat):  # "The provided papers do not report X. What they do report: ..."
        head, _, rest = flat.partition(".")
        not_reported = head[len(PARTIAL_PREFIX) :].strip() or "the asked detail"
        text = re.sub(r"^\s*What they (do )?report:\s*", "", rest.strip(), flags=re.IGNORECASE)
    sentences: list[DraftSentence] = []
    for block in _BLOCK_BREAK_RE.split(_LEADING_BULLET_RE.sub("", text)):
        block = _TRAILING_CITES_RE.sub(
            lambda m: f"{m.group(2)}{m.group(1)}", " ".join(block.split())
        )
        for raw in split_sentences(block):
            cites = numbers_in(raw)
            clean = strip_markers(raw)
            if clean and not re.fullmatch(r"[\W_]*", clean):
                sentences.append(DraftSentence(clean, cites))
            elif cites and sentences:  # citations alone on their own line: the sentence above's
                sentences[-1].citations.extend(cites)
    return Draft(sentences=sentences, not_reported=not_reported)


def parse_json_reply(text: str) -> Draft:
    """Parse a structured reply; raises :class:`BackendError` when it is not the schema."""
    from rag.errors import BackendError

    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(body)
        if not isinstance(data, dict) or not isinstance(data.get("sentences"), list):
            raise ValueError("no 'sentences' list")
        sentences = [
            DraftSentence(
                strip_markers(str(s["text"])),
                [int(n) for n in s.get("citations", [])] or numbers_in(str(s["text"])),
            )
            for s in data["sentences"]
        ]
    except (ValueError, TypeError, KeyError) as e:
        raise BackendError(f"the model's structured reply is not valid answer JSON ({e})") from None
    refused = bool(data.get("refused")) or any(is_refusal(s.text) for s in sentences)
    return Draft(sentences=[] if refused else sentences, refused=refused)


# --- checks before an answer is shown ---------------------------------------------------------


def check_citations(
    draft: Draft, n_sources: int
) -> tuple[list[DraftSentence], list[DroppedSentence]]:
    """Remove citations to sources that were not given; drop sentences left uncited."""
    kept: list[DraftSentence] = []
    dropped: list[DroppedSentence] = []
    for s in draft.sentences:
        valid = [n for n in dict.fromkeys(s.citations) if 1 <= n <= n_sources]
        if valid:
            kept.append(DraftSentence(s.text, valid))
            continue
        if s.citations:
            bad = format_citations(sorted(set(s.citations)))
            reason = f"cites {bad}, which is not among the {n_sources} sources given"
        else:
            reason = "no citation"
        dropped.append(DroppedSentence(text=s.text, citations=s.citations, reason=reason))
    return kept, dropped
