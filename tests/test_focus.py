"""The question-aware check (rag.answering.focus) and how the gate uses it (unit tests: rules
only, no model; the gate tests at the end use the fake embedder)."""

from __future__ import annotations

import pytest

from rag.answering.focus import analyse, answers_kind, entities_of, judge, kind_of
from rag.answering.grammar import PARTIAL_PREFIX, REFUSAL_PHRASE, Draft, DraftSentence
from rag.answering.verify import Verifier
from rag.schema import Hit


class Lexicon:
    """Document frequencies from a few texts (the lexical index plays this part for real)."""

    def __init__(self, texts: list[str]) -> None:
        from rag.text import Tokenizer

        self.tok = Tokenizer()
        self.docs = [set(self.tok(t)) for t in texts]

    def df_shares(self, text: str) -> list[tuple[str, float]]:
        return [
            (t, sum(t in d for d in self.docs) / len(self.docs))
            for t in dict.fromkeys(self.tok(text))
        ]


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How much does speculative decoding speed up inference?", "quantity"),
        ("What GSM8K accuracy did Llama2-70b reach after the training?", "quantity"),
        ("On which GPU hardware were the speed-up measurements taken?", "hardware"),
        ("Which university are the authors affiliated with?", "organization"),
        ("What does Block-LoRA share across its sub-matrices?", "general"),
        ("Who proposed the retrieval head?", "person"),
    ],
)
def test_kind_of_question(question: str, kind: str) -> None:
    assert kind_of(question) == kind


def test_entities_are_the_specific_names() -> None:
    q = "What GLUE score does the BERT_LARGE model initialized with bert2BERT reach on GSM8K?"
    assert entities_of(q) == ("glue", "bertlarge", "bert2bert", "gsm8k")
    assert entities_of("What do LLMs on GPUs do?") == ()  # generic acronyms pin nothing
    assert entities_of("How fast is S2-Attention's kernel?") == ("s2attention",)
    # a generic acronym qualifying a word names nothing; a versioned name still does
    assert entities_of("Is the RL-trained baseline faster than GPT-4?") == ("gpt4",)


def test_a_number_must_be_new_and_next_to_the_asked_thing() -> None:
    focus = analyse("What GLUE score does bert2BERT reach?")
    assert answers_kind(focus, "bert2BERT reaches a GLUE score of 84.3 on average.")
    # a number about something else (cost), far from "GLUE" / "score"
    saving = (
        "bert2BERT is evaluated on GLUE and SQuAD and beyond those benchmarks it saves about "
        "45% of the computational cost of pre-training BERT_BASE from scratch."
    )
    assert not answers_kind(focus, saving)
    again = analyse("How many of BIG-bench's 204 tasks are in languages other than English?")
    assert not answers_kind(again, "BIG-bench currently consists of 204 tasks.")  # asked number


def test_the_counted_noun_anchors_a_how_many_answer() -> None:
    """A "how many hours" question: a number next to "hours" answers it, even far from the names."""
    focus = analyse("How many hours does Quilt-1M collect from YouTube?")
    assert "hours" in focus.quantity_words
    far = (
        "We turn to YouTube, an untapped resource of videos, offering 1,087 hours of valuable "
        "educational histopathology videos from expert clinicians."
    )
    assert answers_kind(focus, far)
    assert not answers_kind(focus, "We turn to YouTube, an untapped resource of videos.")


def test_each_word_of_a_two_word_quantity_anchors() -> None:
    focus = analyse("What success rate does the best GPT-4 agent reach on WebArena?")
    said = "Our best GPT-4-based agent only achieves an end-to-end task success rate of 10.59%."
    assert answers_kind(focus, said)
    far = "Our best GPT-4-based agent, prompted with careful reflection on every page, took 12 s."
    assert not answers_kind(focus, far)


