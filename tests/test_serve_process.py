"""`rag serve` and the CLI as processes: SIGTERM lets an ingest in flight finish and exits 0;
`rag ask` and `rag chat` write the question log, `rag logs` reads it, `rag chat --resume`
continues a logged conversation (the CLI tests use the real embedding model)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import DATA, REPO, free_port
from tests.fakes import fake_library


def test_sigterm_finishes_the_ingest_in_flight(tmp_path: Path) -> None:
    home, port = tmp_path / "served", free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "FAKE_EMBED_DELAY": "0.05"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_serve", "http", str(home), str(port)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()  # type: ignore[union-attr]
            time.sleep(0.1)
        records = "".join(
            json.dumps({"id": f"s-{i}", "title": f"Paper {i}", "abstract": f"Finding {i}."}) + "\n"
            for i in range(60)
        )  # 60 chunks at 0.05 s each: about 3 s of embedding
        result: dict[str, Any] = {}

        def upload() -> None:
            r = httpx.post(f"{base}/ingest", files={"file": ("batch.jsonl", records)}, timeout=60)
            result["status"], result["body"] = r.status_code, r.json()

        thread = threading.Thread(target=upload)
        thread.start()
        time.sleep(1.0)  # the ingest is embedding now
        proc.send_signal(signal.SIGTERM)
        thread.join(timeout=60)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert result["status"] == 200 and result["body"]["papers_added"] == 60
    lib = fake_library(home, seed=False)
    assert lib.stats().papers == 65  # the 5 of the tiny corpus and all 60, none half-written
    assert (home / "uploads" / "batch.jsonl").exists()
    assert list((home / "uploads" / ".incoming").iterdir()) == []


def rag(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_HOME": str(home), "RAG_SEED": "false", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "rag.interfaces.cli", *args],
        capture_output=True, text=True, env=env, input=stdin, timeout=300,
    )  # fmt: skip


def test_cli_turns_are_logged_and_a_chat_resumes(tmp_path: Path) -> None:
    home = tmp_path / "cli-home"
    assert rag("ingest", str(DATA / "tiny.jsonl"), home=home).returncode == 0
    out = rag("ask", "How did hallucinated medications change?", "--json", home=home)
    assert out.returncode == 0, out.stderr
    chat = rag("chat", home=home, stdin="How did hallucinated medications change?\n/exit\n")
    assert chat.returncode == 0, chat.stderr
    logs = rag("logs", "-n", "5", "--json", home=home)
    entries = [json.loads(line) for line in logs.stdout.splitlines()]
    assert [(e["via"], e["kind"]) for e in entries] == [("cli", "ask"), ("cli", "chat")]
    assert entries[0]["citations"][0]["paper_id"] == "101" and entries[0]["backend"]
    assert entries[0]["timings_ms"]["total"] > 0 and entries[1]["conversation"]
    human = rag("logs", home=home).stdout
    assert "Q: How did hallucinated medications change?" in human and "[1]" in human
    resumed = rag("chat", "--resume", home=home, stdin="What did they compare?\n")
    assert "resuming conversation" in resumed.stdout and "1 earlier turn" in resumed.stdout
    assert "(searched for: What did they compare?" in resumed.stdout
    last = json.loads(rag("logs", "-n", "1", "--json", home=home).stdout)
    assert last["conversation"] == entries[1]["conversation"]
    off = subprocess.run(
        [sys.executable, "-m", "rag.interfaces.cli", "ask", "Hallucinated medications?"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "RAG_HOME": str(home), "RAG_SEED": "false", "RAG_LOG": "false"},
    )  # fmt: skip
    assert off.returncode == 0
    assert len(rag("logs", "-n", "100", "--json", home=home).stdout.splitlines()) == 3
