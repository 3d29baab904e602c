"""Synthetic answerable questions and their near-miss twins over the bundled seed corpus, run end
to end (``Library.ask``, default offline stack) to estimate the refusal operating point on data
that no rule or weight was tuned on.

Each paper of the bundled corpus is put in the ``fit`` or ``held`` half by a hash of its id. From
its abstract, without labels:

* ``num``: an answerable question about a sentence stating a number: "What AP does Co-DETR report
  on COCO?" (the quantity word next to the number, the paper's name, another name of the
  sentence);
* ``fact``: an answerable question about a sentence without numbers: "What does Titans report
  about neural memory and attention?" (its rarest content words);
* ``para``: the same as ``num`` / ``fact`` with the paper's name replaced by words of its title;
* near-miss twins of each answerable question (one, chosen by a seeded draw among those that
  apply): ``nm_entity`` (the other name swapped for one from another paper, absent from this
  one), ``nm_asked`` (the quantity asked swapped for one the abstract does not mention),
  ``nm_hardware`` / ``nm_org`` (the GPU or institution, when the abstract names none).

With ``--realistic``, only the reworded ``rpara`` questions of :mod:`eval.synth_paraphrase` and
their near-miss twins (``nm_rentity``, ``nm_rasked``) are asked.

Every draw is seeded by the paper id, so the set is reproducible. The seed question splits are
never read. ``--out`` saves per question: half, type, refused, partial, the refusal's cause
(``answerer``: the extractive answerer found no sentence; ``support``: every sentence failed the
support check; ``off_question``: the focus rules dropped every sentence; ``kind``: no sentence
states the asked kind; ``learned``: the near-miss model) and the near-miss model's score and
features on the passages it saw, so thresholds can be chosen on ``fit`` and read on ``held``.

    python -m eval.synth_questions --home /tmp/synth-home --out /tmp/synth.jsonl [--half held]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rag.answering.focus import GENERIC, entities_of, norm
from rag.text import QUESTION_STOPWORDS, terms

_QUANTITY = (
    "accuracy", "AP", "mAP", "F1", "BLEU", "ROUGE", "AUC", "speed-up", "speedup", "error rate",
    "perplexity", "win rate", "success rate", "improvement", "reduction", "gain", "parameters",
    "throughput", "latency", "score", "compression", "memory", "cost", "FLOPs", "WER", "top-1",
)  # fmt: skip
#: Quantities a near-miss twin may ask for instead (when the abstract mentions none of its words).
_ABSENT_ASKED = (
    "inference latency", "GPU memory", "training time", "energy consumption", "BLEU score",
    "F1 score", "top-1 accuracy", "perplexity", "win rate", "batch size", "learning rate",
    "throughput", "number of parameters", "wall-clock speed-up", "error rate", "AUC",
    "annotation cost", "context length", "compression ratio", "recall",
)  # fmt: skip
_HW = re.compile(r"\b(gpus?|tpus?|a100|h100|v100|hardware|cpus?|fpga)\b", re.I)
_ORG = re.compile(
    r"\b(universit\w*|institut\w*|google|microsoft|meta|openai|deepmind|nvidia)\b", re.I
)
_NUM = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)?)\s*(%|x\b|×)?")


@dataclass
class SynthQ:
    id: str
    paper_id: str
    half: str  # fit | held
    type: str  # num, fact, para, nm_entity, nm_asked, nm_hardware, nm_org
    question: str

    @property
    def answerable(self) -> bool:
        return not self.type.startswith("nm_")


def half_of(paper_id: str) -> str:
    return "held" if hashlib.sha1(paper_id.encode()).digest()[0] & 1 else "fit"


def is_name(word: str) -> bool:
    """A usable name: an acronym or mixed-case/digit name ("Co-DETR", "UL2"), not a capitalised
    compound ("Vision-Language"), a plural acronym ("APIs") or a number ("11.9times")."""
    w = word.strip(".,;:()[]'\"")
    if not w or not entities_of(w) or norm(w) in GENERIC or len(w) > 24 or w[0].isdigit():
        return False
    if all(re.fullmatch(r"[A-Z][a-z]+", part) for part in w.split("-")):
        return False
    return not re.fullmatch(r"[A-Z]+s", w)


def _name(title: str, abstract: str) -> str | None:
    """The paper's own name: a name of its title the abstract repeats, else its abstract's most
    frequent name (twice or more)."""
    words = [w.strip(":,.()") for w in title.split()]
    for w in words:
        if is_name(w) and norm(w) in norm(abstract):
            return w
    counts = Counter(w.strip(".,;:()[]") for w in abstract.split() if is_name(w))
    best = counts.most_common(1)
    return best[0][0] if best and best[0][1] >= 2 else None


def _topic(title: str) -> str:
    """A title's words for a paraphrase: "the paper on low rank adaptation for CLIP ..."."""
    head = title.split(":")[-1] if ":" in title and len(title.split(":")[-1]) > 20 else title
    words = head.replace(":", "").split()[:8]
    return "the paper on " + " ".join(w if entities_of(w) else w.lower() for w in words)


