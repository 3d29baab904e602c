"""Realistic paraphrases for :mod:`eval.synth_questions` (issue 9): answerable questions that do
not reuse the abstract's wording, with near-miss twins that swap a specific detail.

The templated questions of :mod:`eval.synth_questions` name the method and copy the abstract's
rarest words, so the word-overlap rules rarely misfire on them. A person asking about a paper
rewords the **common** words (synonyms and hypernyms: "boost" for "improve", "technique" for
"method"), describes the method instead of naming it ("the approach for low-rank adaptation of
CLIP"), and uses other question forms ("How much faster ...", "Does ... help with ...", "How well
does ... do on ..."). Each ``rpara`` question is made from a paper's ``num`` or ``fact`` question
(same sentence, same asked detail), and gets one near-miss twin that swaps a **specific** detail,
as a real near miss does: ``nm_rentity`` (the dataset/model name it asks about, for one the
abstract never mentions) or ``nm_rasked`` (the quantity asked, for one it never mentions).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from rag.answering.focus import entities_of

#: Common words of the research abstracts and a synonym or hypernym a reader might use instead.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "method": ("technique", "approach"), "methods": ("techniques", "approaches"),
    "approach": ("technique", "method"), "model": ("system", "network"),
    "models": ("systems", "networks"), "framework": ("system", "approach"),
    "improve": ("boost", "enhance"), "improves": ("boosts", "enhances"),
    "improved": ("better", "enhanced"), "improvement": ("gain", "boost"),
    "performance": ("results", "effectiveness"), "large": ("big", "huge"),
    "small": ("compact", "tiny"), "reduce": ("cut", "lower"), "reduces": ("cuts", "lowers"),
    "reduction": ("decrease", "saving"), "training": ("learning", "fitting"),
    "task": ("problem", "benchmark"), "tasks": ("problems", "benchmarks"),
    "data": ("examples", "samples"), "dataset": ("benchmark", "corpus"),
    "datasets": ("benchmarks", "corpora"), "efficient": ("cheap", "fast"),
    "efficiency": ("speed", "cost"), "propose": ("introduce", "present"),
    "proposed": ("introduced", "presented"), "novel": ("new", "fresh"),
    "existing": ("prior", "previous"), "previous": ("earlier", "prior"),
    "results": ("findings", "outcomes"), "show": ("find", "demonstrate"),
    "achieve": ("reach", "obtain"), "achieves": ("reaches", "obtains"),
    "significantly": ("substantially", "markedly"), "accurate": ("precise", "correct"),
    "generation": ("synthesis", "production"), "generate": ("produce", "create"),
    "learning": ("training", "fitting"), "language": ("text", "linguistic"),
    "image": ("picture", "visual"), "images": ("pictures", "photos"),
    "video": ("clip", "footage"), "robust": ("resilient", "stable"),
    "robustness": ("resilience", "stability"), "scale": ("size", "magnitude"),
    "scaling": ("growing", "enlarging"), "fine-tuning": ("adaptation", "tuning"),
    "pretrained": ("pre-trained", "foundation"), "pre-trained": ("pretrained", "foundation"),
    "inference": ("prediction", "deployment"), "memory": ("storage", "RAM"),
    "computational": ("compute", "processing"), "cost": ("expense", "price"),
    "costs": ("expenses", "overheads"), "accuracy": ("correctness", "precision"),
    "speed": ("pace", "velocity"), "faster": ("quicker", "speedier"),
    "outperforms": ("beats", "surpasses"), "baseline": ("reference", "competitor"),
    "baselines": ("references", "competitors"), "evaluate": ("test", "assess"),
    "evaluation": ("assessment", "testing"), "various": ("diverse", "several"),
    "multiple": ("several", "many"), "high": ("strong", "top"), "quality": ("fidelity", "grade"),
    "problem": ("issue", "challenge"), "challenge": ("difficulty", "problem"),
    "understanding": ("comprehension", "grasp"), "reasoning": ("inference", "thinking"),
    "knowledge": ("information", "facts"), "representation": ("embedding", "encoding"),
    "representations": ("embeddings", "encodings"), "agents": ("assistants", "bots"),
    "agent": ("assistant", "bot"), "users": ("people", "humans"), "human": ("people", "person"),
    "tokens": ("words", "units"), "attention": ("focus", "weighting"),
    "prediction": ("forecast", "estimate"), "detection": ("recognition", "spotting"),
    "search": ("lookup", "retrieval"), "retrieval": ("search", "lookup"),
    "answer": ("reply", "response"), "questions": ("queries", "prompts"),
    "text": ("writing", "prose"), "state-of-the-art": ("leading", "best"),
}  # fmt: skip

_DESCRIBE = ("the approach for", "the technique on", "the work about", "the system for")


def reword(text: str, rng: random.Random, rate: float = 0.8) -> str:
    """Replace each common word found in :data:`SYNONYMS` (with probability ``rate``) and keep
    names (acronyms, mixed case, digits) and rare words as they are."""

    def swap(m: re.Match[str]) -> str:
        word = m.group(0)
        alts = SYNONYMS.get(word.lower())
        if not alts or entities_of(word) or rng.random() >= rate:
            return word
        alt = rng.choice(alts)
        return alt[0].upper() + alt[1:] if word[0].isupper() else alt

    return re.sub(r"[A-Za-z][\w\-]*", swap, text)


def describe(title: str, name: str, rng: random.Random) -> str:
    """The method described by its title's words (reworded, the name dropped): "the approach
    for big language systems via low-rank adaptation"."""
    head = title.split(":", 1)[1] if ":" in title and len(title.split(":", 1)[1]) > 15 else title
    words = [w for w in re.findall(r"[\w\-]+", head) if w.lower() != name.lower()][:7]
    topic = " ".join(w if entities_of(w) else w.lower() for w in words)
    return f"{rng.choice(_DESCRIBE)} {reword(topic, rng)}"


