"""Text primitives shared by every stage: one place for sentences, cleaning, terms, stopwords,
stemmers and the BM25 tokenizer.

Three stopword lists live here because they serve three different measurements, each tuned and
measured on its own (changing one moves that stage's figures):

* :data:`QUESTION_STOPWORDS` (with :func:`terms` and :func:`light_stem`): the content terms of a
  question or answer sentence, for answer selection and the support check;
* :data:`FACT_STOPWORDS` (with :func:`content_terms` in :mod:`rag.eval.metrics` and
  :func:`plural_stem`): whether an answer conveys a key fact (the evaluation's measure, kept
  stable so runs stay comparable);
* :data:`STOPWORD_SETS` (with :class:`Tokenizer`): BM25 terms (the choices measured in
  ``bench/retrieval.py``; Snowball stemming by default).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import tiktoken

# --- sentences and cleaning ----------------------------------------------------------------------

LATEX_CMD_RE = re.compile(
    r"\\?\b(?:texttt|textbf|textit|textsc|textrm|textsf|emph|mathrm|mathbf|mathcal|mathit|"
    r"mathsf|mathbb|boldsymbol|text|underline)\{([^{}]*)\}"
)

_ABBREVIATIONS = frozenset((
    "e.g.", "i.e.", "et al.", "vs.", "fig.", "figs.", "eq.", "eqs.", "approx.", "resp.", "cf.",
    "no.", "dr.", "mr.", "ms.", "prof.", "sec.", "tab.", "ref.", "refs.", "ca.", "viz.", "al.",
))  # fmt: skip
# "tasks.While": a sentence glued to the next with no space (seen in the Daily Papers dumps).
_GLUED_RE = re.compile(r"(?<=[a-z\)\]%][a-z\)\]%])([.!?])(?=[A-Z][a-z])")
_SPLIT_RE = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Split an abstract into sentences; handles glued sentences and common abbreviations."""
    text = " ".join(text.split())
    if not text:
        return []
    text = _GLUED_RE.sub(r"\1 ", text)
    pieces: list[str] = []
    start = 0
    for m in _SPLIT_RE.finditer(text):
        candidate = text[start : m.start()].rstrip()
        last_word = candidate.rsplit(" ", 1)[-1].lower().lstrip("([\"'")
        if last_word in _ABBREVIATIONS or re.fullmatch(r"[a-z]\.", last_word):
            continue  # "et al. The", "e.g. Foo", initials: not a sentence end
        pieces.append(text[start : m.end()].strip())
        start = m.end()
    pieces.append(text[start:].strip())
    return [p for p in pieces if p]


# Terminal control: escape sequences (CSI "ESC [ ... m", OSC "ESC ] ... BEL", other ESC x),
# C0/C1 control characters and bidirectional overrides. Paper text never needs them, and printed
# raw they retitle the window, write the clipboard (OSC 52) or clear the screen.
_ESCAPE_RE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS, SOS, PM, APC strings
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|[\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # 8-bit OSC etc.
    r"|\x1b[ -/]*[0-~]?"  # other escapes (and a lone ESC)
)
CONTROL_RE = re.compile("[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069]")


def strip_controls(text: str) -> str:
    """``text`` without terminal escape sequences, control characters (tabs and newlines are
    kept) or bidirectional overrides: safe to print on a terminal."""
    if not CONTROL_RE.search(text):
        return text
    return CONTROL_RE.sub("", _ESCAPE_RE.sub("", text))


def clean_text(text: str) -> str:
    """Normalise unicode and whitespace; strip LaTeX residue such as ``texttt{D}ual`` and
    terminal control (:func:`strip_controls`)."""
    text = strip_controls(unicodedata.normalize("NFKC", text))
    prev = None
    while prev != text:  # nested commands
        prev, text = text, LATEX_CMD_RE.sub(r"\1", text)
    return " ".join(text.split())


# --- content terms (answers, support) ----------------------------------------

_QUESTION_STOPWORDS_TEXT = """
    a an the of in on for to and or with by from as at is are was were be been being do
    does did what which who whom whose when where why how that this these those it its
    their there they them we our you your he she his her can could would should may might
    will shall about into than then so such not no yes any all each both more most other
    some paper papers study studies work works propose proposed proposes method methods
    approach approaches use used using uses show shows shown author authors say says said
    tell according describe described new novel based between also well only over under
    via per
"""
QUESTION_STOPWORDS = frozenset(_QUESTION_STOPWORDS_TEXT.split())


def terms(text: str) -> list[str]:
    """Content terms: lower-case words minus stopwords, lightly stemmed."""
    out = []
    for word in re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text.lower()):
        parts = [word, *word.split("-")] if "-" in word else [word]
        for w in parts:
            if w in QUESTION_STOPWORDS or len(w) < 2:
                continue
            out.append(light_stem(w))
    return out


