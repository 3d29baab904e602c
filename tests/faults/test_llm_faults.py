"""Finding 4 and 7 (LLM part): every LLM call and stream ends by its wall-clock deadline, names
the endpoint, caps the reply size, and treats a cut-off stream as an error. Uses the scripted
OpenAI-protocol server (tests/openai_server.py) playing misbehaving servers. About 12 s."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from rag.answering.llm import LLM
from rag.errors import BackendError, RagError
from tests.openai_server import OpenAITestServer, Reply, openai_test_server

pytestmark = pytest.mark.timeout(60)

MESSAGES = [{"role": "user", "content": "What does the paper say?"}]
CONTENT = "The paper reports a gain of three points [1]. It uses a small model [2]."


@pytest.fixture(scope="module")
def module_server() -> Iterator[OpenAITestServer]:
    _ = LLM("m", api_key="k", base_url="http://127.0.0.1:9", timeout=1, max_retries=0).client.chat
    with openai_test_server() as server:  # the openai import (seconds) is not what is timed
        yield server


@pytest.fixture
def server(module_server: OpenAITestServer, monkeypatch: pytest.MonkeyPatch) -> OpenAITestServer:
    module_server.reset()
    monkeypatch.setattr(LLM, "backoff_base", 0.01)
    monkeypatch.setattr(LLM, "backoff_max", 0.05)
    return module_server


def make(server: OpenAITestServer, **kw: int) -> LLM:
    return LLM("m", api_key="sk-test", base_url=server.base_url, timeout=1.0, max_retries=2, **kw)


def call(llm: LLM, mode: str) -> Callable[[], object]:
    if mode == "stream":
        return lambda: llm.stream(MESSAGES, max_tokens=64, on_delta=lambda _: None)
    return lambda: llm.complete(MESSAGES, max_tokens=64)


def fails_within(seconds: float, fn: Callable[[], object]) -> str:
    start = time.monotonic()
    with pytest.raises(BackendError) as exc:
        fn()
    took = time.monotonic() - start
    assert took < seconds, f"took {took:.1f} s"
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("mode", ["stream", "complete"])
def test_a_trickling_server_stops_at_the_timeout(server: OpenAITestServer, mode: str) -> None:
    """One byte every 0.25 s never trips a 1 s read timeout; the wall-clock deadline does."""
    server.script(Reply(content=CONTENT, trickle=0.25))
    message = fails_within(4.0, call(make(server), mode))
    assert server.base_url in message and "did not finish its reply within 1 s" in message
    assert len(server.chat_requests()) == 1  # a trickling server is not retried


def test_a_keep_alive_only_stream_ends(server: OpenAITestServer) -> None:
    server.script(Reply(keepalive_only=30))
    message = fails_within(4.0, call(make(server), "stream"))
    assert server.base_url in message and "within 1 s" in message


def test_a_stream_cut_off_cleanly_is_an_error_not_an_answer(server: OpenAITestServer) -> None:
    server.script(Reply(content=CONTENT, words_per_chunk=2, truncate_after=2))
    message = fails_within(5.0, call(make(server), "stream"))
    assert "ended before the answer was complete" in message and server.base_url in message


@pytest.mark.parametrize("mode", ["stream", "complete"])
def test_a_huge_reply_is_a_clear_error(server: OpenAITestServer, mode: str) -> None:
    server.script(Reply(content="A sentence of the reply. " * 2000, words_per_chunk=400))
    message = fails_within(10.0, call(make(server, max_reply_chars=8 * 1024), mode))
    assert "more than 8 KiB" in message and "RAG_MAX_REPLY_KB" in message


@pytest.mark.parametrize(("status", "requests"), [(500, 3), (503, 3), (400, 1), (404, 1)])
def test_http_errors_name_the_endpoint(
    server: OpenAITestServer, status: int, requests: int
) -> None:
    server.script(Reply(status=status))
    message = fails_within(5.0, call(make(server), "complete"))
    assert server.base_url in message and str(status) in message
    assert len(server.chat_requests()) == requests


def test_the_cli_exits_1_on_a_cut_off_stream(server: OpenAITestServer, tmp_path: object) -> None:
    """The Library streaming path (what `rag ask` uses on a terminal), with the FakeEmbedder:
    a cut-off stream raises (the CLI's exit 1), it is never shown as a refusal."""
    from rag.interfaces.cli_common import consume
    from tests.conftest import DATA
    from tests.fakes import fake_library

    lib = fake_library(llm="openai:m", openai_base_url=server.base_url, seed=False, llm_timeout=5.0)
    lib.ingest([DATA / "tiny.jsonl"], progress=False)
    server.script(Reply(content=CONTENT, words_per_chunk=2, truncate_after=1))
    with pytest.raises(RagError, match="ended before the answer was complete"):
        consume(lib.pipeline.stream("What did physicians prefer?"))