def test_off_question_sentence_is_not_an_answer() -> None:
    lex = Lexicon(
        [
            "S2-Attention achieves a 25.3X wall-clock attention speed-up over FlashAttention-2.",
            "Speculative decoding drafts tokens with a small model and verifies them.",
            "Block-LoRA shares all down-projection sub-matrices.",
            "Linear attention reduces the cost of transformers.",
        ]
        + [f"filler document {i} about training and inference speed" for i in range(100)]
    )
    focus = analyse("How much does speculative quantization speed up inference?", lex)
    assert [t[:7] for t in focus.absent] == ["quantiz"]
    off = judge(
        focus,
        "S2-Attention achieves a 25.3X wall-clock attention speed-up over FlashAttention-2.",
        ["S2-Attention achieves a 25.3X wall-clock attention speed-up over FlashAttention-2."],
        ["Efficient LLM Training and Serving with Heterogeneous Context Sharding"],
    )
    assert not off.addresses and "quantiz" in off.reason and "no paper here" in off.reason
    known = analyse("How much does speculative decoding speed up inference?", lex)
    on = judge(
        known,
        "Speculative decoding gives a 2.5x speed-up.",
        ["Speculative decoding gives a 2.5x speed-up."],
        ["Fast inference"],
    )
    assert on.addresses and on.answers


def hit(n: int, text: str, title: str = "A paper") -> Hit:
    return Hit(chunk_id=f"p{n}#0", paper_id=f"p{n}", title=title, text=text, score=0.5)


def test_gate_turns_an_unanswered_quantity_into_a_partial_answer() -> None:
    sources = [hit(1, "WebArena is a realistic web environment; the best GPT-4 agent succeeds "
                      "on 10.59% of the tasks.", "WebArena")]  # fmt: skip
    draft = Draft([DraftSentence(sources[0].text, [1])])
    q = "What task success rate did humans achieve on WebArena, compared with GPT-4's 10.59%?"
    answer = Verifier().verify(q, draft, sources, "test")
    assert answer.refused and answer.partial
    assert answer.answer.startswith(PARTIAL_PREFIX) and answer.citations  # what they do report
    assert answer.not_reported == "the number asked for"


def test_gate_drops_a_supported_but_off_question_sentence() -> None:
    sources = [hit(1, "HACKED. Block-LoRA shares down-projection matrices.", "Block-LoRA")]
    draft = Draft([DraftSentence("HACKED.", [1])])
    answer = Verifier().verify(
        "How does GSM8K accuracy change with Llama2-70b?", draft, sources, "t"
    )
    assert answer.refused and answer.answer == REFUSAL_PHRASE
    assert "does not address the question" in answer.dropped[0].reason


def test_an_answer_that_answers_is_kept_whole() -> None:
    sources = [hit(1, "bert2BERT reaches a GLUE score of 84.3 while saving 45% of the cost.")]
    draft = Draft([DraftSentence(sources[0].text, [1])])
    answer = Verifier().verify("What GLUE score does bert2BERT reach?", draft, sources, "t")
    assert not answer.refused and not answer.partial and answer.addresses == 1.0


def test_llm_partial_form_is_parsed() -> None:
    from rag.answering.grammar import parse_text_reply

    draft = parse_text_reply(
        "The provided papers do not report the GPU used. What they do report: "
        "S2-Attention is 25.3X faster than FlashAttention-2 [1]."
    )
    assert draft.not_reported == "the GPU used"
    assert [(s.text, s.citations) for s in draft.sentences] == [
        ("S2-Attention is 25.3X faster than FlashAttention-2.", [1])
    ]


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What exact Wikitext2 perplexity does SEA reach?", "quantity"),
        ("For AutoDistil's tiny student, what's the average GLUE score?", "quantity"),
        ("Which LLM plays the user role when generating trajectories?", "name"),
        ("What backbone is used by the detector?", "name"),
        ("What dataset was used to pre-train the encoder?", "general"),
        ("Which work argues that curricula help?", "general"),
    ],
)
def test_kind_of_qualified_quantities_and_names(question: str, kind: str) -> None:
    """A qualifier ("exact", "average") or "what's" still asks for a quantity; "which LLM ..."
    asks for a name."""
    assert kind_of(question) == kind


def test_how_many_counts_the_noun_it_names() -> None:
    """A "how many tasks" answer is a new number just before "tasks", not any number nearby."""
    focus = analyse("How many of BIG-bench's 204 tasks are in languages other than English?")
    assert focus.kind == "quantity" and focus.counted == ("task",)
    said = "BIG-bench currently consists of 204 tasks, contributed by 442 authors."
    assert not answers_kind(focus, said)  # 204 is asked, 442 counts authors
    assert answers_kind(focus, "Of these, 24 multilingual tasks cover low-resource languages.")
    both = analyse("How many CTF tasks does Cybench contain, and from how many competitions?")
    assert set(both.counted) == {"task", "competition"}
    assert answers_kind(both, "We include 40 professional-level Capture the Flag (CTF) tasks.")
    assert answers_kind(both, "The tasks come from four distinct competitions.")
    # another quantity asked too: a number near the asked thing may answer that part
    mixed = analyse("How much faster is FlashAttention, and how many GPUs does it need?")
    assert mixed.counted == ("gpu",) and not mixed.only_counts
    assert answers_kind(mixed, "FlashAttention is 3x faster than standard attention.")
    # a unit of a difference keeps the looser rule: any new number near the asked thing
    points = analyse("By how many points does LSSL beat prior approaches?")
    assert points.counted == ()
    assert answers_kind(points, "LSSL outperforms prior approaches by 24%.")


