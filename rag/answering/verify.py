"""The citation gate: every answer, from any backend, passes through :class:`Verifier` before it
is shown.

1. A citation to a source the backend was not given is removed; a sentence left without a
   citation is dropped (:func:`rag.answering.grammar.check_citations`).
2. Each remaining sentence is scored against the passages it cites by the offline support scorer
   (:mod:`rag.answering.support`); an unsupported one is dropped, or kept and marked. Each
   citation is then judged on its own (:func:`own_citations`): an unrelated extra one is removed.
3. Each supported sentence is checked against the **question** (:mod:`rag.answering.focus`): a
   sentence whose cited paper never mentions what the question names is dropped as off-question;
   when the question asks for a kind of answer (a number, hardware, an institution...) and no
   sentence states one, the answer becomes a "not reported" partial answer (``refused`` and
   ``partial`` set, ``sentences`` saying what the papers do report). The same happens when the
   learned near-miss check (:mod:`rag.answering.answerable`) finds that the cited papers do not
   state what a one-paper question asks.
4. Cited sources are renumbered ``[1]..[n]`` by first appearance; nothing left means the refusal
   phrase.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from rag.answering.focus import Focus, Lexicon, analyse, judge
from rag.answering.grammar import (
    PARTIAL_FORM,
    REFUSAL_PHRASE,
    Draft,
    DraftSentence,
    check_citations,
    format_citations,
)
from rag.schema import (
    Answer,
    AnswerSentence,
    Citation,
    DroppedSentence,
    Hit,
    NearPaper,
    bib_fields,
)

if TYPE_CHECKING:
    from rag.answering.answerable import AnswerabilityScorer
    from rag.answering.support import SupportScorer


@dataclass(frozen=True)
class Verifier:
    """Checks drafts against their sources. Stateless: one instance serves every request."""

    scorer: SupportScorer | None = None
    unsupported: Literal["drop", "mark"] = "drop"
    lexicon: Lexicon | None = None  # document frequencies: which question words no paper has
    check_question: bool = True
    answerability: AnswerabilityScorer | None = None  # the learned near-miss check

    def verify(
        self,
        question: str,
        draft: Draft,
        sources: list[Hit],
        backend: str,
        *,
        separator: str = " ",
    ) -> Answer:
        focus = analyse(question, self.lexicon) if self.check_question else None
        return finalize(
            question,
            draft,
            sources,
            backend,
            scorer=self.scorer,
            unsupported=self.unsupported,
            separator=separator,
            focus=focus,
            answerability=self.answerability,
        )


def finalize(
    question: str,
    draft: Draft,
    sources: list[Hit],
    backend: str,
    *,
    scorer: SupportScorer | None = None,
    unsupported: Literal["drop", "mark"] = "drop",
    separator: str = " ",
    focus: Focus | None = None,
    answerability: AnswerabilityScorer | None = None,
) -> Answer:
    """Verify a draft and build the Answer shown to the user.

    Citations to sources that were not given are removed and uncited sentences dropped; with a
    ``scorer`` each remaining sentence is checked against the passages it cites, and an unsupported
    one is dropped (or kept and marked, per ``unsupported``). Cited sources are renumbered
    ``[1]..[n]`` by first appearance. Nothing left means the refusal phrase.
    """
    if draft.given is not None:
        sources = sources[: draft.given]  # a citation beyond what was shown is not a citation
    kept, dropped = check_citations(draft, len(sources))
    checked: list[tuple[DraftSentence, bool | None, float | None]] = []
    if scorer is not None and kept:
        results = scorer.score_many(
            [(s.text, [sources[n - 1].text for n in s.citations]) for s in kept]
        )
        own = own_citations(scorer, kept, results, sources)
        for i, (s, r) in enumerate(zip(kept, results, strict=True)):
            if i in own:
                s = replace(s, citations=own[i])
            if r.supported or unsupported == "mark":
                checked.append((s, r.supported, r.score))
            if not r.supported:
                dropped.append(
                    DroppedSentence(
                        text=s.text,
                        citations=s.citations,
                        reason=f"not supported by {format_citations(s.citations)}: {r.reason}",
                        support_score=round(r.score, 4),
                    )
                )
    else:
        checked = [(s, None, None) for s in kept]
    written = len(draft.sentences)
    n_supported = sum(1 for _, ok, _ in checked if ok) if scorer is not None else None
    support = (
        None
        if n_supported is None or draft.refused
        else (n_supported / written if written else 1.0)
    )
    addresses: float | None = None
    answered = True
    if focus is not None and checked:
        on_question: list[tuple[DraftSentence, bool | None, float | None]] = []
        answered = False
        for s, ok, score in checked:
            # the names asked about may be in another retrieved passage of the cited paper
            papers = {sources[n - 1].paper_id for n in s.citations}
            verdict = judge(
                focus,
                s.text,
                [h.text for h in sources if h.paper_id in papers],
                [sources[n - 1].title for n in s.citations],
            )
            if verdict.addresses:
                on_question.append((s, ok, score))
                answered = answered or verdict.answers
            else:
                dropped.append(
                    DroppedSentence(
                        text=s.text,
                        citations=s.citations,
                        reason=f"does not address the question: {verdict.reason}",
                    )
                )
        addresses = len(on_question) / len(checked)
        checked = on_question
    not_reported = draft.not_reported
    if focus is not None and checked and not answered and not_reported is None:
        not_reported = focus.describe()
    if focus is not None and checked and not_reported is None:  # the asked detail is not stated
        from rag.answering.answerable import not_reported as asked_not_stated

        cited = [n for s, _, _ in checked for n in s.citations]
        not_reported = asked_not_stated(answerability, focus, sources, cited)
    renumber: dict[int, int] = {}
    sentences: list[AnswerSentence] = []
    for s, ok, score in checked:
        for n in s.citations:
            renumber.setdefault(n, len(renumber) + 1)
        sentences.append(
            AnswerSentence(
                text=s.text,
                citations=[renumber[n] for n in s.citations],
                supported=ok,
                support_score=None if score is None else round(score, 4),
            )
        )
    common = {
        "question": question,
        "backend": backend,
        "nearest": nearest_papers(sources),
        "dropped": dropped,
        "usage": draft.usage,
        "support": None if support is None else round(support, 4),
        "addresses": None if addresses is None else round(addresses, 4),
    }
    if draft.refused or not sentences:
        return Answer(
            answer=REFUSAL_PHRASE,
            refused=True,
            sentences=[AnswerSentence(text=REFUSAL_PHRASE, citations=[])],
            citations=[],
            **common,  # type: ignore[arg-type]
        )
    citations = [
        Citation(
            n=new,
            paper_id=sources[old - 1].paper_id,
            title=sources[old - 1].title,
            chunk_id=sources[old - 1].chunk_id,
            text=sources[old - 1].text,
            **citation_fields(sources[old - 1].metadata),
        )
        for old, new in renumber.items()
    ]
    text = separator.join(
        f"{s.text}{'' if s.supported is not False else ' (unsupported)'} "
        f"{format_citations(s.citations)}"
        for s in sentences
    )
    if not_reported is not None:  # on topic, but the asked detail is not there
        return Answer(
            answer=f"{PARTIAL_FORM.format(what=not_reported)}{separator}{text}",
            refused=True,
            partial=True,
            not_reported=not_reported,
            sentences=sentences,
            citations=citations,
            **common,  # type: ignore[arg-type]
        )
    return Answer(
        answer=text,
        refused=False,
        sentences=sentences,
        citations=citations,
        **common,  # type: ignore[arg-type]
    )


def own_citations(
    scorer: SupportScorer, kept: list[DraftSentence], results: list[Any], sources: list[Hit]
) -> dict[int, list[int]]:
    """Each citation judged on its own: for a supported sentence citing several passages, the
    citations whose passage supports it alone; when none does (a sentence joining two papers),
    those the joint support needs (a citation is dropped while the rest still support the
    sentence, weakest first). An unrelated extra citation cannot ride on the others."""
    jobs = [
        (i, n)
        for i, (s, r) in enumerate(zip(kept, results, strict=True))
        if r.supported and len(s.citations) > 1
        for n in s.citations
    ]
    if not jobs:
        return {}
    alone = scorer.score_many([(kept[i].text, [sources[n - 1].text]) for i, n in jobs])
    by_sentence: dict[int, dict[int, Any]] = {}
    for (i, n), r in zip(jobs, alone, strict=True):
        by_sentence.setdefault(i, {})[n] = r
    out: dict[int, list[int]] = {}
    for i, verdicts in by_sentence.items():
        cites = [n for n in kept[i].citations if verdicts[n].supported]
        if not cites:
            cites = list(kept[i].citations)
            for n in sorted(cites, key=lambda n: verdicts[n].score):
                rest = [m for m in cites if m != n]
                if (
                    rest
                    and scorer.score(kept[i].text, [sources[m - 1].text for m in rest]).supported
                ):
                    cites = rest
        out[i] = cites
    return out


def citation_fields(meta: dict[str, object]) -> dict[str, Any]:
    """The bibliographic fields and page a citation carries, from its chunk's metadata."""
    page = meta.get("page")
    return {**bib_fields(meta), "page": page if isinstance(page, int) else None}


def nearest_papers(sources: list[Hit], k: int = 3) -> list[NearPaper]:
    seen: dict[str, NearPaper] = {}
    for hit in sources:
        if hit.paper_id not in seen:
            seen[hit.paper_id] = NearPaper(paper_id=hit.paper_id, title=hit.title, score=hit.score)
    return list(seen.values())[:k]
