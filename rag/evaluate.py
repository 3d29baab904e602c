"""The evaluation harness behind ``rag eval`` (see ``eval/README.md``).

Suites: ``seed`` (the hand-written questions over the bundled corpus), ``scifact`` (retrieval and
evidence on SciFact train claims), ``pubmedqa`` (yes/no/maybe with cited reasoning; LLM backends
only) and ``judge`` (the offline support judge's AUROC on SciFact). Each run is saved under
``<RAG_HOME>/eval/runs/<YYYYmmdd-HHMMSS>-<suite>-<split>/`` (``results.jsonl``, ``summary.json``,
``summary.md``) and gated by ``eval/thresholds.toml``. The metrics are in :mod:`rag.metrics`.
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag import metrics as M
from rag import report as R
from rag.errors import ConfigError, RagError

if TYPE_CHECKING:
    from rag.library import Library
    from rag.llm import LLM
    from rag.schema import Answer
    from rag.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SEED_DATASET = REPO / "eval" / "datasets" / "seed.jsonl"
THRESHOLDS = REPO / "eval" / "thresholds.toml"
SUITES = ("seed", "scifact", "pubmedqa", "judge")
GATE_EXIT = 3
SEED_CHUNKS = 10  # seed: papers are ranked from the top 10 chunks
SCIFACT_CHUNKS = 250  # scifact: enough chunks for 100 distinct papers
CITE = ("faithfulness", "citation_precision", "citation_recall")
RETRIEVAL = ("recall_at_5", "recall_at_10", "mrr", "ndcg_at_10")
KEYS = {
    "seed": (*RETRIEVAL, "key_fact_recall", *CITE, "refusal_correct"),
    "scifact": ("ndcg_at_10", "recall_at_10", "recall_at_100", "mrr", "evidence_cited",
                "rationale_quoted", "answered", *CITE),
    "pubmedqa": ("correct", "context_at_1", "context_in_sources", *CITE, "refused"),
    "judge": (),
}  # fmt: skip
COMPARE_KEYS = ("key_fact_recall", "refusal_correct", "faithfulness", "recall_at_10")

Rows = list[dict[str, Any]]


@dataclass
class Options:
    suite: str
    split: str | None = None  # seed: dev (default), test, all; the others: train
    backend: str | None = None  # extractive | openai:MODEL (default: settings)
    judge: str = "offline"  # offline | llm | openai:MODEL
    limit: int | None = None
    home: Path | None = None
    thresholds: Path | None = None
    gate: bool = True
    progress: bool = True


@dataclass
class RunResult:
    summary: dict[str, Any]
    rows: Rows = field(default_factory=list)
    run_dir: Path | None = None
    failures: list[str] = field(default_factory=list)  # one line per metric past its threshold
    skipped: str | None = None


@dataclass
class Context:
    """What a suite runner gets, and what it leaves for the summary."""

    opts: Options
    settings: Settings
    split: str
    library: Library | None = None
    judge: Judge | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # suite-level figures for "overall"
    details: dict[str, Any] | None = None


def benchmarks_dir() -> Path:
    """``RAG_BENCHMARKS_DIR``, else ``../shared/benchmarks`` next to the repository."""
    return Path(os.environ.get("RAG_BENCHMARKS_DIR") or REPO.parent / "shared" / "benchmarks")


def need(path: Path, what: str) -> Path:
    if not path.exists():
        raise ConfigError(f"{what} not found", where=str(path), hint="set RAG_BENCHMARKS_DIR")
    return path


def read_jsonl(path: Path) -> Rows:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def subsample(items: Sequence[Any], limit: int | None) -> list[Any]:
    """``limit`` items drawn with a fixed seed, kept in their original order."""
    if limit is None or limit >= len(items):
        return list(items)
    return [items[i] for i in sorted(random.Random(0).sample(range(len(items)), limit))]


def progress(items: Sequence[Any], desc: str, enabled: bool) -> Iterable[Any]:
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="q", file=sys.stderr, disable=not enabled, mininterval=1.0)


def eval_library(ctx: Context, name: str) -> Library:
    """``<RAG_HOME>/eval/<name>``: an embedded store that shares the main embedding cache."""
    from rag.library import Library

    s = ctx.settings
    update = {"home": s.resolved_home() / "eval" / name, "chroma_url": None, "seed": False,
              "cache_dir": s.resolved_cache_dir()}  # fmt: skip
    ctx.library = Library(settings=s.model_copy(update=update))
    return ctx.library


# --- judges --------------------------------------------------------------------------------

Pair = tuple[str, tuple[str, ...]]


class Judge:
    """Support verdicts for (sentence, cited passages) pairs, memoised."""

    name = "offline"

    def __init__(self) -> None:
        self.cache: dict[Pair, bool] = {}
        self.usage: list[dict[str, Any]] = []
        self.unparsed = 0

    def supports(self, pairs: Sequence[Pair]) -> Callable[[str, tuple[str, ...]], bool]:
        todo = [p for p in dict.fromkeys(pairs) if p not in self.cache]
        if todo:
            self.cache.update(zip(todo, self.verdicts(todo), strict=True))
        return lambda sentence, passages: self.cache[(sentence, passages)]

    def verdicts(self, pairs: list[Pair]) -> list[bool]:
        raise NotImplementedError

    def score(
        self, sentences: list[M.CitedSentence], *, refused: bool, should_refuse: bool
    ) -> M.CitationScores:
        supports = self.supports(M.support_queries(sentences))
        return M.citation_scores(sentences, supports, refused=refused, should_refuse=should_refuse)


class OfflineJudge(Judge):
    """The offline support scorer (:mod:`rag.support`) at its default threshold."""

    def __init__(self, library: Library) -> None:
        from rag.support import SupportScorer

        super().__init__()
        self.scorer = SupportScorer(library.embedder)

    def verdicts(self, pairs: list[Pair]) -> list[bool]:
        return [r.supported for r in self.scorer.score_many([(s, list(p)) for s, p in pairs])]


class LLMJudge(Judge):
    """The LLM, prompted with ``prompts/judge.toml``, answers yes or no for each pair."""

    def __init__(self, llm: LLM) -> None:
        super().__init__()
        self.llm = llm
        self.name = f"llm:{llm.model}"

    def verdicts(self, pairs: list[Pair]) -> list[bool]:
        from rag.prompts import load_prompt

        prompt, out = load_prompt("judge"), []
        for sentence, passages in pairs:
            text = "\n\n".join(f"Passage {i}:\n{p}" for i, p in enumerate(passages, 1))
            reply = self.llm.complete(
                prompt.render(sentence=sentence, passages=text), max_tokens=50
            )
            self.usage.append(reply.usage.model_dump())
            m = re.search(r"\b(yes|no)\b", reply.text, re.IGNORECASE)
            self.unparsed += m is None
            out.append(m is not None and m.group(1).lower() == "yes")
        return out


def make_judge(ctx: Context, library: Library) -> Judge:
    kind = ctx.opts.judge
    if kind == "offline":
        ctx.judge = OfflineJudge(library)
        return ctx.judge
    from rag.llm import make_llm

    spec = ctx.settings.llm if kind == "llm" else kind
    llm = make_llm(ctx.settings.model_copy(update={"llm": spec}))
    if llm is None:
        raise ConfigError("--judge llm needs an LLM: --backend openai:MODEL, RAG_LLM, or "
                          "--judge openai:MODEL")  # fmt: skip
    ctx.judge = LLMJudge(llm)
    return ctx.judge


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


# --- suites --------------------------------------------------------------------------------


def run_seed(ctx: Context) -> Rows:
    from rag.ingest import bundled_seed_dir

    questions = read_jsonl(need(SEED_DATASET, "the seed question set"))
    questions = [q for q in questions if ctx.split in ("all", q["split"])]
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
        rows.append({"id": q["id"], "type": q["type"], "question": q["question"],
                     "retrieved_ids": ranked, "gold_ids": q["gold_ids"], "should_refuse": refuse,
                     **answer_fields(answer, scores), "metrics": metrics})  # fmt: skip
    refusal = M.refusal_scores([r["should_refuse"] for r in rows], [r["refused"] for r in rows])
    ctx.extra = {f"refusal_{k}": round(v, 4) for k, v in vars(refusal).items()}
    return rows


def run_scifact(ctx: Context) -> Rows:
    from rag.ingest import parse_paths

    root = benchmarks_dir() / "scifact"
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
    from rag.answer import render_sources
    from rag.citations import parse_text_reply
    from rag.llm import make_llm
    from rag.prompts import load_prompt

    llm = make_llm(ctx.settings)
    assert llm is not None  # run() skips the suite without one
    path = need(benchmarks_dir() / "pubmedqa" / "pqal_train.json", "the PubMedQA questions")
    data: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    lib = eval_library(ctx, "pubmedqa-library")
    contexts = lib.home / "pqal_contexts.jsonl"  # one "paper" per question: its CONTEXTS
    contexts.parent.mkdir(parents=True, exist_ok=True)
    contexts.write_text("".join(
        json.dumps({"id": k, "title": f"PubMed {k}", "abstract": " ".join(v["CONTEXTS"])}) + "\n"
        for k, v in data.items()
    ), encoding="utf-8")  # fmt: skip
    lib.ingest([contexts], progress=ctx.opts.progress)
    judge, prompt, rows = make_judge(ctx, lib), load_prompt("pubmedqa"), []
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

    import rag.support
    from rag.embedding import make_embedder

    fn = getattr(rag.support, "evaluate_judge", None)
    script = REPO / "eval" / "fit_support.py"
    if fn is None and script.is_file():  # where the fitting script keeps it
        spec = importlib.util.spec_from_file_location("fit_support", script)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        fn = module.evaluate_judge
    if fn is None:
        raise ConfigError("no evaluate_judge in rag.support or eval/fit_support.py")
    root = benchmarks_dir() / "scifact"
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


RUNNERS: dict[str, Callable[[Context], Rows]] = {
    "seed": run_seed, "scifact": run_scifact, "pubmedqa": run_pubmedqa, "judge": run_judge,
}  # fmt: skip


# --- runs ---------------------------------------------------------------------------------


def run(opts: Options) -> RunResult:
    """Run a suite, save it, check its thresholds. User errors raise :class:`RagError`."""
    from rag.library import Library
    from rag.llm import make_llm

    if opts.suite not in SUITES:
        raise ConfigError(f"unknown suite {opts.suite!r}; choose from {', '.join(SUITES)}")
    splits = ("dev", "test", "all") if opts.suite == "seed" else ("train",)
    split = opts.split or splits[0]
    if split not in splits:
        raise ConfigError(f"suite {opts.suite} has split {'|'.join(splits)}, not {split!r}")
    if opts.limit is not None and opts.limit < 1:
        raise ConfigError("--limit must be at least 1")
    if opts.judge not in ("offline", "llm") and not opts.judge.startswith("openai:"):
        raise ConfigError(f"--judge must be offline, llm or openai:MODEL, not {opts.judge!r}")
    settings = Library(home=opts.home, llm=opts.backend).settings  # validated, one-line errors
    llm = make_llm(settings)  # checks --backend / RAG_LLM before any work
    if opts.suite == "pubmedqa" and llm is None:
        msg = ("pubmedqa skipped: it needs an LLM backend (--backend openai:MODEL or "
               "RAG_LLM=openai:MODEL); the extractive backend cannot say yes/no/maybe")  # fmt: skip
        return RunResult(summary={"suite": "pubmedqa", "skipped": msg}, skipped=msg)
    # The default thresholds are for full runs; a --limit sample is gated only by an explicit file.
    gate = opts.gate and (opts.limit is None or opts.thresholds is not None)
    thresholds = load_thresholds(opts.thresholds, opts.suite, split) if gate else None
    ctx, started = Context(opts, settings, split), time.perf_counter()
    rows = RUNNERS[opts.suite](ctx)
    summary = summarise(ctx, rows, time.perf_counter() - started)
    try:
        failures = check_thresholds(summary, thresholds) if thresholds else []
    except ConfigError:  # a threshold names an unknown metric: keep the run, then say so
        save_run(settings, summary, rows)
        raise
    summary["gate"] = {"thresholds": thresholds, "passed": not failures, "failures": failures}
    if thresholds is None:
        summary["gate"]["note"] = "not gated: " + (
            "--no-gate"
            if not opts.gate
            else "--limit sample (give --thresholds to gate it)"
            if not gate
            else f"no [{opts.suite}.{split}] thresholds"
        )
    run_dir = save_run(settings, summary, rows)
    return RunResult(summary=summary, rows=rows, run_dir=run_dir, failures=failures)


def summarise(ctx: Context, rows: Rows, seconds: float) -> dict[str, Any]:
    keys, judge, lib, s = KEYS[ctx.opts.suite], ctx.judge, ctx.library, ctx.settings
    overall = R.group_summary(rows, keys)
    if rows:
        latency = [float(r["latency_ms"]) for r in rows if "latency_ms" in r]
        overall["latency_p50_ms"] = round(M.percentile(latency, 50), 1)
        overall["latency_p95_ms"] = round(M.percentile(latency, 95), 1)
        overall |= M.usage_totals(r.get("usage") for r in rows)
    overall |= ctx.extra
    if judge is not None and judge.usage:
        overall |= {f"judge_{k}": v for k, v in M.usage_totals(judge.usage).items()}
        overall["judge_unparsed"] = judge.unparsed
    config = {
        "backend": s.llm, "judge": judge.name if judge else None,
        "answer_backends": sorted({str(r["backend"]) for r in rows if r.get("backend")}),
        "embedder": lib.embedder.name if lib else s.embedder, "top_k": s.top_k,
        "chunk_tokens": s.chunk_tokens, "limit": ctx.opts.limit,
        **{k: getattr(s, k) for k in ("retrieval", "fusion", "rerank") if hasattr(s, k)},
        "library": str(lib.home) if lib else None,
    }  # fmt: skip
    types = dict.fromkeys(r["type"] for r in rows)
    by_type = {t: R.group_summary([r for r in rows if r["type"] == t], keys) for t in types}
    summary = {"suite": ctx.opts.suite, "split": ctx.split, "n": len(rows), "config": config,
               "seconds": round(seconds, 1), "metrics": list(keys), "overall": overall,
               "by_type": by_type}  # fmt: skip
    return summary | ({"details": ctx.details} if ctx.details is not None else {})


def save_run(settings: Settings, summary: dict[str, Any], rows: Rows) -> Path:
    runs = settings.resolved_home() / "eval" / "runs"
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{summary['suite']}-{summary['split']}"
    run_dir, n = runs / base, 1
    while run_dir.exists():  # two runs in one second
        n += 1
        run_dir = runs / f"{base}-{n}"
    run_dir.mkdir(parents=True)
    summary["run_id"], summary["run_dir"] = run_dir.name, str(run_dir)
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    (run_dir / "results.jsonl").write_text(lines, encoding="utf-8")
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (run_dir / "summary.md").write_text(R.summary_markdown(summary) + "\n", encoding="utf-8")
    return run_dir


# --- thresholds ------------------------------------------------------------------------------


def load_thresholds(path: Path | None, suite: str, split: str) -> dict[str, Any] | None:
    """The ``[suite.split]`` table: ``metric = minimum``; ``[suite.split.max]``: maxima."""
    path = path or THRESHOLDS
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if path == THRESHOLDS:
            return None  # installed without the repository's eval/ folder: no gate
        raise ConfigError("thresholds file not found", where=str(path)) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read thresholds: {e}", where=str(path)) from None
    table = data.get(suite, {}).get(split)
    if table is None:
        return None
    minimum = {k: v for k, v in table.items() if k != "max"}
    maximum = table.get("max", {})
    for name, value in [*minimum.items(), *maximum.items()]:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"threshold {suite}.{split}.{name} is not a number", where=str(path))
    return {"file": str(path), "min": minimum, "max": maximum}


def check_thresholds(summary: dict[str, Any], thresholds: dict[str, Any]) -> list[str]:
    """One line per failing metric: name, value and threshold."""
    where = f"{summary['suite']}.{summary['split']}"
    try:
        return R.gate_failures(summary["overall"], thresholds["min"], thresholds["max"], where)
    except KeyError as e:
        known = ", ".join(summary["overall"])
        raise ConfigError(f"threshold {where}.{e.args[0]}: no such metric (known: {known})",
                          where=thresholds["file"]) from None  # fmt: skip


# --- comparing runs ------------------------------------------------------------------------


def resolve_run(ref: str, home: Path | None) -> Path:
    path = Path(ref).expanduser()
    if not (path / "summary.json").is_file():
        from rag.library import Library

        path = Library(home=home).settings.resolved_home() / "eval" / "runs" / ref
    if not (path / "summary.json").is_file():
        raise RagError("no such run (give a run directory or a run id)", where=ref)
    return path


def load_run(path: Path) -> tuple[dict[str, Any], Rows]:
    try:
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
        return summary, read_jsonl(path / "results.jsonl")
    except (OSError, json.JSONDecodeError) as e:
        raise RagError(f"cannot read run: {e}", where=str(path)) from None


def compare(ref_a: str, ref_b: str, home: Path | None = None) -> dict[str, Any]:
    """Question-by-question changes from run A to run B, then the summary deltas."""
    (sa, rows_a), (sb, rows_b) = (load_run(resolve_run(r, home)) for r in (ref_a, ref_b))
    ids_a, ids_b = {r["id"] for r in rows_a}, {r["id"] for r in rows_b}
    changes = R.compare_rows(rows_a, rows_b, COMPARE_KEYS)
    return {
        "a": sa.get("run_id", ref_a), "b": sb.get("run_id", ref_b),
        "only_in_a": len(ids_a - ids_b), "only_in_b": len(ids_b - ids_a),
        "regressed": [c for c in changes if c["status"] == "regressed"],
        "improved": [c for c in changes if c["status"] == "improved"],
        "summary_deltas": R.summary_deltas(sa.get("overall", {}), sb.get("overall", {})),
    }  # fmt: skip
