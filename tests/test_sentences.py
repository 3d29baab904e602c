"""Sentence choice for factoid and paraphrase questions (issue 9): the phrases of a long
question, the sentence that spells out a method ("Specifically, ..."), a paper's opening
background, and "what does it gain" clauses. The backend tests use the fake bag-of-words
embedder of ``tests.fakes`` (no model)."""

from __future__ import annotations

from rag.answering.extractive import ExtractiveBackend
from rag.answering.facets import facets, fits
from rag.answering.sentences import background, elaborations, segments, tidy
from rag.index.chunking import offsets_of
from rag.schema import Hit
from rag.text import terms
from tests.fakes import FakeEmbedder


def _paper(pid: str, sentences: list[str], start: int = 0) -> Hit:
    """One chunk of paper ``pid``; ``start`` 0 is the chunk that opens the paper."""
    return Hit(
        chunk_id=f"{pid}#{start}", paper_id=pid, title=f"Paper {pid}", text=" ".join(sentences),
        score=1.0, metadata={"sent_offsets": offsets_of(sentences), "chunk_index": start,
                             "sentence_start": start},
    )  # fmt: skip


def test_segments_split_a_long_question_into_phrases_with_content() -> None:
    question = (
        "Which approach has a convnet student predict, from a distorted copy of a picture, a "
        "histogram over a codebook of prototypes, with the codebook refreshed as training goes?"
    )
    parts = segments(question)
    assert len(parts) >= 3
    assert all(len(terms(p)) >= 3 for p in parts)
    assert any(p.startswith("with the codebook refreshed") for p in parts)
    joined = " ".join(parts).split()
    assert joined == question.replace(",", "").replace("?", "").split()  # no word lost
    assert segments("What is the synthetic prior that TabPFN is trained on built from?") == []


def test_elaborations_pair_a_spelling_out_with_the_sentences_before_it() -> None:
    sentences = [
        "We propose a data selector based on attention heads.",
        "Specifically, we mask retrieval heads and compute the loss difference.",
        "Results improve on five benchmarks.",
    ]
    assert elaborations(sentences) == [(sentences[0], sentences[1])]
    assert elaborations(sentences[::2]) == []
    between = [sentences[0], "Hence, it needs no labels.", *sentences[1:]]  # one sentence apart
    assert elaborations(between) == [(sentences[0], sentences[1]), (between[1], sentences[1])]


def test_background_is_a_papers_opening_before_it_speaks_of_its_own_work() -> None:
    opening = ["Recurrent models cannot recall long contexts.", "Attention can, at a cost."]
    own = ["We propose a prompt that repeats the context.", "Recall improves by 11 points."]
    later = ["Transformers are widely used."]
    hits = [_paper("a", opening + own), _paper("b", later, start=4)]
    assert background(hits) == {(s, 1) for s in opening}  # a later chunk says nothing
    assert background([_paper("c", own)]) == set()


def test_a_gain_clause_wants_a_result_sentence() -> None:
    parts = facets("Which papers let tokens pick a subset of heads, and what does each gain?")
    assert [p.kind for p in parts][-1] == "result"
    gain = parts[-1]
    assert fits(gain, "MoH outperforms multi-head attention using 50% of the heads.")
    assert fits(gain, "It reduces training time to 1 percent of NeRF.")
    assert not fits(gain, "Using 3DGS is hard: 1) low SNR, 2) noise.")  # names, enumerations


def test_one_paper_answer_prefers_the_own_work_over_background_repeating_the_question() -> None:
    """The opening background sentence repeats the question's words; the paper's own sentence
    answers it. With the background penalty the own sentence comes first; without, the
    background does (fake embedder)."""
    opening = "Natural language queries over APIs are often incomplete for planners."
    answer = "Our approach turns the query into planner input with an ASP solver."
    hits = [_paper("p", [opening, answer, "Code is released."])]
    question = "How is an incomplete natural language query over APIs turned into planner input?"
    first = {}
    for penalty in (0.0, 0.1):
        backend = ExtractiveBackend(
            FakeEmbedder(dim=512), min_score=0.05, margin=0.05, background_penalty=penalty
        )
        first[penalty] = backend.draft(question, hits).sentences[0].text
    assert first[0.0] == opening
    assert first[0.1] == answer


def test_one_paper_answer_adds_the_sentence_spelling_out_its_method() -> None:
    """The "Specifically, ..." sentence after a relevant one shares no word with the question
    but says how; it is added once, cited to its own passage, and not for another paper
    (fake embedder)."""
    method = "We score pretraining data with attention head influence."
    how = "Specifically, we mask retrieval units and compute the loss difference."
    other = _paper("q", ["Image models are big.", "Specifically, pruning cuts them."], start=3)
    hits = [_paper("p", [method, how, "It helps reasoning benchmarks."]), other]
    backend = ExtractiveBackend(FakeEmbedder(dim=512), min_score=0.05, one_extra=0)
    said = [(s.text, s.citations) for s in backend.draft(
        "How does attention head influence score pretraining data?", hits
    ).sentences]  # fmt: skip
    assert (tidy(how), [1]) in said
    assert said.index((tidy(how), [1])) > [t for t, _ in said].index(method)
    assert not any("pruning" in t for t, _ in said)


