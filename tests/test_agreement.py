"""Summaries' agreement check (rag/answering/agreement.py) and the stance model
(rag/answering/stance.py): numbers compared per metric and dataset (fake embedder, or none),
the JSON and terminal output, and the shipped stance weights with the real embedder."""

from __future__ import annotations

import json

import pytest

from rag.answering.agreement import check_agreement, measures, same_number
from rag.answering.stance import StanceJudge, StanceModel
from rag.interfaces.render import answer_json, print_summary
from rag.schema import Answer, AnswerSentence, Citation
from tests.fakes import FakeEmbedder


def summary(*sentences: str) -> Answer:
    """A two-or-more-paper summary: sentence i cites paper [i+1]."""
    return Answer(
        question="image classification",
        answer="\n".join(sentences),
        refused=False,
        sentences=[
            AnswerSentence(text=f"{s} [{i + 1}]", citations=[i + 1], supported=True)
            for i, s in enumerate(sentences)
        ],
        citations=[
            Citation(
                n=i + 1, paper_id=f"p{i + 1}", title=f"Paper {i + 1}", chunk_id=f"c{i + 1}", text=s
            )
            for i, s in enumerate(sentences)
        ],
        backend="extractive",
        papers_considered=len(sentences) + 1,
        papers_used=len(sentences),
    )


def test_different_accuracies_on_the_same_dataset_differ_with_both_numbers() -> None:
    """No embedder: the numbers check alone."""
    answer = summary(
        "Our ViT variant reaches 81.2% top-1 accuracy on ImageNet with fewer FLOPs.",
        "The pruned ResNet keeps an accuracy of 76.3% on ImageNet.",
    )
    found, checked = check_agreement(answer, None, None)
    assert checked == 1 and len(found) == 1
    a = found[0]
    assert (a.verdict, a.check, a.papers, a.about) == (
        "differ",
        "numbers",
        [1, 2],
        "accuracy on ImageNet",
    )
    assert a.values == ["81.2%", "76.3%"]
    assert "81.2%" in a.text and "76.3%" in a.text and "differ" in a.text


def test_the_same_number_agrees_at_the_precision_written() -> None:
    answer = summary(
        "On the MMLU benchmark the model scores 70.1% accuracy.",
        "Distillation preserves accuracy on MMLU at 70.1 %, matching the teacher.",
        "A cached variant gets 0.701 accuracy on MMLU.",
    )
    found, checked = check_agreement(answer, None, None)
    assert checked == 3
    assert [a.verdict for a in found] == ["agree"] * 3
    assert {tuple(a.papers) for a in found} == {(1, 2), (1, 3), (2, 3)}
    only = measures("It gets 0.70 accuracy on MMLU.")[0]
    assert same_number(only, measures("It gets 70.1% accuracy on MMLU.")[0])  # 0.70 ~ 0.701
    assert not same_number(only, measures("It gets 72% accuracy on MMLU.")[0])


def test_unrelated_sentences_yield_no_agreement_claim() -> None:
    """Fake embedder (hashed words): the sentences share no words, so no stance check either."""
    answer = summary(
        "Block-LoRA reaches 76.3% accuracy on ImageNet.",  # a number, but no partner
        "Speculative decoding speeds up inference by 2.5x on a single GPU.",
        "Linear attention replaces softmax with kernel feature maps.",
    )
    emb = FakeEmbedder(dim=384)
    found, checked = check_agreement(answer, emb, StanceJudge(emb))
    assert found == [] and checked == 0
    # different metric or different dataset: not the same thing
    other = summary("We get 76.3% accuracy on ImageNet.", "We get 76.3% accuracy on CIFAR-10.")
    assert check_agreement(other, None, None) == ([], 0)
    other = summary("We get 31.2 BLEU on WMT14.", "We get 28.0 perplexity on WMT14.")
    assert check_agreement(other, None, None) == ([], 0)
    # a change is not a result: "improves accuracy by 3.2%" is not compared with "81.2%"
    other = summary(
        "Our method improves accuracy by 3.2% on ImageNet.", "We reach 81.2% accuracy on ImageNet."
    )
    assert check_agreement(other, None, None) == ([], 0)
    # different units are not compared
    other = summary("It runs at 16.2ms latency on ImageNet.", "Latency on ImageNet is 2.5x lower.")
    assert check_agreement(other, None, None) == ([], 0)


