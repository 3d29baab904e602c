"""The CLI as a user runs it (real subprocesses): exit codes, one-line errors, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DATA


def run(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.interfaces.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "RAG_HOME": str(home), **env},
        timeout=120,
    )


def assert_one_line_error(out: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert out.stderr.startswith("Error: ")
    assert out.stderr.count("\n") == 1, out.stderr
    assert "Traceback" not in out.stderr
    for fragment in fragments:
        assert fragment in out.stderr


@pytest.mark.parametrize(
    ("name", "content", "fragments"),
    [
        (
            "bad.jsonl",
            '{"id": "a", "title": "A", "abstract": "x."}\n{nope\n',
            ("bad.jsonl:2", "malformed JSON"),
        ),
        (
            "badabs.jsonl",
            '{"id": "a", "title": "A", "abstract": 5}\n',
            ("badabs.jsonl:1", "'abstract' must be a string"),
        ),
        ("latin.txt", b"Sep 3\n\nCaf\xe9\n\nAbstract.\n", ("latin.txt:3", "not UTF-8")),
    ],
)
def test_bad_input_exits_1_with_file_and_line_and_writes_nothing(
    tmp_path: Path, name: str, content: str | bytes, fragments: tuple[str, ...]
) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    home = tmp_path / "lib"
    out = run("ingest", str(DATA / "tiny.jsonl"), str(path), home=home)
    assert_one_line_error(out, *fragments)
    assert not (home / "chroma").exists()  # validated before the store was even opened


def test_missing_path(tmp_path: Path) -> None:
    out = run("ingest", str(tmp_path / "nowhere.jsonl"), home=tmp_path)
    assert_one_line_error(out, "nowhere.jsonl: no such file or directory")


def test_skip_errors_reports_count(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"id": "a", "title": "A", "abstract": "Fine."}\n{nope\n')
    out = run(
        "ingest", "--skip-errors", "--json", str(path), home=tmp_path / "lib", RAG_EMBEDDER="minilm"
    )
    assert out.returncode == 0, out.stderr
    assert '"papers_added": 1' in out.stdout and "mixed.jsonl:2" in out.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("ask", home=tmp_path).returncode == 2
    assert run("search", "x", "-k", "zero", home=tmp_path).returncode == 2
    assert run("frobnicate", home=tmp_path).returncode == 2


def test_bad_setting_is_a_user_error(tmp_path: Path) -> None:
    out = run("stats", home=tmp_path, RAG_EMBEDDER="bogus")
    assert_one_line_error(out, "unknown embedder 'bogus'")
    out = run("stats", home=tmp_path, RAG_TOP_K="-3")
    assert_one_line_error(out, "invalid setting top_k (RAG_TOP_K)")


def test_cli_start_up_is_lazy() -> None:
    heavy = "('llama_index', 'chromadb', 'onnxruntime')"
    code = f"import sys, rag.interfaces.cli; print(any(m.startswith({heavy}) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
