"""Unit tests of rag.eval.metrics on hand-made cases (no models, no I/O)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from rag.answering.grammar import REFUSAL_PHRASE
from rag.eval import metrics as M
from rag.eval import report as R


def word_support(sentence: str, passages: tuple[str, ...]) -> bool:
    """A toy judge: every word of the sentence appears in the passages read together."""
    words = set(" ".join(passages).lower().split())
    return bool(passages) and all(w in words for w in sentence.lower().split())


# --- retrieval -------------------------------------------------------------------------------


def test_unique_in_order_keeps_first_occurrence() -> None:
    assert M.unique_in_order(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]


def test_recall_at_k() -> None:
    ranked = ["x", "a", "y", "b", "z"]
    assert M.recall_at_k(ranked, ["a", "b"], 2) == 0.5
    assert M.recall_at_k(ranked, ["a", "b"], 4) == 1.0
    assert M.recall_at_k(ranked, ["q"], 5) == 0.0
    assert M.recall_at_k(ranked, [], 5) is None  # no gold papers: not applicable


def test_reciprocal_rank() -> None:
    assert M.reciprocal_rank(["x", "y", "a"], ["a", "b"]) == pytest.approx(1 / 3)
    assert M.reciprocal_rank(["a"], ["a"]) == 1.0
    assert M.reciprocal_rank(["x", "y"], ["a"]) == 0.0
    assert M.reciprocal_rank(["x"], []) is None


def test_ndcg_binary_relevance_beir_style() -> None:
    # gold {a, b}; a at rank 1, b at rank 3: DCG = 1 + 1/log2(4); IDCG = 1 + 1/log2(3)
    expected = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert M.ndcg_at_k(["a", "x", "b"], ["a", "b"], 10) == pytest.approx(expected)
    assert M.ndcg_at_k(["b", "a", "x"], ["a", "b"], 10) == pytest.approx(1.0)
    assert M.ndcg_at_k(["x"] * 10 + ["a"], ["a"], 10) == 0.0  # beyond the cut-off
    # more gold papers than k: the ideal ranking fills all k places
    assert M.ndcg_at_k(list("abc"), list("abcdef"), 3) == pytest.approx(1.0)
    assert M.ndcg_at_k(["a"], [], 10) is None


def test_retrieval_scores_names() -> None:
    scores = M.retrieval_scores(["a", "b"], ["b"], (1, 10))
    assert scores == {
        "recall_at_1": 0.0,
        "recall_at_10": 1.0,
        "mrr": 0.5,
        "ndcg_at_10": pytest.approx(1 / math.log2(3)),
    }


# --- key facts ---------------------------------------------------------------------------------


def test_conveys_ignores_case_whitespace_punctuation_and_citations() -> None:
    fact = "three long-video benchmarks -- LVU, COIN, and Breakfast"
    assert M.conveys("It tops THREE long video benchmarks: LVU COIN and  Breakfast [1].", fact)


def test_conveys_by_80_percent_of_content_terms() -> None:
    fact = "completely pruning retrieval heads leads to failure in retrieving relevant information"
    assert M.content_terms(fact) == {
        "completely", "pruning", "retrieval", "head", "lead",
        "failure", "retrieving", "relevant", "information",
    }  # fmt: skip
    # reordered, 8 of the 9 terms ("completely" dropped): 89% >= 80%
    assert M.conveys(
        "Pruning retrieval heads leads to a failure retrieving relevant information", fact
    )
    # 7 of 9 ("completely" and "relevant" dropped): 78% < 80%
    assert not M.conveys("Pruning retrieval heads leads to failure retrieving information", fact)


def test_conveys_requires_every_number() -> None:
    fact = "we achieve 66.0% AP on COCO test-dev and 67.9% AP on LVIS val"
    assert M.conveys("They achieve 66.0% AP on COCO test-dev and 67.9% AP on LVIS val.", fact)
    wrong = "They achieve 66.0% AP on COCO test-dev and 61.2% AP on LVIS val."
    assert not M.conveys(wrong, fact)  # all the words, one number wrong


def test_key_fact_recall_shares_and_refusal_rules() -> None:
    facts = ["alpha beta gamma delta", "epsilon zeta eta theta"]
    answer = "We saw alpha beta gamma delta here."
    assert M.key_fact_recall(answer, facts, refused=False, should_refuse=False) == 0.5
    # a correct refusal is correct
    assert M.key_fact_recall(REFUSAL_PHRASE, [], refused=True, should_refuse=True) == 1.0
    # refusing an answerable question conveys nothing
    assert M.key_fact_recall(REFUSAL_PHRASE, facts, refused=True, should_refuse=False) == 0.0
    # answering a question that should be refused is wrong, whatever it says
    assert M.key_fact_recall(answer, [], refused=False, should_refuse=True) == 0.0
    # an answered question with no key facts has nothing to miss
    assert M.key_fact_recall(answer, [], refused=False, should_refuse=False) == 1.0


# --- citations -----------------------------------------------------------------------------


def test_single_citation_supported_and_not() -> None:
    good = M.CitedSentence("cats purr", ("cats purr loudly",))
    bad = M.CitedSentence("dogs bark", ("cats purr loudly",))
    scores = M.citation_scores([good, bad], word_support, refused=False, should_refuse=False)
    assert scores.recall == 0.5 and scores.faithfulness == 0.5
    assert scores.precision == 0.5  # the unsupported sentence's citation is not relevant
    assert scores.supported == [True, False]


def test_redundant_citation_is_irrelevant_alce() -> None:
    # "cats purr" is supported by passage 1 alone; passage 2 alone does not support it and
    # removing it keeps the support: passage 2 is irrelevant.
    s = M.CitedSentence("cats purr", ("cats purr loudly", "dogs bark"))
    scores = M.citation_scores([s], word_support, refused=False, should_refuse=False)
    assert scores.recall == 1.0
    assert scores.precision == 0.5
    assert scores.irrelevant_citations == 1


def test_citations_needed_together_are_both_relevant() -> None:
    s = M.CitedSentence("cats purr dogs bark", ("cats purr", "dogs bark"))
    scores = M.citation_scores([s], word_support, refused=False, should_refuse=False)
    assert (scores.recall, scores.precision) == (1.0, 1.0)


def test_uncited_sentence_counts_as_unsupported() -> None:
    s = M.CitedSentence("cats purr", ())
    scores = M.citation_scores([s], word_support, refused=False, should_refuse=False)
    assert (scores.recall, scores.precision, scores.faithfulness) == (0.0, 0.0, 0.0)


def test_citation_refusal_rules() -> None:
    right = M.citation_scores([], word_support, refused=True, should_refuse=True)
    assert (right.recall, right.precision, right.faithfulness) == (1.0, 1.0, 1.0)
    wrong = M.citation_scores([], word_support, refused=True, should_refuse=False)
    assert (wrong.recall, wrong.precision, wrong.faithfulness) == (0.0, 1.0, 1.0)
    empty = M.citation_scores([], word_support, refused=False, should_refuse=False)
    assert (empty.recall, empty.precision, empty.faithfulness) == (0.0, 0.0, 0.0)
    # an answer to a should-refuse question is still scored on its grounding
    s = M.CitedSentence("cats purr", ("cats purr",))
    answered = M.citation_scores([s], word_support, refused=False, should_refuse=True)
    assert answered.faithfulness == 1.0


def test_support_queries_lists_each_needed_verdict_once() -> None:
    one = M.CitedSentence("s", ("p1",))
    two = M.CitedSentence("t", ("p1", "p2"))
    queries = M.support_queries([one, one, two, M.CitedSentence("u", ())])
    assert queries == [
        ("s", ("p1",)),
        ("t", ("p1", "p2")),
        ("t", ("p1",)),
        ("t", ("p2",)),
    ]
    asked: list[tuple[str, tuple[str, ...]]] = []

    def recording(sentence: str, passages: tuple[str, ...]) -> bool:
        asked.append((sentence, passages))
        return True

    M.citation_scores([one, two], recording, refused=False, should_refuse=False)
    assert set(asked) <= set(queries)


def test_metrics_are_never_nan() -> None:
    sentence_sets = [[], [M.CitedSentence("x", ())], [M.CitedSentence("x", ("x",))]]
    for sentences, refused, refuse in itertools.product(
        sentence_sets, [True, False], [True, False]
    ):
        c = M.citation_scores(sentences, word_support, refused=refused, should_refuse=refuse)
        k = M.key_fact_recall("x", ["x y"], refused=refused, should_refuse=refuse)
        for value in (c.recall, c.precision, c.faithfulness, k):
            assert 0.0 <= value <= 1.0 and not math.isnan(value)
    for should, did in itertools.product([[], [True], [False]], repeat=2):
        if len(should) == len(did):
            r = M.refusal_scores(should, did)
            assert all(not math.isnan(v) for v in (r.precision, r.recall, r.f1, r.accuracy))


# --- refusals, latency, usage, aggregation ------------------------------------------------------


def test_refusal_scores() -> None:
    should = [True, True, False, False, True]
    did = [True, False, True, False, True]
    r = M.refusal_scores(should, did)
    assert (r.tp, r.fp, r.fn, r.tn) == (2, 1, 1, 1)
    assert r.precision == pytest.approx(2 / 3) and r.recall == pytest.approx(2 / 3)
    assert r.f1 == pytest.approx(2 / 3) and r.accuracy == pytest.approx(3 / 5)
    none_refused = M.refusal_scores([True, False], [False, False])
    assert (none_refused.precision, none_refused.recall, none_refused.f1) == (1.0, 0.0, 0.0)
    nothing_to_refuse = M.refusal_scores([False], [False])
    assert (nothing_to_refuse.precision, nothing_to_refuse.recall) == (1.0, 1.0)
    with pytest.raises(ValueError):
        M.refusal_scores([True], [])


def test_percentile_linear_interpolation() -> None:
    assert M.percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert M.percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert M.percentile([7.0], 95) == 7.0
    assert M.percentile([], 50) == 0.0


def test_usage_totals() -> None:
    usages: list[dict[str, Any] | None] = [
        {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cost_usd": 0.001},
        {"prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21, "cost_usd": None},
        None,
    ]
    totals = M.usage_totals(usages)
    assert totals == {
        "prompt_tokens": 30,
        "completion_tokens": 6,
        "total_tokens": 36,
        "cost_usd": 0.001,
        "cost_unknown": 1,
    }


def test_mean_and_group_summary() -> None:
    assert M.mean([1.0, None, 0.0]) == (0.5, 2)
    assert M.mean([None]) == (None, 0)
    rows: list[dict[str, Any]] = [{"metrics": {"r": 1.0, "k": 0.5}}, {"metrics": {"r": None}}]
    assert R.group_summary(rows, ["r", "k"]) == {"n": 2, "r": 1.0, "n_r": 1, "k": 0.5, "n_k": 1}


def test_accuracy() -> None:
    assert M.accuracy(["yes", None, "no"], ["yes", "no", "no"]) == pytest.approx(2 / 3)
    assert M.accuracy([], []) == 0.0


def test_parse_decision() -> None:
    assert M.parse_decision("Yes.\nTelephone counseling helped [1].") == (
        "yes",
        "Telephone counseling helped [1].",
    )
    assert M.parse_decision("**No** [2] it did not.")[0] == "no"
    assert M.parse_decision("Answer: maybe - results were mixed [1].") == (
        "maybe",
        "results were mixed [1].",
    )
    assert M.parse_decision("The answer is yes, because [1].")[0] == "yes"
    assert M.parse_decision("Unclear.") == (None, "Unclear.")


def test_quotes() -> None:
    rationale = "Telephone counseling promoted a significantly higher proportion of mammograms."
    assert M.quotes(rationale, "telephone counseling promoted a significantly higher proportion")
    assert M.quotes(rationale, f"In short: {rationale}")
    assert not M.quotes(rationale, "mammograms")  # too short to count as a quote
    assert not M.quotes(rationale, "Print materials did not help at all in this trial.")


# --- gates and comparisons ----------------------------------------------------------------------


def test_gate_failures() -> None:
    overall = {"recall_at_10": 0.8, "latency_p95_ms": 900.0, "mrr": None}
    lines = R.gate_failures(overall, {"recall_at_10": 0.85}, {"latency_p95_ms": 1000}, "seed.test")
    assert lines == ["seed.test recall_at_10 = 0.8 < threshold 0.85"]
    assert R.gate_failures(overall, {}, {"latency_p95_ms": 500}, "s")[0].endswith("> threshold 500")
    assert "n/a" in R.gate_failures(overall, {"mrr": 0.1}, {}, "s")[0]
    with pytest.raises(KeyError):
        R.gate_failures(overall, {"nope": 0.1}, {}, "s")


def test_compare_rows_and_summary_deltas() -> None:
    a = [
        {"id": "q1", "metrics": {"kf": 1.0, "r": 1.0}, "retrieved_ids": ["p1", "p2"]},
        {"id": "q2", "metrics": {"kf": 0.0, "r": 1.0}, "retrieved_ids": ["p1", "p2"]},
        {"id": "q3", "metrics": {"kf": 0.5, "r": 1.0}, "retrieved_ids": ["p1", "p2"]},
        {"id": "q4", "metrics": {"kf": 0.5, "r": 1.0}, "retrieved_ids": ["p1"]},
    ]
    b = [
        {"id": "q1", "metrics": {"kf": 0.5, "r": 0.0}, "retrieved_ids": ["p3", "p4"]},
        {"id": "q2", "metrics": {"kf": 1.0, "r": 1.0}, "retrieved_ids": ["p1", "p2"]},
        {"id": "q3", "metrics": {"kf": 0.5, "r": 1.0}, "retrieved_ids": ["p2", "p1"]},
        {"id": "q4", "metrics": {"kf": 1.0, "r": 1.0}, "retrieved_ids": ["p1", "p9"]},
    ]
    changes = {c["id"]: c for c in R.compare_rows(a, b, ["kf", "r"])}
    assert set(changes) == {"q1", "q2", "q4"}  # q3 unchanged
    assert changes["q1"]["status"] == "regressed"
    assert changes["q1"]["deltas"] == {"kf": -0.5, "r": -1.0}
    assert changes["q1"]["cause"] == "retrieval changed"
    assert changes["q2"]["status"] == "improved" and changes["q2"]["cause"] == "generation only"
    assert changes["q4"]["cause"] == "retrieval changed"
    deltas = R.summary_deltas({"x": 0.5, "flag": True, "s": "t"}, {"x": 0.75, "flag": False})
    assert deltas == {"x": {"a": 0.5, "b": 0.75, "delta": 0.25}}
