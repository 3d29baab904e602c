"""Where papers of a summary report on the same thing: do they agree or differ? Said only where
the check can tell.

Two checks, over pairs of summary sentences that cite different papers:

* **numbers**: both sentences name the same metric (accuracy, F1, BLEU, speed-up, ...; see
  :data:`METRICS`) on the same dataset or benchmark (a capitalised name after "on", "across" or
  before "benchmark"/"dataset"), each with a number next to the metric. The numbers are compared
  at the precision both write: equal -> "agree", else "differ", with both numbers. That the
  papers measured under the same conditions is *not* checked, and the wording says so.
* **stance**: sentences about the same subject (MiniLM cosine at least the model's
  ``subject_threshold``) judged by :class:`rag.answering.stance.StanceJudge`, in both directions.
  Only a mean P(support) beyond a cut whose held-out precision on SciFact reached 0.9 is reported;
  a side without such a cut is never reported (``null`` in ``rag/data/weights/stance.json``).

Anything else yields nothing: no agreement is claimed where the check cannot tell.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from rag.answering.support import strip_citations
from rag.schema import Agreement

if TYPE_CHECKING:
    from rag.answering.stance import StanceJudge, StanceModel
    from rag.index.embedding import Embedder
    from rag.schema import Answer

#: canonical metric name -> pattern (case-insensitive unless the name is an acronym)
METRICS: dict[str, str] = {
    "accuracy": r"\baccura(?:cy|cies)\b",
    "top-1 accuracy": r"\btop-?1\b",
    "top-5 accuracy": r"\btop-?5\b",
    "F1": r"\bF1\b",
    "exact match": r"\bexact[- ]match\b|\bEM\b",
    "BLEU": r"\bBLEU\b",
    "ROUGE": r"\bROUGE(?:-\w+)?\b",
    "perplexity": r"\bperplexit(?:y|ies)\b",
    "mAP": r"\bmAP\b",
    "mIoU": r"\bmIoU\b",
    "AUROC": r"\bAU(?:RO)?C\b",
    "pass@1": r"\bpass@1\b",
    "word error rate": r"\bword error rate\b|\bWER\b",
    "FID": r"\bFID\b",
    "win rate": r"\bwin[- ]rate\b",
    "success rate": r"\bsuccess rate\b",
    "speed-up": r"\bspeed[- ]?ups?\b|\bfaster\b",
    "throughput": r"\bthroughput\b",
    "latency": r"\blatency\b",
}
#: a number stated as a change ("improves accuracy by 3.2%", "+1.5 BLEU", "a 41.6% reduction")
#: is not a result that two papers can be compared on: such numbers are skipped
_CHANGE_RE = re.compile(
    r"\bby\b|\+|\b(?:improv|gain|boost|increas|reduc|drop|fewer|less|more|higher|lower|"
    r"better|wors|outperform|surpass)\w*|\bpoints?\b|\bup to\b",
    re.IGNORECASE,
)
_METRIC_RES = {
    name: re.compile(p, 0 if any(c.isupper() for c in p.replace(r"\b", "")) else re.IGNORECASE)
    for name, p in METRICS.items()
}
_NAME = r"[A-Z][\w.+-]*(?:[- ][A-Z0-9][\w.+-]*){0,2}"
_DATASET_RES = (
    re.compile(rf"\b(?:on)\s+(?:the\s+)?({_NAME})"),  # not "over": baselines follow it
    re.compile(rf"\b({_NAME})\s+(?:benchmark|dataset|test set|split)s?\b"),
)
#: a metric's number must start within this many characters of the metric word
NEAR = 60


@dataclass(frozen=True)
class Measure:
    """One reported number: ``metric`` on ``dataset`` = ``raw`` (as written) in ``unit``."""

    metric: str
    dataset: str
    raw: str
    value: float
    decimals: int
    unit: str  # "%", "x", "ms", ... or "" for a bare number


_VALUE_RE = re.compile(
    r"(?<![\w.])(?<![A-Za-z]-)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?"
    r"(\s*(?:\\?%|percent\b|×|x\b|-?fold\b|ms\b|GB\b|MB\b|[MBK]\b))?(?![\w.]*\d)(?![A-Za-z])"
)
_UNITS = {"\\%": "%", "percent": "%", "×": "x", "fold": "x", "-fold": "x"}


def numbers(text: str) -> list[tuple[int, str, float, int, str]]:
    """(position, as written, value, decimals written, unit) of each free-standing number."""
    out = []
    for m in _VALUE_RE.finditer(text):
        unit = (m.group(3) or "").strip()
        value = float(m.group(1).replace(",", "") + (m.group(2) or ""))
        raw = m.group(0).strip().replace("\\%", "%")
        out.append((m.start(), raw, value, len(m.group(2) or ".") - 1, _UNITS.get(unit, unit)))
    return out


def _dataset_key(name: str) -> str:
    """ "ImageNet-1K" and "ImageNet" name the same benchmark; case is ignored."""
    return re.sub(r"-1k$", "", name.lower())


def datasets(sentence: str) -> list[tuple[int, str]]:
    """(position, name) of the capitalised names the sentence reports something on ("on
    ImageNet", "the MMLU benchmark")."""
    found = {
        (m.start(1), m.group(1).rstrip(".,")) for r in _DATASET_RES for m in r.finditer(sentence)
    }
    return sorted((i, d) for i, d in found if not any(r.fullmatch(d) for r in _METRIC_RES.values()))


def measures(sentence: str) -> list[Measure]:
    """Each metric of the sentence with the number and the dataset nearest to the metric word."""
    text = strip_citations(sentence)
    nums, names = numbers(text), datasets(text)
    out = []
    for metric, rx in _METRIC_RES.items():
        for m in rx.finditer(text):
            near = [n for n in nums if abs(n[0] - m.start()) <= NEAR]
            if not near or not names:
                continue
            at, raw, v, d, unit = min(near, key=lambda n: abs(n[0] - m.start()))
            lo, hi = min(at, m.start()), max(at + len(raw), m.end())
            if _CHANGE_RE.search(text[max(0, lo - 25) : hi + 12]):
                break
            _, ds = min(names, key=lambda n: abs(n[0] - m.start()))
            out.append(Measure(metric, ds, raw, v, d, unit))
            break
    return out


def comparable(a: Measure, b: Measure) -> bool:
    """Same unit, or a percentage and a bare fraction; nothing else is compared."""
    fraction = {a.unit, b.unit} == {"%", ""} and min(a.value, b.value) <= 1.0
    return a.unit == b.unit or fraction


def same_number(a: Measure, b: Measure) -> bool:
    """Equal at the coarser of the two precisions written (0.763 and 76.3% are the same)."""
    da, db = a.decimals, b.decimals
    va, vb = a.value, b.value
    if a.unit != b.unit:  # a percentage and a fraction: compare as fractions
        va, da = (va / 100, da + 2) if a.unit == "%" else (va, da)
        vb, db = (vb / 100, db + 2) if b.unit == "%" else (vb, db)
    d = min(da, db)
    return bool(abs(round(va, d) - round(vb, d)) < 1e-9 * max(1.0, abs(va)))


Verdict = Literal["agree", "differ"]


def _numbers_line(a: Measure, na: int, b: Measure, nb: int) -> tuple[Verdict, str]:
    names = dict.fromkeys([a.dataset, b.dataset])  # "ImageNet-1K / ImageNet" when both differ
    about = f"{a.metric} on {' / '.join(names)}"
    if same_number(a, b):
        return "agree", f"{about}: [{na}] and [{nb}] report the same number ({a.raw})."
    return "differ", (
        f"{about}: [{na}] reports {a.raw}, [{nb}] reports {b.raw} (the numbers differ; "
        "whether the settings match is not checked)."
    )


def stance_judge(embedder: Embedder) -> StanceJudge:
    """A :class:`StanceJudge` over ``embedder`` with the shipped model (read once)."""
    from rag.answering.stance import StanceJudge

    return StanceJudge(embedder, _model())


@functools.cache
def _model() -> StanceModel:
    from rag.answering.stance import StanceModel

    return StanceModel.load()


def check_agreement(
    answer: Answer, embedder: Embedder | None, judge: StanceJudge | None
) -> tuple[list[Agreement], int]:
    """The agreement findings of a summary and how many cross-paper sentence pairs were about
    the same thing (and so checked)."""
    by_paper: dict[int, list[str]] = {}
    for s in answer.sentences:
        if s.citations and s.supported is not False:
            by_paper.setdefault(s.citations[0], []).append(strip_citations(s.text))
    pairs = [
        (na, sa, nb, sb)
        for na, nb in itertools.combinations(sorted(by_paper), 2)
        for sa in by_paper[na]
        for sb in by_paper[nb]
    ]
    found: list[Agreement] = []
    checked = 0
    numbered: set[tuple[int, int]] = set()
    for na, sa, nb, sb in pairs:
        ma, mb = measures(sa), measures(sb)
        match = next(
            (
                (a, b)
                for a in ma
                for b in mb
                if (a.metric, _dataset_key(a.dataset)) == (b.metric, _dataset_key(b.dataset))
                and comparable(a, b)
            ),
            None,
        )
        if match is None:
            continue
        checked += 1
        numbered.add((na, nb))
        verdict, text = _numbers_line(match[0], na, match[1], nb)
        found.append(
            Agreement(
                papers=[na, nb],
                verdict=verdict,
                check="numbers",
                about=text.split(":")[0],
                values=[match[0].raw, match[1].raw],
                text=text,
            )
        )
    rest = [p for p in pairs if (p[0], p[2]) not in numbered]
    if embedder is None or judge is None or not rest:
        return found, checked
    stance_found, stance_checked = _stance(rest, embedder, judge)
    return found + stance_found, checked + stance_checked


def _stance(
    pairs: list[tuple[int, str, int, str]], embedder: Embedder, judge: StanceJudge
) -> tuple[list[Agreement], int]:
    m = judge.model
    if m.subject_threshold is None or (m.differ_threshold is None and m.agree_threshold is None):
        return [], 0
    texts = list(dict.fromkeys(t for _, a, _, b in pairs for t in (a, b)))
    vecs = np.asarray(embedder.embed(texts), dtype=np.float64)
    index = {t: i for i, t in enumerate(texts)}
    same = [p for p in pairs if float(vecs[index[p[1]]] @ vecs[index[p[3]]]) >= m.subject_threshold]
    if not same:
        return [], 0
    probs = judge.score_many([(a, b) for _, a, _, b in same] + [(b, a) for _, a, _, b in same])
    found = []
    for i, (na, _, nb, _) in enumerate(same):
        p = (probs[i] + probs[i + len(same)]) / 2
        verdict: Verdict
        if m.differ_threshold is not None and p < m.differ_threshold:
            verdict, prec = "differ", m.differ_precision
        elif m.agree_threshold is not None and p >= m.agree_threshold:
            verdict, prec = "agree", m.agree_precision
        else:
            continue
        word = "contradict" if verdict == "differ" else "support"
        found.append(
            Agreement(
                papers=[na, nb],
                verdict=verdict,
                check="stance",
                about="the same subject",
                values=[],
                text=f"[{na}] and [{nb}] make claims about the same subject that the stance "
                f"model judges to {word} each other (P(support) {p:.2f}; {prec:.0%} precise on "
                "held-out SciFact pairs).",
            )
        )
    return found, len(same)
