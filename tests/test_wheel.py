"""The package as a user installs it: a built wheel in a fresh virtual environment outside the
repository (real pip, the real model fetched by `rag setup`, the real embedder and Chroma, a real
local OpenAI-protocol server). Slow: it installs every dependency (from pip's cache when warm)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.openai_server import openai_test_server

pytestmark = [pytest.mark.wheel, pytest.mark.timeout(2700)]

BLOCK_LORA_Q = "What does Block-LoRA share across its sub-matrices?"


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 900) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"{cmd[:3]} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> Iterator[dict]:
    """A wheel built from this checkout, installed (with its dependencies) into a new venv."""
    root = tmp_path_factory.mktemp("wheel-check")
    assert REPO not in root.parents
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_", "VIRTUAL"))}
    env |= {"RAG_HOME": str(root / "home"), "RAG_CACHE_DIR": str(session_cache)}
    wheel = sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"
    run([*wheel, "-w", str(root / "dist"), str(REPO)], root, env)
    (whl,) = (root / "dist").glob("rag_papers-*.whl")
    run([sys.executable, "-m", "venv", str(root / "venv")], root, env)
    bin_ = root / "venv" / "bin"
    run([str(bin_ / "python"), "-m", "pip", "install", "-q", str(whl)], root, env, timeout=1500)
    yield {"root": root, "bin": bin_, "env": env}


def test_pip_check_passes_and_torch_stays_out(installed: dict) -> None:
    bin_, root, env = installed["bin"], installed["root"], installed["env"]
    run([str(bin_ / "python"), "-m", "pip", "check"], root, env)
    code = "import importlib.util as u; print(u.find_spec('torch') is None)"
    assert run([str(bin_ / "python"), "-c", code], root, env).strip() == "True"


def test_installed_package_sets_up_answers_and_gates(installed: dict) -> None:
    bin_, root, env = installed["bin"], installed["root"], installed["env"]
    rag = str(bin_ / "rag")
    out = run([rag, "setup"], root, env, timeout=1500)
    assert "Ready: 242 papers" in out
    run([str(bin_ / "python"), "-m", "pip", "check"], root, env)  # the model is not installed

    answer = json.loads(run([rag, "ask", "--json", BLOCK_LORA_Q], root, env))
    assert not answer["refused"]
    assert answer["citations"][0]["title"].startswith("One Head Eight Arms")

    with openai_test_server() as server:
        server.script("Block-LoRA shares all down-projection sub-matrices [1].")
        llm_env = env | {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
        cmd = [rag, "ask", "--json", "--llm", "openai:test-model", BLOCK_LORA_Q]
        reply = json.loads(run(cmd, root, llm_env))
        assert reply["backend"] == "openai:test-model"
        assert len(server.chat_requests()) == 1  # the packaged prompt was sent
        assert "<source" in json.dumps(server.chat_requests()[0]["messages"])

    gate = [rag, "eval", "seed", "--split", "test", "--home", str(root / "home")]
    run(gate, root, env, timeout=1500)  # packaged questions and thresholds; exit 3 would fail
