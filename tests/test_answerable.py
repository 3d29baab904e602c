"""The learned near-miss (answerability) check: the shipped weights load and ship as package data,
the features do what they say (fake embedder), the verifier turns an answer whose asked detail is
not stated into a "not reported" one (fake scorer), and the real model with the real MiniLM
embedder ranks a near miss built from the tiny test corpus below the answerable question."""

from __future__ import annotations

import fnmatch
import tomllib
from importlib.resources import files
from pathlib import Path

import pytest

from rag.answering.answerable import (
    ALL_FEATURES,
    WEIGHTS_FILE,
    AnswerabilityModel,
    AnswerabilityScorer,
    asked_phrase,
    features_many,
)
from rag.answering.focus import analyse
from rag.answering.grammar import PARTIAL_PREFIX, Draft, DraftSentence
from rag.answering.verify import finalize
from rag.schema import Hit
from tests.fakes import FakeEmbedder

ROOT = Path(__file__).resolve().parent.parent
# From tests/data/tiny_daily.txt ("Contrastive Pretraining of Protein Language Models").
PASSAGE = (
    "Protein language models learn structure from sequence alone. We add a contrastive objective "
    "between sequences and their predicted contact maps. On remote homology detection the model "
    "reaches 71.2% accuracy, 4.5 points above the baseline."
)
ANSWERABLE = "What accuracy does the contrastive protein language model reach on remote homology?"
NEAR_MISS = "On which GPU hardware was the contrastive protein language model trained?"


def test_weights_load_and_ship_as_package_data() -> None:
    model = AnswerabilityModel.load()
    assert model.features and set(model.features) <= set(ALL_FEATURES)
    assert len(model.weights) == len(model.features)
    assert 0.0 < model.threshold < 1.0
    assert (files("rag") / "data" / "weights" / WEIGHTS_FILE).is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["rag"]
    assert any(fnmatch.fnmatch(f"data/weights/{WEIGHTS_FILE}", p) for p in patterns)


def test_asked_phrase() -> None:
    assert asked_phrase("What GLUE score does the BERT_LARGE model reach?") == "GLUE score"
    assert asked_phrase("On which GPU hardware were the speed-ups measured?") == "GPU hardware"
    assert asked_phrase("How does the method work?") == ""
    # filler words name nothing; "what's" asks too
    assert asked_phrase("Apart from backbones, what else did PixPro help pre-train?") == ""
    assert asked_phrase("What exact Wikitext2 perplexity does SEA reach?") == "Wikitext2 perplexity"
    assert asked_phrase("For AutoDistil, what's the average GLUE score and size?") == "GLUE score"
    # any stated number answers "what accuracy"; the specific part of the phrase stays
    assert asked_phrase("What accuracy does KD report on ImageNet?") == ""
    assert asked_phrase("What top-1 accuracy does KD report on ImageNet?") == "top-1"
    assert asked_phrase("By what margin does Orca beat Vicuna-13B?") == ""


def test_features_see_the_missing_detail() -> None:
    """Fake embedder: only the lexical features are checked."""
    emb = FakeEmbedder(dim=64)
    (ok, miss) = features_many(emb, [(ANSWERABLE, [PASSAGE]), (NEAR_MISS, [PASSAGE])])
    assert ok is not None and miss is not None
    assert ok["asked_cov"] == 1.0 and ok["kind_ok"] == 1.0  # "accuracy" ... "71.2%"
    assert miss["asked_cov"] == 0.0 and miss["kind_ok"] == 0.0  # no hardware stated
    assert miss["miss_terms"] > ok["miss_terms"]
    assert features_many(emb, [("Anything?", [])]) == [None]


def test_title_words_count_as_stated_but_sentences_stay_the_passages() -> None:
    """Fake embedder: a question naming the paper by its title's words ("ProtCL", "contrastive
    pretraining") is covered once the title is given; a swapped detail still is not."""
    emb = FakeEmbedder(dim=64)
    title = "ProtCL: Contrastive Pretraining of Protein Language Models"
    q = "What accuracy does ProtCL reach on remote homology?"
    (bare,) = features_many(emb, [(q, [PASSAGE])])
    (titled,) = features_many(emb, [(q, [PASSAGE])], [[title]])
    assert bare is not None and titled is not None
    assert bare["ent_cov"] == 0.0 and titled["ent_cov"] == 1.0
    assert titled["cov"] > bare["cov"] and titled["miss_terms"] < bare["miss_terms"]
    assert titled["cos_best"] == bare["cos_best"] and titled["kind_ok"] == bare["kind_ok"]
    (swapped,) = features_many(emb, [(NEAR_MISS, [PASSAGE])], [[title]])
    assert swapped is not None and swapped["asked_cov"] == 0.0


