"""What every evaluation suite shares: the run's options, the context a suite runner fills, the
package data it reads (``rag/data/eval``: questions and thresholds) and small helpers."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError

if TYPE_CHECKING:
    from rag.library import Library
    from rag.settings import Settings

#: Package data: the seed question set and the CI thresholds (``eval/`` links there).
EVAL_DATA = Path(str(files("rag") / "data" / "eval"))
SEED_DATASET = EVAL_DATA / "datasets" / "seed.jsonl"
#: More dev questions over the bundled corpus (splits ``dev2``, for tuning, and ``dev2-held``,
#: kept to check that tuning generalises); never part of the CI gate.
SEED_EXTRA = EVAL_DATA / "datasets" / "seed_extra.jsonl"
#: The seed suite's splits: the file each is in.
SEED_SPLITS = {"dev": SEED_DATASET, "test": SEED_DATASET, "dev2": SEED_EXTRA,
               "dev2-held": SEED_EXTRA}  # fmt: skip
THRESHOLDS = EVAL_DATA / "thresholds.toml"
GATE_EXIT = 3

SEED_CHUNKS = 10  # seed: papers are ranked from the top 10 chunks

SCIFACT_CHUNKS = 250  # scifact: enough chunks for 100 distinct papers

CITE = ("faithfulness", "citation_precision", "citation_recall")

RETRIEVAL = ("recall_at_5", "recall_at_10", "mrr", "ndcg_at_10")

KEYS = {
    "seed": (*RETRIEVAL, "key_fact_recall", "gold_cited", "grounded", *CITE, "refusal_correct",
             "refused"),
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
    split: str | None = None  # seed: dev (default), test, dev2, dev2-held, all; others: train
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
    judge: Any = None  # the rag.eval.judge.Judge the run uses
    extra: dict[str, Any] = field(default_factory=dict)  # suite-level figures for "overall"
    details: dict[str, Any] | None = None


def benchmarks_dir(settings: Settings) -> Path:
    """The ``benchmarks_dir`` setting, else ``../shared/benchmarks`` beside the working copy."""
    if settings.benchmarks_dir is not None:
        return settings.benchmarks_dir.expanduser()
    return Path.cwd().resolve().parent / "shared" / "benchmarks"


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