def _phrase(sentence: str, df: Counter[str], avoid: str) -> str | None:
    """The sentence's rarest content word with its content-word neighbours (at most three words):
    "neural memory", "rehearsal-free class-incremental learning"."""
    words = re.findall(r"[A-Za-z][\w\-]*", sentence)
    content = [bool(terms(w)) and w.lower() not in QUESTION_STOPWORDS and len(w) > 2 and
               norm(w) not in norm(avoid) for w in words]  # fmt: skip
    spots = [i for i, ok in enumerate(content) if ok and len(words[i]) >= 5]
    if not spots:
        return None
    i = min(spots, key=lambda i: (df[terms(words[i])[0]], i))
    lo, hi = i, i + 1
    while hi - lo < 3 and ((lo > 0 and content[lo - 1]) or (hi < len(words) and content[hi])):
        if hi < len(words) and content[hi]:
            hi += 1
        else:
            lo -= 1
    return (
        " ".join(w if entities_of(w) else w.lower() for w in words[lo:hi]) if hi - lo >= 2 else None
    )


def _quantity(sentence: str) -> str | None:
    low = sentence.lower()
    for q in _QUANTITY:
        if re.search(rf"(?<!\w){re.escape(q.lower())}(?!\w)", low):
            return q
    return None


def generate(papers: Sequence[tuple[str, str, list[str]]], realistic: bool = False) -> list[SynthQ]:
    """Questions for ``(paper_id, title, abstract sentences)``; see the module docstring. With
    ``realistic``, also the reworded ``rpara`` questions of :mod:`eval.synth_paraphrase` and
    their near-miss twins."""
    from eval import synth_paraphrase as rp

    df: Counter[str] = Counter()
    for _, _, sents in papers:
        df.update(set(terms(" ".join(sents))))
    all_names = sorted({e.strip(".,;:()") for _, t, s in papers
                        for e in re.findall(r"[\w\-\.]+", " ".join(s)) if is_name(e)})  # fmt: skip
    out: list[SynthQ] = []
    for pid, title, sents in papers:
        rng = random.Random(pid)
        abstract = " ".join(sents)
        name = _name(title, abstract)
        subject = name or _topic(title)
        half = half_of(pid)
        a_norm, a_terms = norm(abstract), set(terms(abstract))
        found: list[tuple[str, str, str | None, str | None]] = []  # type, question, qty, other
        real: list[tuple[str, str | None, str | None, str | None, str | None]] = []
        nums = [s for s in sents[1:] if _NUM.search(s) and len(s) < 400]
        if nums:
            s = rng.choice(nums)
            qty = _quantity(s)
            others = [e.strip(".,;:()") for e in re.findall(r"[\w\-\.]+", s)
                      if is_name(e) and (not name or norm(e) != norm(name))]  # fmt: skip
            others = [e for e in others if not qty or norm(e) != norm(qty)]
            other = others[0] if others else None
            on = f" on {other}" if other else ""
            counted = re.search(
                r"(?<![\w.])\d+(?:,\d{3})*\s+([a-z][\w\-]{2,}(?:\s+[a-z][\w\-]{3,})?)", s
            )
            if qty:
                found.append(("num", f"What {qty} does {subject} report{on}?", qty, other))
            elif counted and counted.group(1).split()[0] not in QUESTION_STOPWORDS:
                what = counted.group(1)
                found.append(("num", f"How many {what} does {subject} use{on}?", None, other))
            real.append(("num", qty, other, None, counted.group(1) if counted else None))
        facts = [s for s in sents[1:] if not _NUM.search(s) and 60 < len(s) < 400]
        if facts:
            s = rng.choice(facts)
            phrase = _phrase(s, df, subject)
            if phrase:
                q = f"What does {subject} say about {phrase}?"
                found.append(("fact", q, None, None))
                real.append(("fact", None, None, phrase, None))
        if name and found and rng.random() < 0.5:  # a paraphrase: the title's words, not the name
            kind, q, qty, other = found[0]
            found.append(("para", q.replace(name, _topic(title)), qty, other))
        for kind, q, qty, other in found:
            out.append(SynthQ(f"{pid}-{kind}", pid, half, kind, q))
            twins: list[tuple[str, str]] = []
            missing = [e for e in all_names if norm(e) not in a_norm and len(norm(e)) >= 3]
            if other and missing:
                twins.append(("nm_entity", q.replace(other, rng.choice(missing), 1)))
            elif kind == "fact" and missing:
                twins.append(("nm_entity", q.rstrip("?") + f" for {rng.choice(missing)}?"))
            absent = [p for p in _ABSENT_ASKED if not set(terms(p)) & a_terms]
            if absent:
                ask = rng.choice(absent)
                on = f" on {other}" if other else ""
                new = q.replace(qty, ask, 1) if qty else f"What {ask} does {subject} report{on}?"
                twins.append(("nm_asked", new))
            if not _HW.search(abstract):
                twins.append(("nm_hardware", f"On which GPU hardware were the experiments of "
                              f"{subject} run?"))  # fmt: skip
            if not _ORG.search(abstract):
                twins.append(("nm_org", f"Which university are the authors of {subject} "
                              "affiliated with?"))  # fmt: skip
            if twins:
                t_kind, t_q = rng.choice(twins)
                out.append(SynthQ(f"{pid}-{kind}-{t_kind}", pid, half, t_kind, t_q))
        if realistic and name and real:  # one reworded question per paper, and its twin
            rr = random.Random(pid + "-rpara")
            kind, qty, other, phrase, cnt = rr.choice(real)
            desc = rp.describe(title, name, rr)
            q = rp.paraphrase(kind, subject, desc, qty, other, phrase, cnt, rr)
            if q:
                out.append(SynthQ(f"{pid}-rpara", pid, half, "rpara", q))
                missing = [e for e in all_names if norm(e) not in a_norm and len(norm(e)) >= 3]
                absent = [p for p in _ABSENT_ASKED if not set(terms(p)) & a_terms]
                tw = rp.twin(q, qty, other, missing, absent, rr)
                if tw:
                    out.append(SynthQ(f"{pid}-rpara-{tw[0]}", pid, half, tw[0], tw[1]))
    # one hardware / org twin per paper at most: drop repeats of the same question
    seen: set[str] = set()
    return [q for q in out if not (q.question in seen or seen.add(q.question))]  # type: ignore[func-returns-value]


