"""The support scorer: number agreement, polarity flips, plumbing (fake embedder), and the
ordering of real SciFact pairs with the real embedder (integration)."""

from __future__ import annotations

import json

import pytest

from rag.answering.support import (
    DEFAULT_THRESHOLD,
    SupportScorer,
    flip_polarity,
    missing_numbers,
    sentence_numbers,
    strip_citations,
)
from tests.conftest import SHARED
from tests.fakes import FakeEmbedder

SCIFACT = SHARED / "benchmarks" / "scifact"
PASSAGE = (
    "We enrolled 1,000 adults with chronic heart failure in a randomised study. "
    "Treatment with metoprolol reduced all-cause mortality by 42% over two years. "
    "Hospital admissions for worsening heart failure were also less frequent."
)
VERBATIM = "Treatment with metoprolol reduced all-cause mortality by 42% over two years."


@pytest.fixture
def scorer() -> SupportScorer:
    return SupportScorer(FakeEmbedder(dim=256))


def test_verbatim_sentence_is_supported(scorer: SupportScorer) -> None:
    result = scorer.score(VERBATIM, [PASSAGE])
    assert result.supported and result.score >= DEFAULT_THRESHOLD
    assert result.reason.startswith("supported")
    assert result.features["cos_max"] == pytest.approx(1.0, abs=1e-5)
    assert 0.0 <= result.score <= 1.0


def test_citation_markers_are_ignored(scorer: SupportScorer) -> None:
    result = scorer.score(VERBATIM[:-1] + " [1].", [PASSAGE])
    assert result.supported, result.reason
    assert strip_citations("It works [1, 2] well [3].") == "It works well ."


def test_unrelated_sentence_is_not_supported(scorer: SupportScorer) -> None:
    result = scorer.score("Graphene transistors switch at terahertz frequencies.", [PASSAGE])
    assert not result.supported
    assert result.score < DEFAULT_THRESHOLD


def test_number_missing_from_passage_is_a_hard_fail(scorer: SupportScorer) -> None:
    sentence = VERBATIM.replace("42%", "57%")
    result = scorer.score(sentence, [PASSAGE])
    assert not result.supported
    assert result.score < scorer.threshold
    assert "57%" in result.reason and "not in cited passage" in result.reason
    assert result.missing_numbers == ["57%"]
    # The same sentence with the passage's number passes, so the number alone made the difference.
    assert scorer.score(VERBATIM, [PASSAGE]).supported


@pytest.mark.parametrize(
    ("sentence", "passage"),
    [
        ("Mortality fell by 42 % in the trial.", "mortality fell by 42%"),
        ("The trial enrolled 1,000 adults.", "the trial enrolled 1000 adults"),
        ("The trial enrolled 1000 adults.", "the trial enrolled 1,000 adults"),
        ("Mortality fell by 42%.", "a relative reduction of 0.42"),
        ("Risk was 0.42 lower.", "risk fell by 42 percent"),
        ("Uptake rose 2x.", "uptake rose two-fold"),
        ("Uptake rose 2-fold.", "uptake doubled"),
        ("About 76% responded.", "76.3% of patients responded"),
        ("Incidence was 11.9 per 1000.", "incidence was 11·9 per 1000"),
        ("There were 30 million cases.", "an estimated 30,000,000 cases"),
        ("Type 1 diabetes risk rises.", "T1D risk rises"),
    ],
)
def test_numbers_are_normalised(sentence: str, passage: str) -> None:
    assert missing_numbers(sentence, passage) == []


def test_number_agreement_in_the_scorer_is_normalised(scorer: SupportScorer) -> None:
    passage = PASSAGE.replace("42%", "42 %").replace("1,000", "1000")
    assert (
        scorer.score("We enrolled 1,000 adults; mortality fell 42%.", [passage]).missing_numbers
        == []
    )


