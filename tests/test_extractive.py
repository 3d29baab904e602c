"""The extractive answerer adds the chosen paper's own claim sentence ("we ... show that") to a
one-paper answer, never another paper's, and never repeats a chosen sentence (fake bag-of-words
embedder)."""

from __future__ import annotations

from rag.answering.extractive import CLAIM_RE, ExtractiveBackend, tidy
from rag.index.chunking import offsets_of
from rag.schema import Hit
from tests.fakes import FakeEmbedder

A = (  # one paper, one sentence per chunk
    "Critical learning periods are periods early in development where temporary sensory "
    "deficits have a permanent effect on learned representations.",
    "To isolate the key factors, we focus on deep linear network models, and show that critical "
    "periods depend on the depth of the model.",
    "Biological systems are known to have them.",
)
B = "We propose a new optimiser for learning periods in development of deep networks."


def _draft(question: str) -> list[tuple[str, list[int]]]:
    backend = ExtractiveBackend(FakeEmbedder(dim=512), min_score=0.05, paper_margin=0.5)
    hits = [
        Hit(chunk_id=f"a{i}", paper_id="pa", title="Critical periods", text=t, score=1.0)
        for i, t in enumerate(A)
    ]
    hits.append(Hit(chunk_id="b1", paper_id="pb", title="An optimiser", text=B, score=0.5))
    return [(s.text, s.citations) for s in backend.draft(question, hits).sentences]


def test_one_paper_answer_gets_its_claim_sentence() -> None:
    sentences = _draft(
        "Do temporary sensory deficits early in development have permanent effects on deep models?"
    )
    texts = [t for t, _ in sentences]
    assert texts[0].startswith("Critical learning periods")  # the only one within `margin`
    claims = [t for t, cites in sentences if CLAIM_RE.search(t)]
    assert any("depend on the depth" in t for t in claims)
    assert all(cites != [4] for t, cites in sentences if CLAIM_RE.search(t))  # never paper B's
    assert len(texts) == len(set(texts))


# --- covering the question's parts (fake bag-of-words embedder, no model) -------------------------

C = (  # paper C: one sentence per part of a two-part question, and one off the question
    "We propose a retrain-free unlearning method that dampens the weights of the forget set.",
    "The dampening keeps test accuracy within one point while forgetting takes seconds.",
    "Image classifiers are widely deployed.",
)
D = "We propose a graph method for the retrain-free scheduling of jobs."


def _hits(papers: dict[str, tuple[str, ...]]) -> list[Hit]:
    return [
        Hit(chunk_id=f"{pid}{i}", paper_id=pid, title=f"Paper {pid}", text=t, score=1.0)
        for pid, texts in papers.items()
        for i, t in enumerate(texts)
    ]


def test_one_paper_answer_adds_a_sentence_for_the_part_left_out() -> None:
    """The question asks for a method and for accuracy/time: the best sentence states the method;
    the paper's sentence that states the rest is added, the off-question one and the other
    paper's are not; with ``one_extra=0`` the second part stays unanswered."""
    question = (
        "Is there a retrain-free unlearning method dampening weights, and what accuracy and time?"
    )
    hits = _hits({"c": C, "d": (D,)})
    texts = {}
    for extra in (0, 2):
        backend = ExtractiveBackend(
            FakeEmbedder(dim=512), min_score=0.05, margin=0.0, one_extra=extra, one_margin=0.5
        )
        draft = backend.draft(question, hits)
        texts[extra] = [s.text for s in draft.sentences]
        assert all(s.citations in ([1], [2], [3]) for s in draft.sentences)  # paper C only
    assert C[0] in texts[2] and C[1] in texts[2]
    assert C[2] not in texts[2] and D not in texts[2]
    assert C[1] not in texts[0]


def test_many_paper_answer_groups_each_papers_sentences() -> None:
    """A "which papers" answer: each relevant paper's best sentence, then the sentence of the same
    paper that covers another part of the question, grouped with it (fake embedder)."""
    e = (
        "We train attention to implement preconditioned gradient descent on regression.",
        "With non-isotropic covariates the minimizer changes.",
        "Transformers are popular.",
    )
    question = (
        "Which papers show attention implements preconditioned gradient descent with "
        "non-isotropic covariates?"
    )
    hits = _hits({"c": C, "e": e, "f": ("Attention implements preconditioned gradient descent.",)})
    backend = ExtractiveBackend(FakeEmbedder(dim=512), min_score=0.05, cover_margin=0.5)
    draft = backend.draft(question, hits)
    cited = [s.citations[0] for s in draft.sentences]
    texts = [s.text for s in draft.sentences]
    assert e[0] in texts and e[1] in texts and e[2] not in texts
    assert not any(t in texts for t in C)  # an off-topic paper gets nothing
    papers = [hits[n - 1].paper_id for n in cited]
    assert papers == sorted(papers, key=papers.index)  # grouped: a paper's sentences together
    assert texts.index(e[1]) == texts.index(e[0]) + 1


def test_passage_similarity_breaks_a_tie_between_equal_sentences() -> None:
    """The same sentence in two passages scores higher in the passage closer to the question
    (fake embedder); without ``passage_weight`` the two score alike."""
    same = "The method works well."
    hits = [
        Hit(chunk_id=p, paper_id=p, title="T", text=" ".join([same, other]), score=1.0,
            metadata={"sent_offsets": offsets_of([same, other])})
        for p, other in (("x", "Coral reefs bleach."), ("y", "Token pruning speeds LLMs."))
    ]  # fmt: skip
    question = "Does token pruning speed up LLMs well?"
    for weight in (0.0, 0.1):
        backend = ExtractiveBackend(FakeEmbedder(dim=512), passage_weight=weight)
        scores = {s.source: s.score for s in backend.score(question, hits) if s.text == same}
        if weight:
            assert scores[2] > scores[1]
        else:
            assert abs(scores[2] - scores[1]) < 1e-6


def test_about_paper_gives_contribution_method_and_result_in_the_papers_order() -> None:
    """``--paper``/"this paper": the paper's contribution, method and result sentences, in the
    paper's order even when retrieval returns its chunks reversed, background left out; the
    part asked for comes first (fake embedder)."""
    chunks = (
        ["Large models are costly.", "Pruning is popular."],
        ["We propose TinyPrune, a pruning rule.", "Our method uses gradient saliency per layer."],
        ["Experiments show 40% fewer FLOPs at equal accuracy.", "Code is online."],
    )
    hits = [
        Hit(chunk_id=f"p#{i}", paper_id="p", title="TinyPrune", text=" ".join(sents), score=1.0,
            metadata={"chunk_index": i, "sent_offsets": offsets_of(sents),
                      "sentence_start": 2 * i})
        for i, sents in reversed(list(enumerate(chunks)))
    ]  # fmt: skip
    backend = ExtractiveBackend(FakeEmbedder(dim=512))

    def said(question: str) -> list[str]:
        return [s.text for s in backend.draft(question, hits).sentences]

    main = said("What is the main contribution of this paper?")
    assert [t.split()[0] for t in main] == ["We", "Our", "Experiments"]
    assert not any("costly" in t or "popular" in t for t in main)
    results = said("What results does this paper report?")
    assert results[0].startswith("Experiments show 40%")
    assert results[1:] == main[:2]


def test_tidy_drops_dangling_connectives_and_latex_escapes_only() -> None:
    assert tidy(r"Further, we reach 88\% on K\&K, i.e.~it works well.") == (
        "We reach 88% on K&K, i.e. it works well."
    )
    assert tidy("Further work is needed on this.") == "Further work is needed on this."
