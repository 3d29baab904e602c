"""What a question asks for, and whether a sentence answers it: the question-aware half of the
citation gate (:mod:`rag.answering.verify`), used by every backend.

A :class:`Focus` holds, for one question:

* ``kind``: the kind of answer it asks for: a ``quantity`` ("how much", "what accuracy"), a
  ``hardware`` name, an ``organization``, a ``person``, a ``year``, or ``general``;
* ``entities``: the specific names it mentions (acronyms, mixed-case or digit-bearing names such
  as ``GSM8K``, ``Llama2-70b``, ``bert2BERT``, quoted phrases);
* ``absent``: its content words that no chunk of the library contains (``speculative`` in "How
  much does speculative decoding speed up inference?"), when a :class:`Lexicon` is given: a
  question that asks for a specific detail (a number, hardware...) about something absent, and
  names nothing the library knows, is not answered;
* ``numbers``: the numbers it already states (they are not answers);
* ``scope``: ``many`` for "what do the papers say about X" and "which papers ..." questions.

:func:`judge` then says of a sentence (with the passage and title it cites) whether it
**addresses** the question (its paper mentions the names the question asks about) and whether it
**answers** it (it states an answer of the asked kind, next to the asked thing). A supported
sentence that does not address the question is dropped; when sentences address it but none
answers the asked kind, the answer becomes a "not reported" partial answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from rag.text import terms

Kind = Literal["quantity", "hardware", "organization", "person", "year", "name", "general"]

_QUANTITY_NOUNS = (
    r"accuracy|score|rate|speed-?ups?|improvements?|gains?|reductions?|f1|bleu|rouge|auc|error|"
    r"perplexity|percentage|fraction|proportion|share|number|size|latency|throughput|cost|"
    r"parameters|memory|ratio|performance|win[- ]rate|success rate|top-1|top-5|precision|recall"
)
#: Words that qualify an asked quantity without naming it ("what exact perplexity").
_QUALIFIERS = r"exact|precise|average|mean|overall|final|best|reported|total|peak|maximum|minimum"
_QUANTITY_Q = re.compile(
    rf"\b(how (many|much|large|big|fast|long|often|high|low|small|far)|by how|"
    rf"(what|which)(?:'s|’s| is| was| are| were)? (the )?((?:{_QUALIFIERS}) )?(\w+[- ])?"
    rf"({_QUANTITY_NOUNS})\b|"
    rf"(what|which) \S+ ({_QUANTITY_NOUNS})\b)",
    re.IGNORECASE,
)
_QUANTITY_WORDS = re.compile(rf"\b({_QUANTITY_NOUNS}|faster|slower|speed|fewer|less|more)\b", re.I)
#: The counted noun of "how many hours ...": the number stated next to it is the answer.
_COUNTED = re.compile(
    r"\bhow (?:many|much)\s+(?:[\w\-]+\s+)??([a-z][\w\-]{2,})\s+"
    r"(?:does|do|did|is|are|was|were|has|have|had|can|could|would|will)\b",
    re.I,
)
#: "How many [of BIG-bench's 204] tasks are ...": up to seven words after "how many".
_HOW_MANY = re.compile(r"\bhow many\s+((?:\S+\s+){0,6}\S+)", re.I)
#: A plural noun ("annotators", "GPUs"), not a possessive or a function word.
_PLURAL = re.compile(
    r"(?!(?:this|is|was|has|its|us|as|his|does|always|thus)\b)[A-Za-z][A-Za-z\-]*[^\Ws]s"
)
#: Counted nouns that are units of a difference ("how many points"): any near number answers.
_UNIT_NOUNS = frozenset("points point percent percentage times fold".split())
#: Number words, for "twelve datasets".
_NUMBER_WORDS = frozenset(
    "two three four five six seven eight nine ten eleven twelve dozen dozens hundred hundreds "
    "thousand thousands million millions billion billions".split()
)
#: "Which LLM plays ...", "what backbone is ...": the answer names a model. (Datasets are not
#: asked this way: an abstract often describes its data without naming it.)
_NAME_Q = re.compile(
    r"\b(which|what) (base |teacher |backbone |pretrained |pre-trained )?(llms?|language models?|"
    r"models?|backbones?|teachers?)\s+(does|do|did|"
    r"is|are|was|were|has|have|had|plays?|played|serves?|served|acts?|acted|generates?|"
    r"generated)\b",
    re.IGNORECASE,
)
_HARDWARE_Q = re.compile(
    r"\b((which|what) (kind of |type of )?(gpus?|hardware|tpus?|accelerators?|chips?|devices?)|"
    r"on (which|what) (gpu|hardware|tpu|accelerator|device|machine))\b",
    re.IGNORECASE,
)
_ORG_Q = re.compile(
    r"\b((which|what) (university|universities|institutions?|compan(y|ies)|labs?|"
    r"organi[sz]ations?)|affiliat\w*)\b",
    re.IGNORECASE,
)
_PERSON_Q = re.compile(
    r"\b(who (wrote|proposed|authored|introduced|developed|created)|which authors?|"
    r"names? of the authors?)\b",
    re.IGNORECASE,
)
_YEAR_Q = re.compile(r"\b(when was|in which year|what year)\b", re.IGNORECASE)
#: A question about the paper it is asked of ("What is the main contribution of this paper?").
ABOUT_PAPER_RE = re.compile(
    r"\b(this|the) (paper|work|study|article|preprint)\b|\bmain (contribution|idea|finding)s?\b|"
    r"\bwhat does (it|the paper) (do|propose|show|find)\b",
    re.IGNORECASE,
)
_MANY_Q = re.compile(
    r"\b(what do (the )?papers say|which (papers|works|studies|methods|approaches|models)|"
    r"what (approaches|methods|techniques) (are there|exist|have been)|(two|three|both|several) "
    r"(\w+ ){0,2}(papers|works|studies)|compare(?! (with|to|against)\b)|papers? (on|about)|"
    r"both|each)\b",
    re.IGNORECASE,
)

_HARDWARE_A = re.compile(
    r"\b([AHVLPT]\d{2,3}|RTX ?\d{4}|GTX ?\d{3,4}|TPU ?v?\d*|Titan \w+|Jetson \w+|MI\d{3}|Gaudi\d?|"
    r"Apple M\d|Raspberry Pi|FPGAs?|\d+ ?GB (GPU|VRAM)|(single|one|two|four|eight|\d+) "
    r"(\w+ )?(GPUs?|TPUs?|CPUs?))\b"
)
_ORG_A = re.compile(
    r"\b(University|Institute|Laborator(y|ies)|College|Academy|Inc\.|Corporation|Google|Microsoft|"
    r"Meta|OpenAI|DeepMind|NVIDIA|Amazon|Apple|IBM|Alibaba|Tencent|Baidu|Huawei|ByteDance)\b"
)
_PERSON_A = re.compile(r"\b[A-Z][a-z]+ (?:[A-Z]\. )?[A-Z][a-z]+ et al\.|\bet al\.")
_YEAR_A = re.compile(r"\b(19|20)\d{2}\b")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?(?:\s*%|x\b|×)?", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-'’]*[A-Za-z0-9]|[A-Za-z0-9]")
_QUOTED = re.compile(r"[\"“]([^\"”]{3,60})[\"”]")

#: Acronyms too generic to pin a question to a paper.
GENERIC = frozenset(
    "ai ml nlp llm llms lm lms gpu gpus cpu cpus tpu rl cnn cnns rnn rnns api nn dnn dnns gnn "
    "gnns qa sota vlm vlms mllm mllms gpt cv ir kv id".split()
)


#: Content terms too common in abstracts to anchor a number.
_COMMON_TERMS = frozenset(
    terms(
        "model models method result results performance perform data dataset datasets task tasks "
        "train training trained learn learning language large baseline baselines compare "
        "compared improve improves improvement achieve achieves report reported much many get "
        "reach reaches give gives need needs make makes large small"
    )
)

#: Words of asking, not of the subject.
_ASKING = frozenset("much many often long large report reported reach achiev give".split())


class Lexicon(Protocol):
    """Document frequencies in the library (the lexical index is one)."""

    def df_shares(self, text: str) -> list[tuple[str, float]]:
        """``(term, share of chunks containing it)`` for the terms of ``text``."""
        ...


def norm(text: str) -> str:
    """Lower case, letters and digits only: ``"Llama2-70b's"`` -> ``"llama270bs"``."""
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def entities_of(question: str) -> tuple[str, ...]:
    """The specific names a question mentions (normalised), in order."""
    out: list[str] = []
    for m in _QUOTED.finditer(question):
        out.append(norm(m.group(1)))
    for word in _WORD.findall(question):
        word = re.sub(r"['’]s$", "", word)
        word = re.sub(r"-(style|like|based|level|wise|aware|free|only|type)$", "", word, flags=re.I)
        core = word.strip("-_")
        if re.fullmatch(r"\d+(\.\d+)?[kKmMbBxX]?|\d+(?:[xX×]\d+)+", core):
            continue  # a quantity ("4M", "15k", "1024x1024"), not a name
        parts = [p for p in core.split("-") if p]
        words = [p.isalpha() and p.islower() for p in parts]
        if any(words) and all(w or p.lower() in GENERIC for w, p in zip(words, parts, strict=True)):
            continue  # "RL-trained", "LLM-generated": a generic acronym qualifying a word
        letters = re.sub(r"[^A-Za-z]", "", core)
        mixed = any(c.isupper() for c in core[1:]) and any(c.islower() for c in core)
        caps = len(letters) >= 2 and letters.isupper()
        digits = any(c.isdigit() for c in core) and any(c.isalpha() for c in core)
        if (mixed or caps or digits) and norm(core) not in GENERIC and len(norm(core)) >= 2:
            out.append(norm(core))
    return tuple(dict.fromkeys(e for e in out if e))


def numbers_of(text: str) -> set[str]:
    return {re.sub(r"[\s%x×,]", "", m.group(0).lower()) for m in _NUMBER.finditer(text)}


def kind_of(question: str) -> Kind:
    if _HARDWARE_Q.search(question):
        return "hardware"
    if _ORG_Q.search(question):
        return "organization"
    if _PERSON_Q.search(question):
        return "person"
    if _YEAR_Q.search(question):
        return "year"
    if _NAME_Q.search(question):
        return "name"
    if _QUANTITY_Q.search(question):
        return "quantity"
    return "general"


@dataclass(frozen=True)
class Focus:
    question: str
    kind: Kind = "general"
    entities: tuple[str, ...] = ()
    numbers: frozenset[str] = frozenset()
    absent: tuple[str, ...] = ()  # content words no chunk of the library contains
    scope: Literal["one", "many", "paper"] = "one"  # "paper": about the paper it is asked of
    quantity_words: tuple[str, ...] = field(default=())
    counted: tuple[str, ...] = ()  # "how many tasks": a new number must come just before "tasks"
    only_counts: bool = False  # it asks for nothing but counts (else any near number also does)

    def describe(self) -> str:
        """What was asked, for a "not reported" answer: ``"the quantity asked (GLUE score)"``."""
        what = {"quantity": "the number asked for", "hardware": "the hardware",
                "organization": "the institution", "person": "the people",
                "year": "the year", "name": "the name asked for",
                "general": "the asked detail"}[self.kind]  # fmt: skip
        return what


def analyse(question: str, lexicon: Lexicon | None = None) -> Focus:
    """The focus of ``question``; with a ``lexicon``, the content words no chunk contains are
    its ``absent`` terms. (Requiring the question's rarest present words in the cited passage
    was measured on the seed dev split and dropped: it refused 5 answerable questions, over
    words such as "made" or "built", and caught no near miss the other rules missed.)"""
    from rag.text import CONTEXT_MARKER, QUESTION_STOPWORDS

    asked = question.split(CONTEXT_MARKER)[0]
    absent: list[str] = []
    about_paper = bool(ABOUT_PAPER_RE.search(asked))
    asking = " ".join(w for w in _QUANTITY_WORDS.findall(asked))  # "share", "accuracy"...
    if lexicon is not None and not about_paper:
        asked_for = {t for t, _ in lexicon.df_shares(asking)} if asking else set()
        absent = [
            t
            for t, share in lexicon.df_shares(asked)
            if share == 0
            and len(t) >= 4
            and t not in QUESTION_STOPWORDS
            and t not in _ASKING
            and t not in asked_for
            and not re.fullmatch(r"[\d.,]+(?:x[\d.,]+)*[a-z]?", t)  # "30x30": a number
        ]
    return Focus(
        question=asked,
        kind=kind_of(asked),
        entities=entities_of(asked),
        numbers=frozenset(numbers_of(asked)),
        absent=tuple(dict.fromkeys(absent)),
        scope="paper" if about_paper else "many" if _MANY_Q.search(asked) else "one",
        quantity_words=tuple(
            dict.fromkeys(
                [
                    *(w.lower() for w in _QUANTITY_WORDS.findall(asked)),
                    *(m.group(1).lower() for m in _COUNTED.finditer(asked)),
                ]
            )
        ),
        counted=counted_nouns(asked),
        only_counts=not _QUANTITY_Q.search(re.sub(r"\bhow many\b", " ", asked, flags=re.I)),
    )


def counted_nouns(question: str) -> tuple[str, ...]:
    """What "how many" counts: the first plural noun after it ("tasks" in "How many of
    BIG-bench's 204 tasks are ...", "annotators" in "how many annotators labelled ..."), unless
    it is a unit of a difference ("how many points", "how many times faster"), without its "s"."""
    found = []
    for m in _HOW_MANY.finditer(question):
        words = [w.rstrip("?,.;:)") for w in m.group(1).split()]
        plural = [w for w in words if _PLURAL.fullmatch(w)]
        if plural and not _UNIT_NOUNS & {w.lower() for w in words[: words.index(plural[0]) + 1]}:
            found.append(_singular(plural[0]))
    return tuple(dict.fromkeys(found))


def _singular(word: str) -> str:
    word = norm(word)
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


@dataclass(frozen=True)
class Verdict:
    addresses: bool  # the cited paper is about what the question names
    answers: bool  # the sentence states an answer of the asked kind
    missing: tuple[str, ...] = ()  # asked names the cited text lacks
    reason: str = ""


def judge(
    focus: Focus, sentence: str, passages: Sequence[str], titles: Sequence[str] = ()
) -> Verdict:
    """Whether ``sentence`` (citing ``passages`` of papers titled ``titles``) addresses and
    answers the question of ``focus``."""
    context = norm(" ".join([*passages, *titles, sentence]))
    missing = tuple(e for e in focus.entities if e not in context)
    if focus.absent and not focus.entities and focus.kind != "general":
        # It asks for a specific detail about something this library never mentions.
        word = focus.absent[0]
        return Verdict(False, False, focus.absent, f"no paper here mentions {word!r}")
    # A question about several papers names several things: each sentence needs one of them.
    lacks_names = missing and (focus.scope != "many" or len(missing) == len(focus.entities))
    if lacks_names:
        return Verdict(False, False, missing, f"the cited text never mentions {missing[0]!r}")
    if focus.scope == "many":  # one paper's sentence need not hold the whole answer
        return Verdict(True, True)
    ok = answers_kind(focus, sentence)
    reason = "" if ok else f"does not state {focus.describe()}"
    return Verdict(True, ok, (), reason)


def answers_kind(focus: Focus, sentence: str) -> bool:
    """Whether ``sentence`` states an answer of the asked kind (always, for general questions)."""
    if focus.kind == "hardware":
        return bool(_HARDWARE_A.search(sentence))
    if focus.kind == "organization":
        return bool(_ORG_A.search(sentence))
    if focus.kind == "person":
        return bool(_PERSON_A.search(sentence))
    if focus.kind == "year":
        return any(m.group(0) not in focus.question for m in _YEAR_A.finditer(sentence))
    if focus.kind == "name":  # a name the question does not already give
        return any(e not in focus.entities for e in entities_of(sentence))
    if focus.kind == "quantity":
        if focus.counted and _new_count(focus, sentence):
            return True
        if focus.counted and focus.only_counts:  # "how many tasks": not a number of authors
            return False
        return _new_number_near(focus, sentence)
    return True


def _new_count(focus: Focus, sentence: str, window: int = 6) -> bool:
    """A number the question does not state, at most ``window`` words before a counted noun
    ("offers 1,087 hours", "40 professional-level CTF tasks", "twelve datasets")."""
    words = sentence.split()
    asked = {w.lower() for w in focus.question.split()}
    for j, word in enumerate(words):
        if _singular(word) not in focus.counted:
            continue
        for w in words[max(0, j - window) : j]:
            new = _stated(w) - focus.numbers
            if any(not (len(n) == 4 and n.startswith(("19", "20"))) for n in new):
                return True
            if w.lower() in _NUMBER_WORDS and w.lower() not in asked:
                return True
    return False


#: A name carrying a number ("Llama3-8b", "GPT-4", "CIFAR-100", "ResNet-50"): not a quantity.
_NAMED_NUMBER = re.compile(r"^\W*[A-Za-z][\w.]*-\d")


def _stated(word: str) -> set[str]:
    """The numbers ``word`` states, none for a name that carries a number."""
    return set() if _NAMED_NUMBER.match(word) else numbers_of(word)


def _specific_terms(question: str) -> set[str]:
    """The question's content terms, less the words every ML abstract uses."""
    return set(terms(question)) - _COMMON_TERMS


def _same(a: str, b: str) -> bool:
    """One word's stem is the other's start: "respons" (responses) and "response"."""
    return a == b or (min(len(a), len(b)) >= 4 and (a.startswith(b) or b.startswith(a)))


def _new_number_near(focus: Focus, sentence: str, window: int = 6) -> bool:
    """A number the question does not state, within ``window`` words of what it asks about (an
    asked name or quantity word), or anywhere when the question names nothing to anchor it."""
    words = sentence.split()
    # each word of a multi-word quantity ("success rate") anchors on its own
    anchors = {*focus.entities, *(norm(w) for q in focus.quantity_words for w in q.split())}
    spots = [i for i, w in enumerate(words) if anchors and any(a and a in norm(w) for a in anchors)]
    if spots:  # the question's own specific words anchor too ("response" of "responses")
        own = _specific_terms(focus.question)
        spots += [i for i, w in enumerate(words) if any(_same(t, o) for t in terms(w) for o in own)]
    for i, word in enumerate(words):
        found = _stated(word) - focus.numbers
        if not found or any(len(n) == 4 and n.startswith(("19", "20")) for n in found):
            continue  # no number, or a year
        if not spots or any(abs(i - j) <= window for j in spots):
            return True
    return False