def seed_papers() -> list[tuple[str, str, list[str]]]:
    from rag.ingest import bundled_seed_dir, parse_paths

    return [
        (p.paper_id, p.title, list(p.abstract)) for p in parse_paths([bundled_seed_dir()]).papers
    ]


class Recorder:
    """Wraps the near-miss model: records each question's score and features (the verifier calls
    it only when no other rule already refused)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seen: dict[str, dict[str, Any]] = {}

    @property
    def threshold(self) -> float:
        return float(self.inner.threshold)

    def answerable(
        self, question: str, passages: Sequence[str], titles: Sequence[str] = ()
    ) -> bool:
        import math

        from rag.answering.answerable import features_many

        feats = features_many(self.inner.embedder, [(question, list(passages))], [titles])[0]
        m = self.inner.model
        score = 0.0
        if feats is not None:
            z = m.bias + sum(w * feats[n] for n, w in zip(m.features, m.weights, strict=True))
            score = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
        self.seen[question] = {"score": score, "features": feats}
        return bool(score >= self.inner.threshold)


def cause(answer: Any, recorded: dict[str, Any] | None, threshold: float) -> str:
    if not answer.refused:
        return ""
    if answer.partial:
        if recorded is not None and recorded["score"] < threshold:
            return "learned"
        return "kind"
    reasons = " ".join(d.reason for d in answer.dropped)
    if "does not address" in reasons:
        return "off_question"
    if "not supported" in reasons:
        return "support"
    return "answerer"


def run(
    home: Path, questions: Sequence[SynthQ], progress: bool = True, out: Path | None = None
) -> list[dict[str, Any]]:
    """Ask each question; with ``out``, each row is appended to it as soon as it is known."""
    from rag.answering.verify import Verifier
    from rag.components import build_verifier
    from rag.ingest import bundled_seed_dir
    from rag.library import Library
    from rag.settings import Settings

    settings = Settings(home=home / "eval" / "seed-library", seed=False, chroma_url=None)
    lib = Library(settings=settings)
    if lib.store.count_chunks() == 0:
        lib.ingest([bundled_seed_dir()])
    base = build_verifier(settings, lib.embedder, lib.lexical)
    rec = Recorder(base.answerability)
    verifier = Verifier(base.scorer, base.unsupported, base.lexicon, base.check_question, rec)  # type: ignore[arg-type]
    lib = Library(settings=settings, verifier=verifier)
    rows = []
    sink = out.open("w", encoding="utf-8") if out else None
    for i, q in enumerate(questions):
        answer = lib.ask(q.question)
        got = rec.seen.get(answer.question.split(" (regarding: ")[0]) or rec.seen.get(q.question)
        rows.append({**asdict(q), "answerable": q.answerable, "refused": answer.refused,
                     "partial": bool(answer.partial), "cause": cause(answer, got, rec.threshold),
                     "cited": sorted({c.paper_id for c in answer.citations}),
                     "score": None if got is None else got["score"],
                     "features": None if got is None else got["features"]})  # fmt: skip
        if sink is not None:
            sink.write(json.dumps(rows[-1]) + "\n")
            sink.flush()
        if progress and i % 25 == 0:
            print(f"{i}/{len(questions)}", flush=True)
    if sink is not None:
        sink.close()
    return rows


def summarise(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| half | type | n | refused | causes |", "|---|---|---:|---:|---|"]
    for half in ("fit", "held"):
        for kind in sorted({r["type"] for r in rows}):
            rs = [r for r in rows if r["half"] == half and r["type"] == kind]
            if rs:
                causes = Counter(r["cause"] for r in rs if r["refused"])
                ref = sum(r["refused"] for r in rs) / len(rs)
                lines.append(f"| {half} | {kind} | {len(rs)} | {ref:.2f} | {dict(causes)} |")
        for label, ans in (("answerable", True), ("near-miss", False)):
            rs = [r for r in rows if r["half"] == half and r["answerable"] == ans]
            if rs:
                ref = sum(r["refused"] for r in rs) / len(rs)
                lines.append(f"| {half} | **{label}** | {len(rs)} | {ref:.3f} | |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--home", type=Path, required=True, help="eval home (seed library inside)")
    ap.add_argument("--out", type=Path, required=True, help="JSONL of per-question results")
    ap.add_argument("--half", choices=("fit", "held", "all"), default="all")
    ap.add_argument("--limit", type=int, default=0, help="ask only the first N (shuffled)")
    ap.add_argument("--list", action="store_true", help="print the questions, run nothing")
    ap.add_argument("--realistic", action="store_true", help="only the reworded questions")
    args = ap.parse_args(argv)
    qs = [q for q in generate(seed_papers(), args.realistic) if args.half in ("all", q.half)]
    if args.realistic:
        qs = [q for q in qs if q.id.split("-", 1)[1].startswith("rpara")]
    random.Random(0).shuffle(qs)  # any prefix of the run is a fair sample
    if args.limit:
        qs = qs[: args.limit]
    if args.list:
        for q in qs:
            print(q.half, q.type, q.question, sep="\t")
        print(Counter((q.half, q.type) for q in qs))
        return
    rows = run(args.home, qs, out=args.out)
    print(summarise(rows))


if __name__ == "__main__":
    main()
