"""The ``rag eval`` command: a thin layer over :mod:`rag.eval.runner` (imported only when run).

Exit codes: 0 success (or a suite skipped), 1 user error, 2 usage error, 3 a metric below its
threshold (one line per failing metric on stderr), 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from rag.interfaces.exit import exit_on_error

SUITES = ("seed", "scifact", "pubmedqa", "judge")


@click.command("eval")
@click.argument("suite", required=False, type=click.Choice(SUITES))
@click.option(
    "--split",
    type=click.Choice(["dev", "test", "dev2", "dev2-held", "all", "train"]),
    default=None,
    help="Question split (seed: dev [default], test, dev2, dev2-held, all = dev+test; else train).",
)
@click.option(
    "--backend",
    default=None,
    metavar="extractive|openai:MODEL",
    help="Answer backend (default: $RAG_LLM or extractive).",
)
@click.option(
    "--judge",
    default="offline",
    show_default=True,
    metavar="offline|llm",
    help="Faithfulness judge: the offline support scorer, or the LLM (llm or "
    "openai:MODEL) with prompts/judge.toml.",
)
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=None,
    help="Evaluate N questions, a fixed-seed sample.",
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (default: $RAG_HOME): eval libraries and runs live in HOME/eval.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary (or comparison) as JSON.")
@click.option(
    "--thresholds",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Thresholds file (default: eval/thresholds.toml).",
)
@click.option("--no-gate", is_flag=True, help="Do not check the thresholds.")
@click.option(
    "--compare",
    nargs=2,
    default=None,
    metavar="RUN_A RUN_B",
    help="Compare two runs (directories or run ids) question by question.",
)
@exit_on_error
def eval_cmd(
    suite: str | None,
    split: str | None,
    backend: str | None,
    judge: str,
    limit: int | None,
    home: Path | None,
    as_json: bool,
    thresholds: Path | None,
    no_gate: bool,
    compare: tuple[str, str] | None,
) -> None:
    """Evaluate retrieval, answers, citations and refusals on SUITE; or --compare two runs.

    Suites: seed (the questions in eval/datasets/seed.jsonl), scifact (SciFact train claims),
    pubmedqa (LLM backends only), judge (the offline judge on SciFact). Runs are saved under
    HOME/eval/runs/. A metric below its threshold exits with code 3.
    """
    from rag.eval import report
    from rag.eval import runner as evaluate
    from rag.eval.context import GATE_EXIT

    if compare:
        comparison = evaluate.compare(compare[0], compare[1], home)
        click.echo(
            json.dumps(comparison, indent=2) if as_json else report.compare_markdown(comparison)
        )
        return
    if suite is None:
        raise click.UsageError("give a SUITE, or --compare RUN_A RUN_B")
    opts = evaluate.Options(
        suite=suite,
        split=split,
        backend=backend,
        judge=judge,
        limit=limit,
        home=home,
        thresholds=thresholds,
        gate=not no_gate,
    )
    result = evaluate.run(opts)
    if as_json:
        click.echo(json.dumps(result.summary, indent=2))
    else:
        click.echo(report.summary_markdown(result.summary))
    if result.run_dir is not None:
        click.echo(f"Run saved to {result.run_dir}", err=True)
    note = result.summary.get("gate", {}).get("note")
    if note and not no_gate:
        click.echo(f"Quality gate {note}.", err=True)
    for line in result.failures:
        click.echo(f"threshold failed: {line}", err=True)
    if result.failures:
        sys.exit(GATE_EXIT)
