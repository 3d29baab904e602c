"""The evaluation harness behind ``rag eval`` (see ``eval/README.md``): run a suite
(:mod:`rag.eval.suites`), summarise it, save it and gate it (:mod:`rag.eval.runs`).

Each run is saved under ``<RAG_HOME>/eval/runs/<YYYYmmdd-HHMMSS>-<suite>-<split>/``
(``results.jsonl``, ``summary.json``, ``summary.md``) and gated by the packaged thresholds
(``eval/thresholds.toml``). The metrics are in :mod:`rag.eval.metrics`.
"""

from __future__ import annotations

import time
from typing import Any

from rag.errors import ConfigError
from rag.eval import metrics as M
from rag.eval import report as R
from rag.eval.context import KEYS, SEED_SPLITS, Context, Options, Rows, RunResult
from rag.eval.runs import check_thresholds, compare, load_thresholds, save_run
from rag.eval.suites import SUITES

__all__ = ["Options", "RunResult", "compare", "run"]


def run(opts: Options) -> RunResult:
    """Run a suite, save it, check its thresholds. User errors raise :class:`RagError`."""
    from rag.answering.llm import make_llm
    from rag.library import Library

    if opts.suite not in SUITES:
        raise ConfigError(f"unknown suite {opts.suite!r}; choose from {', '.join(SUITES)}")
    splits = (*SEED_SPLITS, "all") if opts.suite == "seed" else ("train",)
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
    rows = SUITES[opts.suite](ctx)
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