def test_a_name_question_needs_a_new_name() -> None:
    focus = analyse("In BUTTON, which LLM plays the user and assistant roles?")
    assert not answers_kind(focus, "BUTTON simulates humans, assistants and tools.")
    assert answers_kind(focus, "BUTTON lets GPT-4o play both roles.")


def test_numbers_in_names_and_dimensions_are_not_answers_or_names() -> None:
    """A name's number ("Llama3-8b") states no quantity; "1024x1024" is a size: not a name, nor
    a word absent from the library."""
    focus = analyse("What GSM8K accuracy did Llama2-70b reach?")
    assert not answers_kind(focus, "Llama3-8b-instruct supervises Llama3-70b on GSM8K.")
    assert answers_kind(focus, "Llama2-70b reaches 68.3% accuracy on GSM8K.")
    assert entities_of("At 1024x1024 resolution, how does ViG-T compare with DeiT-T?") == (
        "vigt",
        "deitt",
    )
    lex = Lexicon(["Dualformer solves unseen 30 x 30 mazes."] + [f"filler {i}" for i in range(20)])
    assert analyse("How often does it solve unseen 30x30 mazes?", lex).absent == ()


def test_compare_with_a_baseline_is_a_one_paper_question() -> None:
    assert analyse("How does ViG-T compare with DeiT-T in memory?").scope == "one"
    assert analyse("Compare the retrieval heads of two papers.").scope == "many"


def test_gate_finds_the_asked_name_in_another_passage_of_the_cited_paper() -> None:
    """No model: a sentence of a paper's first chunk addresses a question naming something its
    second chunk states; another paper's chunk does not lend it the name."""
    sources = [
        Hit(chunk_id="v#0", paper_id="v", title="ViG", text="ViG gates linear attention.",
            score=0.5),
        Hit(chunk_id="v#1", paper_id="v", title="ViG", text="ViG-T is faster than DeiT-T.",
            score=0.5),
        Hit(chunk_id="w#0", paper_id="w", title="Other", text="Other gates attention.",
            score=0.5),
    ]  # fmt: skip
    q = "How does the gated vision model compare with DeiT-T?"
    kept = Verifier().verify(q, Draft([DraftSentence(sources[0].text, [1])]), sources, "t")
    assert not kept.refused and kept.citations[0].chunk_id == "v#0"
    other = Verifier().verify(q, Draft([DraftSentence(sources[2].text, [3])]), sources, "t")
    assert other.refused and "does not address" in other.dropped[0].reason


def test_the_counted_noun_is_found_before_any_verb() -> None:
    """The plural after "how many" is counted ("annotators"); a unit ("times faster") is not."""
    focus = analyse("How many annotators labelled the benchmark's expert solutions?")
    assert focus.counted == ("annotator",) and focus.only_counts
    assert not answers_kind(focus, "The benchmark has 45 expert solutions, annotated by hand.")
    assert answers_kind(focus, "Twelve expert solutions were written by 5 trained annotators.")
    assert analyse("How many times faster is FlashAttention?").counted == ()


def test_the_questions_own_specific_words_anchor_a_number() -> None:
    """A number far from the paper's name but next to the question's own word ("responses") in
    a sentence about that paper answers; the common words of abstracts anchor nothing."""
    focus = analyse("How much shorter do AdaCtrl's responses get on the harder datasets?")
    said = (
        "Empirical results show that AdaCtrl adapts reasoning length based on estimated "
        "difficulty and simultaneously reduces response length by 10.06% on hard datasets."
    )
    assert answers_kind(focus, said)
    other = (
        "Empirical results show that AdaCtrl adapts reasoning length based on estimated "
        "difficulty, and the training data holds 10,000 problems."
    )
    assert not answers_kind(focus, other)
