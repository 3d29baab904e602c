"""Finding 4 (Chroma part): a stopped or killed Chroma server gives one clear error naming the
server, in bounded time, and never a hang. Uses a private ``chroma run`` server (stopped and
killed here, so not the shared session one) and the FakeEmbedder. About 15 s, mostly the
server's start-up."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.errors import RagError
from tests.conftest import DATA, free_port
from tests.fakes import FakeEmbedder, fake_library

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def own_chroma(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    assert exe is not None
    port = free_port()
    proc = subprocess.Popen(
        [exe, "run", "--path", str(tmp_path / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "chroma did not start"
            time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.wait(timeout=10)


def test_stopped_then_killed_chroma_server_is_a_clear_bounded_error(
    own_chroma: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    url, proc = own_chroma
    lib = fake_library(tmp_path / "lib", chroma_url=url, chroma_timeout=1.5)
    lib.ingest([DATA / "tiny.jsonl"], progress=False)
    assert lib.search("attention", k=2)

    os.kill(proc.pid, signal.SIGSTOP)  # the server still accepts connections, never answers
    try:
        for call in (
            lambda: lib.search("transformers", k=2),
            lambda: fake_library(tmp_path / "lib2", chroma_url=url, chroma_timeout=1.5).stats(),
        ):
            start = time.monotonic()
            with pytest.raises(RagError) as exc:
                call()
            assert time.monotonic() - start < 15  # 1.5 s plus a loaded machine's slack
            assert url in str(exc.value) and "did not answer within 1.5 s" in str(exc.value)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    assert lib.search("attention", k=2)  # a resumed server serves the same client again

    class KillingEmbedder(FakeEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            proc.kill()  # the server dies while the ingest is under way
            proc.wait(timeout=10)
            return super().embed(texts)

    from rag.library import Library

    doomed = Library(
        home=tmp_path / "lib", embedder=KillingEmbedder(), chroma_url=url, chroma_timeout=1.5
    )
    fresh = tmp_path / "fresh.jsonl"
    fresh.write_text(
        "".join(
            f'{{"id": "n{i}", "title": "New paper {i}", "abstract": "Fresh text {i}."}}\n'
            for i in range(3)
        )
    )
    with pytest.raises(RagError) as exc:
        doomed.ingest([fresh], progress=False)
    message = str(exc.value)
    assert url in message and "Chroma server" in message, message