def test_json_fields_and_terminal_section(capsys: pytest.CaptureFixture[str]) -> None:
    answer = summary(
        "Our ViT variant reaches 81.2% top-1 accuracy on ImageNet.",
        "The pruned ResNet keeps an accuracy of 76.3% on ImageNet.",
    )
    answer.agreement, answer.agreement_checked = check_agreement(answer, None, None)
    data = json.loads(json.dumps(answer_json(answer)))
    assert data["agreement_checked"] == 1
    assert data["agreement"][0]["verdict"] == "differ"
    assert data["agreement"][0]["papers"] == [1, 2]
    assert {"papers_considered", "papers_used", "sentences", "citations"} <= set(data)
    print_summary(answer)
    out = capsys.readouterr().out
    assert "Agreement (only where the check can tell):" in out
    assert "accuracy on ImageNet: [1] reports 81.2%, [2] reports 76.3%" in out
    assert "(3 papers considered, 2 used" in out
    plain = summary("Linear attention is fast.", "Block-LoRA shares down-projections.")
    plain.agreement, plain.agreement_checked = [], 0
    print_summary(plain)
    assert "Agreement: not stated" in capsys.readouterr().out


@pytest.mark.integration
def test_shipped_stance_model_loads_and_orders_support_above_refute() -> None:
    """Real MiniLM embedder: a SciFact-like claim with its supporting evidence scores above the
    same evidence against the contradicting claim."""
    from rag.index.embedders import make_embedder
    from rag.settings import Settings

    model = StanceModel.load()
    assert model.weights.ndim == 1 and len(model.weights) >= len(model.scalars)
    assert model.subject_threshold is not None and 0 < model.subject_threshold < 1
    judge = StanceJudge(make_embedder(Settings()), model)
    evidence = (
        "In the treated group, serum IL-6 levels were significantly reduced compared with "
        "controls after 12 weeks."
    )
    support, refute = judge.score_many(
        [
            ("The treatment lowers IL-6 levels in serum.", evidence),
            ("The treatment has no effect on IL-6 levels in serum.", evidence),
        ]
    )
    assert 0.0 <= refute < support <= 1.0


def test_stance_findings_only_past_the_models_precise_cut() -> None:
    """Fake embedder and a hand-made stance model (a negation mismatch means "contradicts"):
    the stance path words its finding with the model's precision, and says nothing when the
    model has no cut (as the shipped one, whose cuts are null)."""
    import numpy as np

    from rag.answering.stance import SCALAR_FEATURES

    weights = np.array([-10.0 if n == "neg_mismatch" else 0.0 for n in SCALAR_FEATURES])
    model = StanceModel(
        tuple(SCALAR_FEATURES),
        (),
        weights,
        2.0,
        differ_threshold=0.3,
        differ_precision=0.95,
        subject_threshold=0.5,
    )
    emb = FakeEmbedder(dim=384)
    answer = summary(
        "Dropout improves generalization of deep networks.",
        "Dropout does not improve generalization of deep networks.",
        "Quantization lowers serving cost.",
    )
    found, checked = check_agreement(answer, emb, StanceJudge(emb, model))
    assert checked == 1 and len(found) == 1
    assert (found[0].check, found[0].verdict, found[0].papers) == ("stance", "differ", [1, 2])
    assert "95% precise" in found[0].text
    silent = StanceModel(tuple(SCALAR_FEATURES), (), weights, 2.0, subject_threshold=0.5)
    assert check_agreement(answer, emb, StanceJudge(emb, silent)) == ([], 0)