def test_identifiers_and_other_values_are_not_matched() -> None:
    assert sentence_numbers("IL-6, p53, COVID-19, 4-PBA and CD4+ cells") == []
    assert [raw for raw, *_ in sentence_numbers("42 % of 1,000 had a 2x rise")] == [
        "42 %",
        "1,000",
        "2x",
    ]
    assert missing_numbers("Mortality fell by 43%.", "mortality fell by 42%") == ["43%"]
    assert missing_numbers("It took 18 months.", "after 8 months") == ["18"]
    assert missing_numbers("No numbers here.", "") == []
    # "\times" residue glued to a number ("4.8times faster") is a multiplier, not "4"
    glued = "ViG-T uses 5.2times fewer FLOPs and runs 4.8times faster at 1024times1024."
    assert [v for _, v, *_ in sentence_numbers(glued)] == [5.2, 4.8]
    assert missing_numbers(glued, glued) == []
    # a number with a unit letter is read whole or not at all: "4.6G" is never a "4"
    units = "RAVLT reaches 84.4% Top-1 accuracy with 26M parameters and 4.6G FLOPs."
    assert [raw for raw, *_ in sentence_numbers(units)] == ["84.4%"]
    assert missing_numbers(units, units) == []


def test_flip_polarity() -> None:
    assert flip_polarity("Aspirin increases bleeding.") == "Aspirin decreases bleeding."
    assert flip_polarity("Aspirin does not cause ulcers.") == "Aspirin does cause ulcers."
    assert flip_polarity("Aspirin is safe.") == "Aspirin is not safe."
    assert flip_polarity("Aspirin causes ulcers.").startswith("It is not true that")


def test_score_many_embeds_once_and_keeps_order() -> None:
    emb = FakeEmbedder(dim=256)
    scorer = SupportScorer(emb)
    results = scorer.score_many(
        [
            (VERBATIM, [PASSAGE]),
            ("Graphene transistors switch at terahertz frequencies.", [PASSAGE]),
            (VERBATIM, ["Unrelated text about rivers.", PASSAGE]),
        ]
    )
    assert emb.calls == 1
    assert [r.supported for r in results] == [True, False, True]


def test_empty_inputs_are_unsupported(scorer: SupportScorer) -> None:
    for sentence, passages in ((VERBATIM, []), (VERBATIM, ["  "]), ("", [PASSAGE])):
        result = scorer.score(sentence, passages)
        assert (result.score, result.supported) == (0.0, False)
    assert scorer.score_many([]) == []


def test_threshold_is_respected() -> None:
    strict = SupportScorer(FakeEmbedder(dim=256), threshold=0.999)
    result = strict.score("Metoprolol reduced mortality.", [PASSAGE])
    assert result.supported == (result.score >= 0.999)
    with pytest.raises(ValueError):
        SupportScorer(FakeEmbedder(), features=["nope"], weights=[1.0])


@pytest.mark.integration
@pytest.mark.skipif(not SCIFACT.exists(), reason="../shared/benchmarks not present")
def test_real_scifact_support_pairs_outrank_unrelated_ones() -> None:
    import gzip

    from rag.index.embedders import make_embedder
    from rag.settings import Settings

    claims = [json.loads(line) for line in (SCIFACT / "claims_train.jsonl").open()]
    picked: list[
        tuple[str, int, list[int]]
    ] = []  # (claim, rationale text, doc id) for the first SUPPORT evidence sets
    for claim in claims:
        for doc_id, sets in claim["evidence"].items():
            if sets[0]["label"] == "SUPPORT" and len(picked) < 12:
                picked.append((claim["claim"], int(doc_id), sets[0]["sentences"]))
                break
    wanted = {doc for _, doc, _ in picked}
    corpus: dict[int, list[str]] = {}
    with gzip.open(SCIFACT / "corpus.jsonl.gz", "rt") as fh:
        for line in fh:
            doc = json.loads(line)
            if doc["doc_id"] in wanted:
                corpus[doc["doc_id"]] = doc["abstract"]
    support_pairs = [
        (c, [" ".join(corpus[d][i] for i in idx)]) for c, d, idx in picked
    ]  # claim vs its own rationale
    unrelated_pairs = [  # claim vs the rationale of the next picked claim
        (c, support_pairs[(k + 1) % len(picked)][1]) for k, (c, _, _) in enumerate(picked)
    ]
    scorer = SupportScorer(make_embedder(Settings()))
    pos = [r.score for r in scorer.score_many(support_pairs)]
    neg = [r.score for r in scorer.score_many(unrelated_pairs)]
    wins = sum(p > n for p in pos for n in neg) / (len(pos) * len(neg))
    assert wins >= 0.9, (pos, neg)
    assert sum(p > n for p, n in zip(pos, neg, strict=True)) >= len(pos) - 1
    assert sum(n >= scorer.threshold for n in neg) <= 1
