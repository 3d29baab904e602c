"""Reports of evaluation runs: per-group summaries, threshold gates, run-to-run comparisons and
the Markdown tables ``rag eval`` prints. Works on the dicts saved in ``summary.json`` and
``results.jsonl``; the metrics themselves are in :mod:`rag.eval.metrics`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rag.eval.metrics import mean

# --- runs: summaries, gates, comparisons (dicts as saved in summary.json and results.jsonl) ---


def group_summary(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    """``{"n": rows, key: mean of row["metrics"][key]}``; ``n_<key>`` when fewer rows had it."""
    out: dict[str, Any] = {"n": len(rows)}
    for key in keys:
        value, n = mean(r["metrics"].get(key) for r in rows)
        out[key] = None if value is None else round(value, 4)
        if n != len(rows):
            out[f"n_{key}"] = n
    return out


def gate_failures(
    overall: Mapping[str, Any],
    minimum: Mapping[str, float],
    maximum: Mapping[str, float],
    where: str,
) -> list[str]:
    """One line per metric below its minimum (or above its maximum): name, value, threshold.
    A metric that was not measured (None) fails. Raises KeyError for an unknown metric."""
    failures = []
    for bounds, sign in ((minimum, "<"), (maximum, ">")):
        for name, limit in bounds.items():
            value = overall[name]
            if value is None or (value < limit if sign == "<" else value > limit):
                shown = "n/a" if value is None else f"{value:.4g}"
                failures.append(f"{where} {name} = {shown} {sign} threshold {limit:g}")
    return failures


def compare_rows(
    rows_a: Sequence[Mapping[str, Any]],
    rows_b: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    top_k: int = 10,
) -> list[dict[str, Any]]:
    """Questions (matched by id) whose ``keys`` metrics changed from A to B.

    A change is ``regressed`` when any metric went down, else ``improved``. ``cause`` says whether
    retrieval changed (a different set of top-``top_k`` paper ids), was only reordered, or whether
    only generation changed.
    """
    by_id = {r["id"]: r for r in rows_a}
    changes = []
    for b in rows_b:
        a = by_id.get(b["id"])
        if a is None:
            continue
        deltas = {}
        for key in keys:
            va, vb = a["metrics"].get(key), b["metrics"].get(key)
            if va is not None and vb is not None and abs(vb - va) > 1e-9:
                deltas[key] = round(vb - va, 4)
        if not deltas:
            continue
        ta, tb = a.get("retrieved_ids", [])[:top_k], b.get("retrieved_ids", [])[:top_k]
        cause = "generation only" if ta == tb else "retrieval reordered"
        if set(ta) != set(tb):
            cause = "retrieval changed"
        changes.append(
            {
                "id": b["id"],
                "type": b.get("type"),
                "question": b.get("question"),
                "status": "regressed" if any(v < 0 for v in deltas.values()) else "improved",
                "deltas": deltas,
                "cause": cause,
            }
        )
    return changes


def summary_deltas(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """For every numeric metric in both summaries: A, B and B - A."""
    out = {}
    for key, va in a.items():
        vb = b.get(key)
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (va, vb))
        if numeric:
            out[key] = {"a": va, "b": vb, "delta": round(vb - va, 4)}
    return out


# --- reports (Markdown) ------------------------------------------------------------------------

LABELS = {"recall_at_5": "R@5", "recall_at_10": "R@10", "recall_at_100": "R@100", "mrr": "MRR",
          "ndcg_at_10": "nDCG@10", "key_fact_recall": "key facts", "faithfulness": "faithful",
          "citation_precision": "cite P", "citation_recall": "cite R",
          "refusal_correct": "refusal ok", "context_at_1": "context@1",
          "context_in_sources": "context given", "correct": "accuracy"}  # fmt: skip


def fmt(value: Any, key: str = "") -> str:
    if value is None:
        return "–"
    if not isinstance(value, float):
        return str(value)
    if key.endswith("_usd"):
        return f"{value:.4f}"
    return f"{value:.1f}" if key.endswith(("_ms", "_seconds")) else f"{value:.3f}"


def summary_markdown(summary: dict[str, Any]) -> str:
    """The run as Markdown: one table row overall and one per question type, then the rest."""
    if "skipped" in summary:
        return str(summary["skipped"])
    cfg, overall = summary["config"], summary["overall"]
    keys = [k for k in summary.get("metrics", []) if k in overall]
    limit = f", limit {cfg['limit']}" if cfg["limit"] else ""
    count = f"{summary['n']} questions, " if summary["n"] else ""
    lines = [f"## {summary['suite']} ({summary['split']}): {count}run {summary.get('run_id', '-')}",
             "",
             f"backend {cfg['backend']}, judge {cfg['judge']}, embedder {cfg['embedder']}, "
             f"top_k {cfg['top_k']}{limit}", ""]  # fmt: skip
    if keys:
        lines.append("| type | n | " + " | ".join(LABELS.get(k, k) for k in keys) + " |")
        lines.append("|---|---:|" + "---:|" * len(keys))
        for name, group in [("**all**", overall), *summary["by_type"].items()]:
            cells = " | ".join(fmt(group.get(k)) for k in keys)
            lines.append(f"| {name} | {group['n']} | {cells} |")
        lines.append("")
    fewer = {k: overall[f"n_{k}"] for k in keys if f"n_{k}" in overall}
    hidden = {"n", *keys, *(f"n_{k}" for k in fewer)}
    lines += ["| metric | value |", "|---|---:|"]
    lines += [f"| {k} | {fmt(v, k)} |" for k, v in overall.items() if k not in hidden]
    if fewer:
        counts = ", ".join(f"{k} over {v}" for k, v in fewer.items())
        lines += ["", f"Averaged over the questions each applies to: {counts}."]
    return "\n".join(lines)


def compare_markdown(report: dict[str, Any]) -> str:
    lines = [f"## {report['a']} -> {report['b']}", ""]
    for status in ("regressed", "improved"):
        lines.append(f"### {status.capitalize()}: {len(report[status])}")
        for c in report[status]:
            deltas = ", ".join(f"{k} {v:+.3f}" for k, v in c["deltas"].items())
            lines.append(f"- {c['id']} ({c['type']}): {deltas}; {c['cause']}. {c['question']}")
        lines.append("")
    if report["only_in_a"] or report["only_in_b"]:
        lines += [f"Only in A: {report['only_in_a']} questions; only in B: {report['only_in_b']}."]
    lines += ["", "| metric | A | B | delta |", "|---|---:|---:|---:|"]
    for k, d in report["summary_deltas"].items():
        lines.append(f"| {k} | {fmt(d['a'], k)} | {fmt(d['b'], k)} | {d['delta']:+.4g} |")
    return "\n".join(lines)