def test_synthetic_realistic_paraphrases_reword_and_twin() -> None:
    """No embedder: the realistic paraphrases reword common words, describe the paper by its
    title without its name, and their twins swap the specific detail."""
    import random

    from eval.synth_paraphrase import describe, paraphrase, reword, twin

    rng = random.Random(0)
    assert reword("The proposed method improves performance", rng, rate=1.0) != (
        "The proposed method improves performance"
    )
    assert reword("GSM8K and BERT", rng, rate=1.0) == "GSM8K and BERT"
    desc = describe("ProtCL: Contrastive Pretraining of Protein Language Models", "ProtCL", rng)
    assert "ProtCL" not in desc and "protein" in desc
    q = paraphrase("num", "ProtCL", desc, "accuracy", "SCOPe", None, None, rng)
    assert q is not None and "ProtCL" not in q and "SCOPe" in q and "accuracy" in q
    got = twin(q, "accuracy", "SCOPe", ["ImageNet"], ["GPU memory"], rng)
    assert got == ("nm_rentity", q.replace("SCOPe", "ImageNet"))
    got = twin(q, "accuracy", None, [], ["GPU memory"], rng)
    assert got == ("nm_rasked", q.replace("accuracy", "GPU memory"))


def _answer(question: str, answerable: bool) -> tuple[bool, bool]:
    """Fake scorer (a fixed model over one feature): (refused, partial) of the verified answer."""
    bias = 1.0 if answerable else -1.0
    model = AnswerabilityModel(features=("specific",), weights=(0.0,), bias=bias, threshold=0.5)
    scorer = AnswerabilityScorer(FakeEmbedder(dim=32), model)
    hit = Hit(chunk_id="c1", paper_id="p1", title="Contrastive Pretraining", text=PASSAGE, score=1)
    draft = Draft([DraftSentence("The model reaches 71.2% accuracy on remote homology.", [1])])
    ans = finalize(
        question, draft, [hit], "extractive", focus=analyse(question), answerability=scorer
    )
    assert ans.partial is False or ans.answer.startswith(PARTIAL_PREFIX)
    return ans.refused, bool(ans.partial)


def test_verifier_turns_an_unstated_detail_into_not_reported() -> None:
    assert _answer(ANSWERABLE, answerable=True) == (False, False)
    assert _answer(ANSWERABLE, answerable=False) == (True, True)
    # Questions about several papers ask for no single detail: not judged.
    assert _answer("What do the papers say about protein models?", answerable=False) == (
        False,
        False,
    )


@pytest.mark.integration
def test_real_model_scores_near_miss_below_answerable() -> None:
    from rag.index.embedders import make_embedder
    from rag.settings import Settings

    scorer = AnswerabilityScorer(make_embedder(Settings()))
    ok, miss = scorer.score_many([(ANSWERABLE, [PASSAGE]), (NEAR_MISS, [PASSAGE])])
    assert ok > miss
    assert ok >= scorer.threshold > miss


PAPERS = [
    ("p1", "Co-DETR: collaborative hybrid assignments training",
     ["We present Co-DETR, a detector trained with hybrid assignments.",
      "Co-DETR reaches 66.0% AP on COCO test-dev with a ViT-L backbone.",
      "The auxiliary heads are discarded at inference and add no parameters or cost."]),
    ("p2", "WebArena: a realistic web environment for building autonomous agents",
     ["We build WebArena, an environment of realistic websites for language agents.",
      "Our best GPT-4 agent only achieves an end-to-end task success rate of 14.41%.",
      "Human performance on the same long-horizon tasks is far higher than the agents."]),
    ("p3", "Titans: learning to memorize at test time",
     ["We present Titans, a family of architectures with a neural long-term memory module.",
      "Titans scale to context windows larger than 2M tokens on needle-in-haystack tasks.",
      "Attention acts as a short-term memory while the neural memory persists longer."]),
]  # fmt: skip


def test_synthetic_questions_have_near_miss_twins_the_paper_cannot_answer() -> None:
    """eval/synth_questions.py on three toy abstracts (no embedder): reproducible, one half per
    paper, and each twin asks for a name or quantity its paper never mentions (0.1 s)."""
    from eval.synth_questions import generate, half_of
    from rag.answering.focus import entities_of, norm
    from rag.text import terms

    qs = generate(PAPERS)
    assert [q.question for q in qs] == [q.question for q in generate(PAPERS)]
    assert {q.half for q in qs if q.paper_id == "p1"} == {half_of("p1")}
    answerable = [q for q in qs if q.answerable]
    twins = [q for q in qs if not q.answerable]
    assert answerable and twins
    assert any(q.type == "num" and "AP" in q.question and "Co-DETR" in q.question for q in qs)
    abstracts = {pid: " ".join(s) for pid, _, s in PAPERS}
    for twin in twins:
        source = next(q for q in answerable if twin.id.startswith(q.id + "-"))
        text = abstracts[twin.paper_id]
        new = {w.strip("?,") for w in twin.question.split()} - {
            w.strip("?,") for w in source.question.split()
        }
        if twin.type == "nm_entity":
            names = [w for w in new if entities_of(w)]
            assert names and all(norm(w) not in norm(text) for w in names)
        if twin.type == "nm_asked":
            asked = terms(asked_phrase(twin.question))
            assert asked and not set(asked) & set(terms(text))
