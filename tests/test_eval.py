"""The evaluation harness: the seed dataset's integrity, `rag eval` runs, gates, comparisons, and
the PubMedQA and SciFact suites on tiny stand-in benchmark files."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from rag.eval.context import SEED_DATASET
from rag.interfaces.eval_cli import eval_cmd
from tests.openai_server import openai_test_server

UNIT = ("id", "type", "question", "retrieved_ids", "gold_ids", "answer", "refused", "metrics")
RATES = ("key_fact_recall", "faithfulness", "citation_precision", "citation_recall")


def run_eval(*args: str | Path) -> Result:
    return CliRunner().invoke(eval_cmd, [str(a) for a in args], catch_exceptions=False)


def latest_run(home: Path) -> Path:
    return sorted((home / "eval" / "runs").iterdir(), key=lambda p: p.stat().st_mtime)[-1]


# --- the dataset -------------------------------------------------------------------------------


def seed_questions() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SEED_DATASET.read_text(encoding="utf-8").splitlines()]


def test_seed_gold_ids_exist_and_key_facts_are_verbatim() -> None:
    from rag.ingest import bundled_seed_dir, paper_id_for_title, parse_paths
    from rag.text import clean_text

    papers = {p.paper_id: p for p in parse_paths([bundled_seed_dir()]).papers}

    def raw_abstract(paper_id: str) -> str:
        # The paper's location is file:line of its title; the abstract is the next non-blank line.
        path, line = papers[paper_id].location.rsplit(":", 1)
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return clean_text(next(x for x in lines[int(line) :] if x.strip()))

    questions = seed_questions()
    assert len(questions) == 111
    for q in questions:
        gold, related = q["gold_ids"], q["related_ids"]
        assert isinstance(gold, list) and isinstance(related, list)
        assert gold == [paper_id_for_title(t) for t in q["gold_titles"]]
        assert related == [paper_id_for_title(t) for t in q["related_titles"]]
        assert all(pid in papers for pid in gold + related), q["id"]
        assert (not gold) == (q["type"] in ("unanswerable", "near_miss")), q["id"]
        abstracts = [raw_abstract(pid) for pid in gold]
        for fact in q["key_facts"]:
            assert any(clean_text(fact) in a for a in abstracts), (q["id"], fact)


def test_importing_the_command_loads_only_click() -> None:
    code = (
        "import sys, rag.interfaces.eval_cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('rag', 'numpy', 'pydantic', 'llama_index', 'chromadb', 'tqdm', 'openai')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        "['rag', 'rag.errors', 'rag.interfaces', 'rag.interfaces.eval_cli', 'rag.interfaces.exit', "
        "'rag.text']"  # rag.text: the terminal filter (standard library only at import)
    )


def test_usage_errors() -> None:
    assert run_eval().exit_code == 2  # neither a suite nor --compare
    bad_split = run_eval("seed", "--split", "train")
    assert bad_split.exit_code == 1
    assert bad_split.stderr.count("\n") == 1 and "split" in bad_split.stderr
    missing = run_eval("--compare", "nope-a", "nope-b")
    assert missing.exit_code == 1 and "no such run" in missing.stderr


def test_pubmedqa_is_skipped_without_an_llm() -> None:
    result = run_eval("pubmedqa")
    assert result.exit_code == 0
    assert result.stdout.count("\n") == 1 and "skipped" in result.stdout and "LLM" in result.stdout


# --- seed runs (real embedder, bundled corpus) ---------------------------------------------------


@pytest.fixture(scope="module")
def eval_home(tmp_path_factory: pytest.TempPathFactory, seeded_home: Path) -> Path:
    """One data directory for the module's runs (seeded_home warms the embedding cache)."""
    return tmp_path_factory.mktemp("eval-home")


