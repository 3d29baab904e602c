"""Saved runs: writing them, gating them on thresholds, and comparing two of them."""

from __future__ import annotations

import json
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError, RagError
from rag.eval import report as R
from rag.eval.context import COMPARE_KEYS, THRESHOLDS, Rows, read_jsonl

if TYPE_CHECKING:
    from rag.settings import Settings


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