def test_one_paper_answer_adds_the_sentence_stating_a_phrase_left_out() -> None:
    """The best sentence states the question's first phrase; the one stating its last phrase
    ("with the codebook vocabulary refreshed by online updates") is added, the off-question one
    never; with ``segment_extra=0`` it is not (fake embedder)."""
    main = "We propose a scheme where a student predicts visual word histograms of a teacher."
    rest = "Our strategy performs an online update of the vocabulary."
    hits = [_paper("p", [main, rest, "Images are everywhere."])]
    question = (
        "Which scheme has a student predict visual word histograms of a teacher, with the "
        "codebook vocabulary refreshed by online updates?"
    )
    said = {}
    for extra in (0, 2):
        backend = ExtractiveBackend(
            FakeEmbedder(dim=512), min_score=0.05, margin=0.0, one_extra=0, segment_extra=extra
        )
        said[extra] = [s.text for s in backend.draft(question, hits).sentences]
    assert said[0] == [main]
    assert said[2] == [main, rest]


def test_a_paper_the_question_names_gets_its_sentences_in_a_many_paper_answer() -> None:
    """ "Alpha and BetaNet both ...; how does each ...": BetaNet's sentences share few words with
    the question, yet its paper, named in the question and in its title, is answered; an
    unnamed paper scoring as low is not (fake embedder)."""
    hits = [
        Hit(chunk_id="a", paper_id="a", title="Alpha: curriculum training", score=1.0,
            text="Alpha orders training from easy to hard samples by difficulty."),
        Hit(chunk_id="b", paper_id="b", title="BetaNet for search agents", score=0.5,
            text="Agents learn progressively based on the number of masked spans."),
        Hit(chunk_id="c", paper_id="c", title="Gamma for search agents", score=0.5,
            text="Agents learn progressively based on the number of retrieved spans."),
    ]  # fmt: skip
    question = (
        "Alpha and BetaNet both order training from easy to hard. How does each define difficulty?"
    )
    backend = ExtractiveBackend(FakeEmbedder(dim=512), min_score=0.3)
    cited = {
        hits[c - 1].paper_id for s in backend.draft(question, hits).sentences for c in s.citations
    }
    assert cited == {"a", "b"}


def test_a_sentence_going_on_about_the_asked_thing_counts_as_spelling_it_out() -> None:
    """ "... drawn from our prior. This prior incorporates ...": the second goes on about the
    prior the question asks about; not when the question asks about something else, nor when
    the sentence before never named it."""
    sentences = [
        "The network is trained offline on datasets drawn from our prior.",
        "This prior incorporates ideas from causal reasoning.",
    ]
    asked = set(terms("What is the synthetic prior built from?"))
    assert elaborations(sentences, asked) == [(sentences[0], sentences[1])]
    assert elaborations(sentences, set(terms("What is the network's size?"))) == []
    assert elaborations(sentences) == []
    assert elaborations(["Networks are trained offline.", sentences[1]], asked) == []


def test_the_paper_matching_in_several_sentences_leads_a_one_paper_answer() -> None:
    """Paper b's one sentence scores best alone; paper a's two sentences score almost as well
    each: a leads when ``paper_vote`` is 2 (within ``vote_margin``), b when the vote is off
    (fake embedder)."""
    question = "Is there a post hoc unlearning method that dampens important weights quickly?"
    hits = [
        _paper("a", ["A post hoc unlearning method is fast.", "It dampens important weights."]),
        _paper("b", ["A post hoc unlearning method dampens weights quickly.", "Fish swim."]),
    ]
    lead = {}
    for vote in (0, 2):
        backend = ExtractiveBackend(
            FakeEmbedder(dim=512), min_score=0.05, paper_vote=vote, vote_margin=0.5
        )
        lead[vote] = backend.draft(question, hits).sentences[0].citations
    assert lead == {0: [2], 2: [1]}


def test_is_there_a_question_with_each_is_answered_from_one_paper() -> None:
    """ "Is there a way to ... each weight ..." asks for one method: its "each" does not make it
    a many-paper question ("Which papers ..." stays one), so the answer quotes one paper
    (fake embedder)."""
    hits = [
        _paper("a", ["Merging checkpoints by taking each weight difference works well."]),
        _paper("b", ["Merging checkpoints by weight averaging works."]),
    ]
    backend = ExtractiveBackend(FakeEmbedder(dim=512), min_score=0.05, margin=0.0, paper_margin=0.9)

    def cited(question: str) -> set[int]:
        return {c for s in backend.draft(question, hits).sentences for c in s.citations}

    assert cited("Is there a way of merging checkpoints by taking each weight difference?") == {1}
    assert cited("Which papers merge checkpoints by taking each weight difference?") == {1, 2}