def paraphrase(
    kind: str,
    subject: str,
    desc: str,
    qty: str | None,
    other: str | None,
    phrase: str | None,
    counted: str | None,
    rng: random.Random,
) -> str | None:
    """A reworded question of ``kind`` (``num`` / ``fact``) about the paper described by
    ``desc``, asking the same detail (``qty`` on ``other``, the ``counted`` noun, ``phrase``)."""
    on = f" on {other}" if other else ""
    if kind == "num" and qty:
        low = qty.lower()
        if low in ("speed-up", "speedup", "throughput", "latency"):
            forms = [f"How much faster is {desc}{on}?",
                     f"How much does {desc} speed things up{on}?"]  # fmt: skip
        elif low in ("reduction", "compression", "memory", "cost"):
            forms = [f"How much {qty} does {desc} save{on}?",
                     f"By how much does {desc} cut {qty}{on}?"]  # fmt: skip
        else:
            forms = [f"How well does {desc} do{on} in terms of {qty}?",
                     f"What {qty} is obtained by {desc}{on}?",
                     f"Which {qty} did the authors of {desc} get{on}?"]  # fmt: skip
        return rng.choice(forms)
    if kind == "num" and counted:
        return f"How many {reword(counted, rng)} are used by {desc}{on}?"
    if kind == "fact" and phrase:
        topic = reword(phrase, rng)
        forms = [f"Does {desc} help with {topic}?",
                 f"What do the authors of {desc} find regarding {topic}?",
                 f"How does {desc} deal with {topic}?"]  # fmt: skip
        return rng.choice(forms)
    return None


def twin(
    question: str, qty: str | None, other: str | None, missing: Sequence[str],
    absent: Sequence[str], rng: random.Random,
) -> tuple[str, str] | None:  # fmt: skip
    """A near-miss twin of a realistic paraphrase: a specific detail swapped (the named dataset or
    model for one the abstract never mentions, else the asked quantity), or ``None``."""
    if other and missing:
        return "nm_rentity", question.replace(other, rng.choice(missing), 1)
    if qty and absent and qty in question:
        return "nm_rasked", question.replace(qty, rng.choice(absent), 1)
    if missing:
        return "nm_rentity", question.rstrip("?") + f" on {rng.choice(missing)}?"
    return None