@pytest.fixture(scope="module")
def seed_run(eval_home: Path, session_cache: Path) -> Path:
    """One seed run shared by the module's tests (made with the isolation conftest gives each
    test: no RAG_*/OPENAI_* variables, the shared cache, an empty working directory)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(("RAG_", "OPENAI_")):
                mp.delenv(name)
        mp.setenv("RAG_CACHE_DIR", str(session_cache))
        mp.chdir(eval_home)
        result = run_eval(
            "seed", "--split", "dev", "--limit", "6", "--home", eval_home, "--no-gate"
        )
    assert result.exit_code == 0, result.output
    return latest_run(eval_home)


@pytest.mark.integration
def test_seed_run_writes_results_and_summary(seed_run: Path) -> None:
    assert seed_run.name.endswith("-seed-dev")
    rows = [json.loads(x) for x in (seed_run / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 6
    for row in rows:
        assert set(UNIT) <= set(row), row.keys()
        assert row["id"].startswith("seed-") and "latency_ms" in row
        for key in RATES:
            assert 0.0 <= row["metrics"][key] <= 1.0
        if row["gold_ids"]:
            assert 0.0 <= row["metrics"]["recall_at_10"] <= 1.0
            assert len(row["retrieved_ids"]) == len(set(row["retrieved_ids"])) <= 10
        else:
            assert row["metrics"]["recall_at_10"] is None
    summary = json.loads((seed_run / "summary.json").read_text())
    assert summary["suite"] == "seed" and summary["split"] == "dev" and summary["n"] == 6
    assert summary["config"]["backend"] == "extractive" and summary["config"]["judge"] == "offline"
    overall = summary["overall"]
    for key in (*RATES, "recall_at_10", "mrr", "ndcg_at_10", "refusal_f1", "refusal_precision"):
        assert overall[key] is None or 0.0 <= overall[key] <= 1.0, key
    assert overall["latency_p95_ms"] >= overall["latency_p50_ms"] > 0
    assert sum(g["n"] for g in summary["by_type"].values()) == 6
    md = (seed_run / "summary.md").read_text()
    assert "| **all** | 6 |" in md and "nDCG@10" in md


@pytest.mark.integration
def test_too_strict_thresholds_exit_3_naming_the_metric(
    eval_home: Path, seed_run: Path, tmp_path: Path
) -> None:
    strict = tmp_path / "thresholds.toml"
    strict.write_text("[seed.dev]\nrecall_at_10 = 1.01\nfaithfulness = 0.0\n", encoding="utf-8")
    args = ("seed", "--limit", "2", "--home", eval_home, "--thresholds", strict)
    result = run_eval(*args)
    assert result.exit_code == 3, result.output
    failing = [line for line in result.stderr.splitlines() if "threshold" in line]
    assert len(failing) == 1
    assert "recall_at_10" in failing[0] and "1.01" in failing[0]
    summary = json.loads((latest_run(eval_home) / "summary.json").read_text())
    assert summary["gate"]["passed"] is False
    # A --limit sample is not held to the full-run thresholds of eval/thresholds.toml.
    sample = run_eval("seed", "--limit", "1", "--home", eval_home)
    assert sample.exit_code == 0 and "not gated" in sample.stderr
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[seed.dev]\nno_such_metric = 0.5\n", encoding="utf-8")
    result = run_eval("seed", "--limit", "1", "--home", eval_home, "--thresholds", unknown)
    assert result.exit_code == 1 and "no_such_metric" in result.stderr


@pytest.mark.integration
def test_compare_two_runs(eval_home: Path, seed_run: Path) -> None:
    # Same settings twice: nothing changes (the pipeline is deterministic).
    again = run_eval("seed", "--split", "dev", "--limit", "6", "--home", eval_home, "--no-gate")
    assert again.exit_code == 0
    second = latest_run(eval_home)
    same = run_eval("--compare", seed_run.name, second.name, "--home", eval_home, "--json")
    report = json.loads(same.stdout)
    assert report["regressed"] == [] and report["improved"] == []
    # A doctored copy: one question loses its key facts and its retrieved papers.
    doctored = eval_home / "doctored"
    shutil.copytree(second, doctored)
    rows = [json.loads(x) for x in (doctored / "results.jsonl").read_text().splitlines()]
    target = next(r for r in rows if r["metrics"]["recall_at_10"])
    before = target["metrics"]["recall_at_10"]
    target["metrics"]["recall_at_10"] = 0.0
    target["retrieved_ids"] = ["elsewhere"]
    (doctored / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run_eval("--compare", seed_run, doctored, "--home", eval_home)
    assert result.exit_code == 0, result.output
    assert "### Regressed: 1" in result.stdout
    line = next(x for x in result.stdout.splitlines() if x.startswith(f"- {target['id']}"))
    assert f"recall_at_10 {-before:+.3f}" in line and "retrieval changed" in line
    assert "| recall_at_10 |" in result.stdout  # the summary deltas


# --- benchmark suites on tiny stand-ins ---------------------------------------------------------

PUBMEDQA = {
    "1001": ("Does drug A lower blood pressure in adults?", "yes",
             "Drug A lowered systolic blood pressure by 12 mmHg in 300 adults."),
    "1002": ("Is coffee intake linked to bone fractures?", "no",
             "Coffee intake was not associated with fracture risk in 5000 women."),
    "1003": ("Does music therapy reduce anxiety before surgery?", "maybe",
             "Music therapy reduced anxiety scores in one of two surgical wards."),
}  # fmt: skip


@pytest.mark.integration
def test_pubmedqa_against_a_local_openai_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = tmp_path / "bench"
    (bench / "pubmedqa").mkdir(parents=True)
    data = {
        pmid: {"QUESTION": q, "CONTEXTS": [c], "final_decision": d, "LABELS": ["RESULTS"]}
        for pmid, (q, d, c) in PUBMEDQA.items()
    }
    (bench / "pubmedqa" / "pqal_train.json").write_text(json.dumps(data))
    monkeypatch.setenv("RAG_BENCHMARKS_DIR", str(bench))
    home = tmp_path / "home"
    with openai_test_server() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        server.script(  # in sorted id order: answer (right, wrong, right), then the judge's verdict
            f"Yes.\n{PUBMEDQA['1001'][2]} [1]",
            "yes",
            f"Yes.\n{PUBMEDQA['1002'][2]} [1]",
            "No, the passage does not say that.",
            f"Maybe\n{PUBMEDQA['1003'][2]} [1]",
            "yes",
        )
        args = ("pubmedqa", "--backend", "openai:test-model", "--judge", "llm", "--home", home)
        result = run_eval(*args, "--json")
        assert result.exit_code == 0, result.output
        prompts = [r["messages"][-1]["content"] for r in server.chat_requests()]
    assert len(prompts) == 6
    assert PUBMEDQA["1001"][0] in prompts[0] and "<source" in prompts[0]
    assert PUBMEDQA["1001"][2] in prompts[1] and "yes or no" in prompts[1]  # the judge's prompt
    summary = json.loads(result.stdout)
    assert summary["n"] == 3 and summary["config"]["judge"] == "llm:test-model"
    overall = summary["overall"]
    assert overall["correct"] == pytest.approx(2 / 3, abs=1e-3)
    assert summary["by_type"]["no"]["correct"] == 0.0
    assert overall["faithfulness"] == pytest.approx(2 / 3, abs=1e-3)
    assert overall["total_tokens"] > 0 and overall["judge_total_tokens"] > 0
    rows = [json.loads(x) for x in (latest_run(home) / "results.jsonl").read_text().splitlines()]
    assert [r["decision"] for r in rows] == ["yes", "yes", "maybe"]


@pytest.mark.integration
def test_scifact_suite_on_a_tiny_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = tmp_path / "bench" / "scifact"
    bench.mkdir(parents=True)
    docs = [
        (11, "Statins and heart attacks", ["Statins reduce the risk of heart attacks.",
                                           "The trial enrolled 4000 patients."]),
        (22, "Vitamin D and bones", ["Vitamin D supplements did not prevent fractures."]),
        (33, "Sleep and memory", ["Sleep deprivation impairs memory consolidation."]),
    ]  # fmt: skip
    with gzip.open(bench / "corpus.jsonl.gz", "wt", encoding="utf-8") as f:
        for doc_id, title, abstract in docs:
            f.write(json.dumps({"doc_id": doc_id, "title": title, "abstract": abstract}) + "\n")
    claims = [
        {"id": 1, "claim": "Statins lower heart attack risk.", "cited_doc_ids": [11],
         "evidence": {"11": [{"sentences": [0], "label": "SUPPORT"}]}},
        {"id": 2, "claim": "Lack of sleep harms memory.", "cited_doc_ids": [33], "evidence": {}},
    ]  # fmt: skip
    (bench / "claims_train.jsonl").write_text("".join(json.dumps(c) + "\n" for c in claims))
    monkeypatch.setenv("RAG_BENCHMARKS_DIR", str(bench.parent))
    result = run_eval("scifact", "--home", tmp_path / "home", "--json", "--no-gate")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    overall = summary["overall"]
    assert summary["n"] == 2 and overall["n_evidence_cited"] == 1
    assert overall["recall_at_100"] == 1.0 and 0.0 < overall["ndcg_at_10"] <= 1.0
    assert overall["chunks_written"] == 3
    assert set(summary["by_type"]) == {"evidence", "no_evidence"}