def light_stem(word: str) -> str:
    for suffix, min_len in (("ies", 5), ("ing", 6), ("ed", 5), ("es", 5), ("s", 4)):
        if word.endswith(suffix) and len(word) >= min_len:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


#: Joins a chat follow-up to the context it refers to: "Does it scale? (regarding: Title; ...)".
#: The context steers retrieval and similarity; words the user typed drive the lexical match.
CONTEXT_MARKER = " (regarding: "


# --- key-fact terms (evaluation) ----------------------------------------

_FACT_STOPWORDS_TEXT = """
    a an the of in on for to and or with by from as at is are was were be been being do does
    did that this these those it its their there they them we our us you your which who whom
    what when where why how than then so such not no can could would should may might will
    shall into onto over under via per about also only both each all any more most other some
    while whereas but if thus hence
"""
FACT_STOPWORDS = frozenset(_FACT_STOPWORDS_TEXT.split())


def plural_stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


# --- BM25 terms ------------------------------------------------------------

# The classic English stopword list (NLTK's, as in many IR toolkits), minus words that carry
# meaning in scientific claims ("no", "not", "nor", "more", "most", "against", "few", "same",
# "between", "after", "before" ...: negation and comparison).
_BM25_STOPWORDS_TEXT = """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves what which who whom this
    that these those am is are was were be been being have has had having do does did doing a an
    the and but if or because as until while of at by for with about into through during to from
    in out on off over under again further then once here there when where why how all any both
    each other some such own so than too very s t can will just don should now d ll m o re ve y
    ain also us via thus hence whether may might must shall would could
"""
STOPWORD_SETS: dict[str, frozenset[str]] = {
    "english": frozenset(_BM25_STOPWORDS_TEXT.split()),
    "lucene": frozenset(
        "a an and are as at be but by for if in into is it no not of on or such that the their "
        "then there these they this to was will with".split()
    ),
    "none": frozenset(),
}

_WORD_RE = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")


@dataclass(frozen=True)
class TokenizerConfig:
    """How text becomes BM25 terms (the choices measured in ``bench/retrieval.py``)."""

    stem: Literal["snowball", "porter", "light", "none"] = "snowball"
    stopwords: Literal["english", "lucene", "none"] = "english"
    compounds: bool = False

    @property
    def key(self) -> str:
        return f"{self.stem}-{self.stopwords}-{int(self.compounds)}"


@functools.lru_cache(maxsize=8)
def _stemmer(kind: str) -> Any:
    if kind == "snowball":
        from rag.stem import english_stemmer  # NLTK's, without importing all of NLTK

        return functools.lru_cache(maxsize=200_000)(english_stemmer())
    if kind == "porter":
        from nltk.stem.porter import PorterStemmer

        return functools.lru_cache(maxsize=200_000)(PorterStemmer().stem)
    if kind == "light":
        return light_stem
    return None


class Tokenizer:
    """Text -> BM25 terms, per a :class:`TokenizerConfig`."""

    def __init__(self, config: TokenizerConfig | None = None) -> None:
        self.config = config or TokenizerConfig()
        self._stop = STOPWORD_SETS[self.config.stopwords]
        self._stem = _stemmer(self.config.stem)

    def __call__(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text).casefold()
        stop, stem_fn = self._stop, self._stem
        out: list[str] = []
        for word in _WORD_RE.findall(text):
            word = word.replace("’", "'")
            if "-" in word or "'" in word:
                parts = [p for p in re.split(r"[-']", word) if p]
                if parts and parts[-1] == "s" and "'" in word:  # possessive: "alzheimer's"
                    parts = parts[:-1]
                words = parts
                if self.config.compounds and len(parts) > 1:
                    words = [*parts, "".join(parts)]
            else:
                words = [word]
            for w in words:
                if w in stop or (len(w) < 2 and w.isascii() and not w.isdigit()):
                    continue
                out.append(stem_fn(w) if stem_fn is not None else w)
        return out


# --- LLM tokens (prompt packing, cost) ----------------------------------------------------------

#: tiktoken encoding for prompt budgets; its BPE file ships inside llama-index-core.
ENCODING = "cl100k_base"


def _bundled_tiktoken_cache() -> Path | None:
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "_static" / "tiktoken_cache"
    return folder if folder.is_dir() else None


@functools.lru_cache(maxsize=4)
def token_encoder(name: str = ENCODING) -> tiktoken.Encoding:
    """A tiktoken encoding loaded from the files bundled with llama-index-core (no network)."""
    if not os.environ.get("TIKTOKEN_CACHE_DIR"):
        folder = _bundled_tiktoken_cache()
        if folder is not None:
            os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
    import tiktoken

    return tiktoken.get_encoding(name)


def count_tokens(text: str) -> int:
    return len(token_encoder().encode(text, disallowed_special=()))
