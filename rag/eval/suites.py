"""The evaluation suites, registered in :data:`SUITES`: ``seed`` (the hand-written questions over
the bundled corpus), ``scifact`` (retrieval and evidence on SciFact train claims), ``pubmedqa``
(yes/no/maybe with cited reasoning; LLM backends only) and ``judge`` (the offline support judge's
AUROC on SciFact). A new suite is one function here plus one line in :data:`SUITES`."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError
from rag.eval import metrics as M
from rag.eval.context import (
    SCIFACT_CHUNKS,
    SEED_CHUNKS,
    SEED_DATASET,
    SEED_SPLITS,
    Context,
    Rows,
    benchmarks_dir,
    eval_library,
    need,
    progress,
    read_jsonl,
    subsample,
)
from rag.eval.judge import make_judge

if TYPE_CHECKING:
    from rag.schema import Answer


def cited_sentences(answer: Answer) -> list[M.CitedSentence]:
    if answer.refused:
        return []
    text = {c.n: c.text for c in answer.citations}
    return [
        M.CitedSentence(s.text, tuple(text[n] for n in s.citations if n in text))
        for s in answer.sentences
    ]


def answer_fields(answer: Answer, scores: M.CitationScores) -> dict[str, Any]:
    verdicts: list[bool | None] = [*scores.supported] or [None] * len(answer.sentences)
    sentences = [
        {"text": s.text, "citations": s.citations, "judged_supported": ok}
        for s, ok in zip(answer.sentences, verdicts, strict=False)
    ]
    cited = M.unique_in_order(c.paper_id for c in answer.citations)
    return {
        "answer": answer.answer, "refused": answer.refused, "backend": answer.backend,
        "sentences": sentences, "cited_ids": cited,
        "verified_share": answer.support, "latency_ms": answer.timings_ms.get("total", 0.0),
        "usage": answer.usage.model_dump() if answer.usage else None,
    }  # fmt: skip


def run_seed(ctx: Context) -> Rows:
    from rag.ingest import bundled_seed_dir

    if ctx.split == "all":  # the dev and test splits, as before the extra questions
        questions = read_jsonl(need(SEED_DATASET, "the seed question set"))
    else:
        path = SEED_SPLITS[ctx.split]
        questions = [q for q in read_jsonl(need(path, f"the seed {ctx.split} questions"))
                     if q["split"] == ctx.split]  # fmt: skip
    lib = eval_library(ctx, "seed-library")
    if lib.store.count_chunks() == 0:
        lib.ingest([bundled_seed_dir()], progress=ctx.opts.progress)
    judge = make_judge(ctx, lib)
    rows = []
    for q in progress(subsample(questions, ctx.opts.limit), f"seed {ctx.split}", ctx.opts.progress):
        hits = lib.retrieve(q["question"], SEED_CHUNKS)
        ranked = M.unique_in_order(h.paper_id for h in hits)
        refuse = q["type"] in M.REFUSE_TYPES
        answer = lib.ask(q["question"])
        sentences = cited_sentences(answer)
        scores = judge.score(sentences, refused=answer.refused, should_refuse=refuse)
        said = " ".join(s.text for s in sentences)
        facts = M.key_fact_recall(
            said, q["key_facts"], refused=answer.refused, should_refuse=refuse
        )
        metrics = M.retrieval_scores(ranked, q["gold_ids"]) | scores.as_metrics()
        metrics |= {"key_fact_recall": facts, "refusal_correct": float(answer.refused == refuse)}
        cited = {c.paper_id for c in answer.citations}
        metrics["refused"] = float(answer.refused)
        metrics["gold_cited"] = (
            len(cited & set(q["gold_ids"])) / len(q["gold_ids"])
            if q["gold_ids"] and not refuse
            else None
        )
        metrics["grounded"] = (
            len(lib.store.values_present("paper_id", sorted(cited))) / len(cited) if cited else None
        )
        rows.append({"id": q["id"], "type": q["type"], "question": q["question"],
                     "retrieved_ids": ranked, "gold_ids": q["gold_ids"], "should_refuse": refuse,
                     **answer_fields(answer, scores), "metrics": metrics})  # fmt: skip
    refusal = M.refusal_scores([r["should_refuse"] for r in rows], [r["refused"] for r in rows])
    ctx.extra = {f"refusal_{k}": round(v, 4) for k, v in vars(refusal).items()}
    return rows


def run_scifact(ctx: Context) -> Rows:
    from rag.ingest import parse_paths

    root = benchmarks_dir(ctx.settings) / "scifact"
    corpus = need(root / "corpus.jsonl.gz", "the SciFact corpus")
    claims = read_jsonl(need(root / "claims_train.jsonl", "the SciFact train claims"))
    lib = eval_library(ctx, "scifact-library")
    report = lib.ingest([corpus], progress=ctx.opts.progress)
    ctx.extra = {"ingest_seconds": report.seconds, "chunks_written": report.chunks_written}
    abstracts = {p.paper_id: p.abstract for p in parse_paths([corpus]).papers}
    judge = make_judge(ctx, lib)
    rows = []
    for c in progress(subsample(claims, ctx.opts.limit), "scifact train", ctx.opts.progress):
        hits = lib.retrieve(c["claim"], SCIFACT_CHUNKS)
        ranked = M.unique_in_order(h.paper_id for h in hits)[:100]
        gold = [str(d) for d in c["cited_doc_ids"]]  # BEIR: every cited doc is relevant
        row: dict[str, Any] = {
            "id": str(c["id"]), "type": "evidence" if c["evidence"] else "no_evidence",
            "question": c["claim"], "retrieved_ids": ranked, "gold_ids": gold,
            "evidence_ids": sorted(c["evidence"]),
            "metrics": M.retrieval_scores(ranked, gold, (10, 100)),
        }  # fmt: skip
        if c["evidence"]:  # sentence-level evidence, for the claims that have some
            rationale = [abstracts[doc][i] for doc, sets in c["evidence"].items() for ev in sets
                         for i in ev["sentences"] if i < len(abstracts.get(doc, []))]  # fmt: skip
            answer = lib.ask(c["claim"])
            sentences = cited_sentences(answer)
            scores = judge.score(sentences, refused=answer.refused, should_refuse=False)
            passages = [x.text for x in answer.citations if x.paper_id in c["evidence"]]
            row |= answer_fields(answer, scores)
            row["metrics"] |= scores.as_metrics() | {
                "evidence_cited": float(any(M.quotes(r, p) for r in rationale for p in passages)),
                "rationale_quoted": float(
                    any(M.quotes(r, s.text) for r in rationale for s in sentences)
                ),
                "answered": float(not answer.refused),
            }
        rows.append(row)
    return rows


def run_pubmedqa(ctx: Context) -> Rows:
    from rag.answering.generative import render_sources
    from rag.answering.grammar import parse_text_reply
    from rag.answering.llm import make_llm
    from rag.answering.prompt import load_prompt

    llm = make_llm(ctx.settings)
    assert llm is not None  # run() skips the suite without one
    root = benchmarks_dir(ctx.settings)
    path = need(root / "pubmedqa" / "pqal_train.json", "the PubMedQA questions")
    data: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    lib = eval_library(ctx, "pubmedqa-library")
    contexts = lib.home / "pqal_contexts.jsonl"  # one "paper" per question: its CONTEXTS
    contexts.parent.mkdir(parents=True, exist_ok=True)
    contexts.write_text("".join(
        json.dumps({"id": k, "title": f"PubMed {k}", "abstract": " ".join(v["CONTEXTS"])}) + "\n"
        for k, v in data.items()
    ), encoding="utf-8")  # fmt: skip
    lib.ingest([contexts], progress=ctx.opts.progress)
    prompt = load_prompt("pubmedqa", ctx.settings.prompts_dir)
    judge, rows = make_judge(ctx, lib), []
    for pmid in progress(subsample(sorted(data), ctx.opts.limit), "pubmedqa", ctx.opts.progress):
        item, t0 = data[pmid], time.perf_counter()
        sources = lib.retrieve(item["QUESTION"], ctx.settings.top_k)
        messages = prompt.render(question=item["QUESTION"], sources=render_sources(sources))
        reply = llm.complete(messages, max_tokens=ctx.settings.max_answer_tokens)
        decision, reasoning = M.parse_decision(reply.text)
        draft = parse_text_reply(reasoning)
        sentences = [
            M.CitedSentence(s.text, tuple(sources[n - 1].text for n in s.citations
                                          if 1 <= n <= len(sources)))
            for s in draft.sentences
        ]  # fmt: skip
        scores = judge.score(sentences, refused=draft.refused, should_refuse=False)
        ranked = M.unique_in_order(h.paper_id for h in sources)
        metrics = scores.as_metrics() | {
            "correct": float(decision == item["final_decision"]),
            "context_at_1": M.recall_at_k(ranked, [pmid], 1),
            "context_in_sources": M.recall_at_k(ranked, [pmid], len(ranked) or 1),
            "refused": float(draft.refused),
        }
        rows.append({
            "id": pmid, "type": item["final_decision"], "question": item["QUESTION"],
            "retrieved_ids": ranked, "gold_ids": [pmid], "decision": decision,
            "gold_decision": item["final_decision"], "answer": reply.text, "refused": draft.refused,
            "latency_ms": round((time.perf_counter() - t0) * 1000, 1),
            "usage": reply.usage.model_dump(), "metrics": metrics,
        })  # fmt: skip
    ctx.extra = {"unparsed_decisions": sum(r["decision"] is None for r in rows)}
    return rows


def run_judge(ctx: Context) -> Rows:
    import importlib.util

    import rag.answering.support
    from rag.index.embedders import make_embedder

    fn = getattr(rag.answering.support, "evaluate_judge", None)
    script = Path.cwd() / "eval" / "fit_support.py"  # the repository's
    if fn is None and script.is_file():  # where the fitting script keeps it
        spec = importlib.util.spec_from_file_location("fit_support", script)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        fn = module.evaluate_judge
    if fn is None:
        raise ConfigError("no evaluate_judge in rag.answering.support or eval/fit_support.py")
    root = benchmarks_dir(ctx.settings) / "scifact"
    claims = need(root / "claims_train.jsonl", "the SciFact train claims")
    corpus = need(root / "corpus.jsonl.gz", "the SciFact corpus")
    result: dict[str, Any] = fn(make_embedder(ctx.settings), claims, corpus, ctx.opts.limit)
    # Headline figures: the top-level numbers and those of an "overall" table; the rest is kept
    # under "details" in summary.json.
    headline = {**result, **(result.get("overall") or {})}
    ctx.extra = {k: round(v, 4) if isinstance(v, float) else v for k, v in headline.items()
                 if isinstance(v, int | float) and not isinstance(v, bool)}  # fmt: skip
    ctx.details = result
    return []


#: Suites by name: ``rag eval NAME``.
SUITES: dict[str, Callable[[Context], Rows]] = {
    "seed": run_seed, "scifact": run_scifact, "pubmedqa": run_pubmedqa, "judge": run_judge,
}  # fmt: skip
