"""The offline extractive answerer (the default backend): it writes no words of its own.

Its answer is the retrieved sentences that best address the question, each cited to the passage
it comes from. A sentence's score mixes its embedding similarity to the question (MiniLM), its
passage's similarity (the context a paraphrased question matches) and the share of the question's
content terms it contains. Parts of the question the best sentences leave out are covered by
more sentences of the same paper that state them (:meth:`ExtractiveBackend._covering`), and
each clause of a multi-part question by its best sentence (:mod:`rag.answering.facets`); a
many-paper answer gives each relevant paper its best sentence and, grouped with it, one more
that covers another part of the question, the paper's finding and its answer to each clause.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from rag.answering.facets import FINDING_RE, REASON_RE, Facet, asks_reason, facets, fits
from rag.answering.focus import analyse, answers_kind
from rag.answering.grammar import Draft, DraftSentence
from rag.answering.sentences import (
    ScoredSentence,
    background,
    by_segment,
    demote,
    hit_offsets,
    lead_paper_first,
    mix,
    position,
    segments,
    spelled_out,
    tidy,
)
from rag.index.chunking import split_by_offsets
from rag.schema import Hit
from rag.text import CONTEXT_MARKER, terms

if TYPE_CHECKING:
    from rag.index.embedding import Embedder

#: Sentences that state a contribution or method ("we propose", "this paper introduces").
CONTRIBUTION_RE = re.compile(
    r"\b(we|this (paper|work|study)|our (work|method|approach|paper))\b[^.]{0,40}?\b(propose|"
    r"introduce|present|develop|design|show|find|demonstrate|study|investigate)",
    re.IGNORECASE,
)
#: A paper's own statement of what it does or finds, for adding to a chosen sentence: the
#: contribution cue, the verb further away ("we focus on X, and show"), or "our work provides".
CLAIM_RE = re.compile(
    r"\b(we|this (paper|work|study)|our (work|method|approach|paper|results?))\b[^.]{0,70}?\b("
    r"propose|introduce|present|develop|design|show|find|demonstrate|provide|reveal)",
    re.IGNORECASE,
)
#: A question asking for one method or paper ("Is there a way to ...", "Which work ..."): its
#: "each" ("adjusting how much each head ...") does not make it a many-paper question.
ONE_ASKED_RE = re.compile(
    r"\b(is there (a|an|one)|(which|what) (paper|work|study|method|approach|technique)\b)", re.I
)
#: Sentences that report a result.
RESULT_RE = re.compile(r"\d|\b(outperform|state-of-the-art|improv|achiev)", re.IGNORECASE)
#: A paper's own voice, for finding where its background ends ("we discuss", "this survey").
OWN_RE = re.compile(
    r"\b(we|this (paper|work|study|survey|review)|our (work|method|approach|paper))\b[^.]{0,70}?"
    r"\b(propose|introduce|present|develop|design|show|find|demonstrate|study|investigate|"
    r"discuss|review|survey|analy[sz]e|explore|examine|provide|reveal)",
    re.IGNORECASE,
)
#: Sentences that report a result, surely (experiments, comparisons, percentages).
STRONG_RESULT_RE = re.compile(
    r"\b(experiments?|results|outperform\w*|achiev\w*|state-of-the-art|surpass\w*)\b|"
    r"\d+(\.\d+)?\s*(%|x\b|times)",
    re.IGNORECASE,
)
#: Sentences that say how the work is done.
METHOD_RE = re.compile(
    r"\b(we (use|employ|adopt|leverage|train|build|construct|formulate|model|apply|combine)|"
    r"based on|consists? of|by (using|leveraging|combining|introducing|training|learning)|"
    r"our (method|approach|model|framework|architecture|algorithm)|(it|which) (uses|combines|"
    r"leverages|employs|learns))\b",
    re.IGNORECASE,
)
#: The part of a paper a question about it asks for first (else its contribution).
ASKED_PART = {
    "method": re.compile(r"\b(how (does|do|is|are)|method|approach|technique|architecture)", re.I),
    "result": re.compile(
        r"\b(results?|findings?|find|perform\w*|outperform|evaluat\w*|experiment)", re.I
    ),
}


class ExtractiveBackend:
    """Offline answerer: picks retrieved sentences that address the question, cites each.

    A sentence's score mixes its embedding similarity to the question with the share of the
    question's content terms it contains. The answer is refused when no sentence reaches
    ``min_score``, or when the question asks for a number and the best sentences state none.
    """

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_sentences: int = 3,
        min_score: float = 0.31,
        margin: float = 0.08,
        paper_margin: float = 0.25,
        max_papers: int = 10,
        few_papers: int = 3,
        per_paper_extra: int = 1,
        cover_margin: float = 0.15,
        min_new_terms: int = 1,
        passage_weight: float = 0.1,
        one_extra: int = 2,
        one_margin: float = 0.3,
        facet_weight: float = 0.5,
        fit_bonus: float = 0.05,
        finding_margin: float = 0.3,
        segment_extra: int = 2,
        segment_gap: float = 0.05,
        segment_min: float = 0.3,
        background_penalty: float = 0.1,
        paper_vote: int = 2,
        vote_margin: float = 0.1,
    ) -> None:
        self.embedder = embedder
        self.max_sentences = max_sentences
        self.min_score = min_score
        self.margin = margin
        self.paper_margin = paper_margin  # many-paper questions: papers within this of the best
        self.max_papers = max_papers
        self.few_papers = few_papers  # up to this many papers also get a contribution sentence
        self.per_paper_extra = per_paper_extra  # many-paper answers: more sentences per paper
        self.cover_margin = cover_margin  # ... within this of the paper's best
        self.min_new_terms = min_new_terms  # ... each adding this many new question terms
        self.passage_weight = passage_weight  # of the passage's similarity in a sentence's score
        self.one_extra = one_extra  # one-paper answers: sentences covering the question's rest
        self.one_margin = one_margin  # ... within this of the paper's best
        self.facet_weight = facet_weight  # of a clause's own score in a sentence's clause score
        self.fit_bonus = fit_bonus  # ... up (down) when it states (lacks) the kind asked
        self.finding_margin = finding_margin  # many-paper: a paper's finding within this of best
        self.segment_extra = segment_extra  # one-paper: sentences for phrases the rest leave out
        self.segment_gap = segment_gap  # ... stating the phrase this much better than the chosen
        self.segment_min = segment_min  # ... and scoring at least this for it
        self.background_penalty = background_penalty  # one-paper: a paper's opening background
        self.paper_vote = paper_vote  # one-paper: the paper whose best this many lead wins
        self.vote_margin = vote_margin  # ... when its best is within this of the best

    def score(self, question: str, sources: list[Hit]) -> list[ScoredSentence]:
        candidates: list[tuple[str, int]] = []
        for n, hit in enumerate(sources, start=1):
            offsets = hit.metadata.get("sent_offsets")
            for sentence in split_by_offsets(hit.text, str(offsets) if offsets else None):
                candidates.append((sentence, n))
        if not candidates:
            return []
        asked = question.split(CONTEXT_MARKER)[0]
        parts = facets(asked) if self.facet_weight else []
        segs = segments(asked) if self.segment_extra else []
        passages = [h.text for h in sources] if self.passage_weight else []
        texts = [c[0] for c in candidates]
        queries = [question, *(f.text for f in parts), *segs]
        vectors = self.embedder.embed([*queries, *texts, *passages])
        nq, nc, nf = len(queries), len(candidates), 1 + len(parts)
        sims = vectors[nq : nq + nc] @ vectors[:nq].T  # column 0: the question, its clauses...
        psims = vectors[nq + nc :] @ vectors[0] if passages else None
        q_terms = set(terms(question.split(CONTEXT_MARKER)[0]))
        f_terms = [set(terms(f.text)) for f in parts]
        s_terms = [set(terms(seg)) for seg in segs]
        scored = []
        for (text, n), sim in zip(candidates, sims, strict=True):
            title_terms = set(terms(sources[n - 1].title))
            w = self.passage_weight  # the whole passage's similarity: its sentence's context
            context = w * float(psims[n - 1]) if psims is not None else 0.0
            score = mix(float(sim[0]), q_terms, text, title_terms, 0.6 - w) + context
            by_part = tuple(
                (1 - self.facet_weight) * score
                + self.facet_weight * mix(float(sim[i + 1]), f_terms[i], text, title_terms, 0.6)
                + self._fit(f, text)
                for i, f in enumerate(parts)
            )
            by_seg = tuple(
                mix(float(sim[nf + i]), s_terms[i], text, set(), 0.6) for i in range(len(segs))
            )
            shared = q_terms & (set(terms(text)) | title_terms)
            overlap = len(shared) / len(q_terms) if q_terms else 0.0
            scored.append(ScoredSentence(text, n, score, float(sim[0]), overlap, by_part, by_seg))
        scored.sort(key=lambda s: -s.score)
        return scored

    def _fit(self, facet: Facet, text: str) -> float:
        """``fit_bonus`` up when ``text`` states the kind of answer the clause asks for, down
        when not; a clause asking for a number is never answered by a sentence without one."""
        if fits(facet, text):
            return self.fit_bonus
        return -1.0 if facet.kind == "quantity" else -self.fit_bonus

    def draft(
        self,
        question: str,
        sources: list[Hit],
        on_delta: Callable[[str], None] | None = None,
    ) -> Draft:
        """The chosen sentences (``on_delta`` is unused: nothing is generated)."""
        asked = question.split(CONTEXT_MARKER)[0]
        focus = analyse(asked)
        if focus.scope == "paper" and len({h.paper_id for h in sources}) == 1:
            return self.about_paper(sources, asked)
        scored = self.score(question, sources)
        if not scored or scored[0].score < self.min_score:
            return Draft(sentences=[], refused=True)
        if focus.scope == "many" and not ONE_ASKED_RE.search(asked):
            return self.per_paper(scored, sources, question)
        if self.background_penalty:  # the answer, not the background repeating the question
            scored = demote(scored, background(sources), self.background_penalty)
        if self.paper_vote > 1:  # the paper whose best few sentences score best leads
            scored = lead_paper_first(scored, sources, self.paper_vote, self.vote_margin)
        best = scored[0].score
        chosen: list[ScoredSentence] = []
        if focus.kind != "general":  # put the best sentence stating the asked kind first
            typed = [s for s in scored[:10] if answers_kind(focus, s.text)]
            if typed and typed[0].score >= self.min_score:
                chosen.append(typed[0])
        floor = min(best, max(self.min_score, best - self.margin))  # the best always passes
        for s in scored:
            if len(chosen) >= self.max_sentences or s.score < floor:
                break
            if any(s.text == c.text for c in chosen):
                continue
            chosen.append(s)
        if focus.kind == "general":  # the best paper's own statement of what it does
            chosen += self._contribution(scored, sources, chosen[0], chosen)
        if self.one_extra:  # the parts of the question the chosen sentences leave out
            pid = sources[chosen[0].source - 1].paper_id
            ranked = [s for s in scored if sources[s.source - 1].paper_id == pid]
            q_terms = set(terms(asked))
            covered = q_terms & {t for c in chosen for t in terms(c.text)}
            extra = self._covering(ranked, q_terms, covered, self.one_extra, self.one_margin)
            chosen += [s for s in extra if all(s.text != c.text for c in chosen)]
        cited = {sources[c.source - 1].paper_id for c in chosen}  # each clause, from those papers
        pool = [s for s in scored if sources[s.source - 1].paper_id in cited]
        chosen += self._by_facet(pool, chosen)
        chosen += by_segment(pool, chosen, self.segment_extra, self.segment_gap, self.segment_min)
        chosen += spelled_out(pool, sources, chosen, self.one_margin, set(terms(asked)))
        return Draft(sentences=[DraftSentence(tidy(c.text), [c.source]) for c in chosen])

    def _contribution(
        self,
        scored: list[ScoredSentence],
        sources: list[Hit],
        anchor: ScoredSentence,
        chosen: list[ScoredSentence],
    ) -> list[ScoredSentence]:
        """The best claim sentence ("we propose ...", "we ... show that") of ``anchor``'s paper
        that is not already ``chosen`` and scores within ``paper_margin`` of it (at most one;
        the paper is already judged relevant, so ``min_score`` does not apply)."""
        pid = sources[anchor.source - 1].paper_id
        for s in scored:
            if s.score < anchor.score - self.paper_margin:
                break
            if (
                sources[s.source - 1].paper_id == pid
                and CLAIM_RE.search(s.text)
                and all(s.text != c.text for c in chosen)
            ):
                return [s]
        return []

    def per_paper(
        self, scored: list[ScoredSentence], sources: list[Hit], question: str = ""
    ) -> Draft:
        """Multi-paper and "what do the papers say" questions: each relevant paper's best
        sentence, papers in order of relevance; how many follows relevance, not a count (a paper
        whose title has a name the question asks about is relevant). Grouped
        with it: a sentence covering parts of the question it did not (:meth:`_covering`), its
        finding (:meth:`_finding`), its best sentence for each clause (:meth:`_by_facet`)."""
        best = scored[0].score
        floor = max(self.min_score, best - self.paper_margin)
        by_paper: dict[str, list[ScoredSentence]] = {}
        for s in scored:  # best first
            by_paper.setdefault(sources[s.source - 1].paper_id, []).append(s)
        names = [e.lower() for e in analyse(question.split(CONTEXT_MARKER)[0]).entities]

        def named(ss: list[ScoredSentence]) -> bool:  # its title names a paper the question does
            title = sources[ss[0].source - 1].title.lower()
            return any(re.search(rf"(?<!\w){re.escape(e)}(?!\w)", title) for e in names)

        papers = [ss for ss in by_paper.values() if ss[0].score >= floor or named(ss)]
        papers = papers[: self.max_papers]
        firsts = [ss[0] for ss in papers]
        q_terms = set(terms(question.split(CONTEXT_MARKER)[0]))
        chosen: list[ScoredSentence] = []
        reason = asks_reason(question.split(CONTEXT_MARKER)[0])
        for ss in papers:
            covered = q_terms & set(terms(ss[0].text))
            extra = self._covering(ss, q_terms, covered, self.per_paper_extra, self.cover_margin)
            group = [ss[0], *extra]
            if len(papers) <= self.few_papers:  # few papers: each one's contribution too
                group += self._contribution(scored, sources, ss[0], [*firsts, *group])
            group += self._finding(ss, [*firsts, *group], reason)
            group += self._by_facet(ss, [*firsts, *group])
            chosen += group
        return Draft(sentences=[DraftSentence(tidy(c.text), [c.source]) for c in chosen])

    def _finding(
        self, ranked: list[ScoredSentence], chosen: list[ScoredSentence], reason: bool
    ) -> list[ScoredSentence]:
        """One paper's (``ranked``, best first) best statement of what it finds or shows
        (:data:`FINDING_RE`; for a "why" question, one giving a reason), within
        ``finding_margin`` of its best sentence, unless one is already ``chosen``."""

        def finding(s: ScoredSentence) -> bool:
            if reason:  # a finding that gives a reason ("we prove that X is not ...")
                return bool(FINDING_RE.search(s.text) and REASON_RE.search(s.text))
            return bool(FINDING_RE.search(s.text) or CLAIM_RE.search(s.text))

        if not self.finding_margin or any(finding(c) for c in chosen if c in ranked):
            return []
        for s in ranked:
            if s.score < ranked[0].score - self.finding_margin:
                break
            if finding(s) and all(s.text != c.text for c in chosen):
                return [s]
        return []

    def _by_facet(
        self, ranked: list[ScoredSentence], chosen: list[ScoredSentence]
    ) -> list[ScoredSentence]:
        """For each clause of a multi-part question, the best sentence of ``ranked`` for it,
        when no ``chosen`` one is: the clauses a question's best sentences leave out."""
        out: list[ScoredSentence] = []
        parts = len(ranked[0].facets) if ranked else 0
        for i in range(parts):
            top = max(ranked, key=lambda s: s.facets[i])
            if top.facets[i] < self.min_score:
                continue
            if all(top.text != c.text for c in [*chosen, *out]):
                out.append(top)
        return out

    def _covering(
        self,
        ranked: list[ScoredSentence],
        q_terms: set[str],
        covered: set[str],
        limit: int,
        margin: float,
    ) -> list[ScoredSentence]:
        """Up to ``limit`` more sentences of one paper (``ranked``, best first), each within
        ``margin`` of its best and stating question terms not yet ``covered`` (the question's
        words, not the title's): MMR-style novelty over the parts of the question."""
        first = ranked[0]
        covered = set(covered)
        out: list[ScoredSentence] = []
        for s in ranked[1:]:
            if len(out) >= limit or s.score < first.score - margin:
                break
            new = (q_terms & set(terms(s.text))) - covered
            if len(new) >= self.min_new_terms:
                out.append(s)
                covered |= new
        return out

    def about_paper(self, sources: list[Hit], question: str = "") -> Draft:
        """A question about one paper ("this paper", ``--paper``): its contribution, method and
        results, one sentence each, in the paper's own order; the part the question asks for
        ("how does it work", "what results") comes first. Sentences before the paper's first
        statement of its own work are background and serve only when nothing else does."""
        units: list[tuple[str, int]] = []
        for n, hit in sorted(enumerate(sources, start=1), key=lambda x: position(x[1])):
            for text in split_by_offsets(hit.text, hit_offsets(hit)):
                if all(text != u[0] for u in units):  # overlapping chunks repeat sentences
                    units.append((text, n))
        if not units:
            return Draft(sentences=[], refused=True)
        own = next((i for i, u in enumerate(units) if CONTRIBUTION_RE.search(u[0])), None)
        if own is None:
            own = next((i for i, u in enumerate(units) if OWN_RE.search(u[0])), None)
        after = units[own:] if own is not None else units
        contribution = [units[own]] if own is not None else units[:1]
        method = [u for u in after if METHOD_RE.search(u[0]) and u not in contribution][:1]
        result = [u for u in after if RESULT_RE.search(u[0]) and u not in contribution + method]
        result.sort(key=lambda u: not STRONG_RESULT_RE.search(u[0]))  # sure results first
        parts = {"contribution": contribution, "method": method, "result": result[:1]}
        asked = next((k for k, rx in ASKED_PART.items() if rx.search(question)), "contribution")
        first = parts[asked] or contribution
        rest = sorted((u for k, v in parts.items() for u in v if u not in first), key=units.index)
        return Draft(sentences=[DraftSentence(tidy(t), [n]) for t, n in [*first, *rest]])
