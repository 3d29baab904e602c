"""rag.answering.llm against a real local OpenAI-compatible server, via the openai client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from rag.answering.llm import LLM, Completion, estimate_cost, make_llm, tiktoken_encoding
from rag.errors import BackendError, ConfigError
from rag.settings import Settings
from tests.openai_server import OpenAITestServer, Reply, openai_test_server

pytestmark = pytest.mark.timeout(30)

MESSAGES = [
    {"role": "system", "content": "Answer from the sources only."},
    {"role": "user", "content": "What does the paper say?"},
]
CONTENT = "The paper reports a gain of three points [1]. It uses a small model [2]."
ENV_KEYS = (
    "OPENAI_API_KEY",
    "RAG_OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "RAG_OPENAI_BASE_URL",
    "RAG_LLM",
)


@pytest.fixture(scope="module")
def module_server() -> Iterator[OpenAITestServer]:
    with openai_test_server() as server:
        yield server


@pytest.fixture
def server(module_server: OpenAITestServer) -> OpenAITestServer:
    module_server.reset()
    return module_server


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LLM, "backoff_base", 0.01)
    monkeypatch.setattr(LLM, "backoff_max", 0.05)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)


def make(
    server: OpenAITestServer, *, timeout: float = 5.0, retries: int = 2, model: str = "m"
) -> LLM:
    llm = LLM(
        model, api_key="sk-test", base_url=server.base_url, timeout=timeout, max_retries=retries
    )
    _ = llm.client.chat.completions  # import openai now, outside the timed parts of the tests
    return llm


def one_line_error(exc: pytest.ExceptionInfo[BackendError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


# -- good replies ---------------------------------------------------------------------------------
def test_complete_returns_text_usage_and_sends_request(server: OpenAITestServer) -> None:
    server.script(CONTENT)
    result = make(server).complete(MESSAGES, max_tokens=123)
    assert isinstance(result, Completion)
    assert result.text == CONTENT
    assert result.model == "m" and result.finish_reason == "stop" and result.latency_ms > 0
    assert result.usage.completion_tokens == len(CONTENT.split())  # what the server reported
    assert result.usage.prompt_tokens > 0
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    assert result.usage.cost_usd is None  # unknown model: no price
    (req,) = server.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-test"
    assert req["messages"] == MESSAGES
    assert req["max_tokens"] == 123 and req["temperature"] == 0.0
    assert "stream" not in req and "response_format" not in req


def test_cost_for_known_models(server: OpenAITestServer) -> None:
    usage = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}
    server.script(Reply(content=CONTENT, usage=usage))
    result = make(server, model="gpt-4o-mini").complete(MESSAGES, max_tokens=50)
    assert result.usage.cost_usd == pytest.approx((1000 * 0.15 + 100 * 0.60) / 1e6)
    assert estimate_cost("gpt-4o-mini-2024-07-18", 10**6, 0) == pytest.approx(0.15)
    assert estimate_cost("gpt-4o-2024-08-06", 10**6, 0) == pytest.approx(2.50)
    assert estimate_cost("gpt-4.1-mini", 0, 10**6) == pytest.approx(1.60)
    assert estimate_cost("llama3.1:8b", 10**6, 10**6) is None
    assert estimate_cost("gpt-4o-mini-finetuned-by-me", 1, 1) is None


def test_stream_delivers_deltas_in_order_with_usage(server: OpenAITestServer) -> None:
    server.script(CONTENT)
    deltas: list[str] = []
    result = make(server).stream(MESSAGES, max_tokens=64, on_delta=deltas.append)
    assert len(deltas) > 3  # really streamed, a few words at a time
    assert "".join(deltas) == CONTENT == result.text
    assert result.usage.completion_tokens == len(CONTENT.split())  # reported by the server
    assert result.finish_reason == "stop"
    (req,) = server.requests
    assert req["stream"] is True and req["stream_options"] == {"include_usage": True}


def test_missing_usage_is_estimated_with_tiktoken(server: OpenAITestServer) -> None:
    server.script(Reply(content=CONTENT, send_usage=False))
    expected = len(tiktoken_encoding("cl100k_base").encode(CONTENT))
    streamed = make(server).stream(MESSAGES, max_tokens=64, on_delta=lambda _: None)
    completed = make(server).complete(MESSAGES, max_tokens=64)
    for result in (streamed, completed):
        assert result.usage.completion_tokens == expected
        assert result.usage.prompt_tokens > 10


def test_structured_output_sends_json_schema(server: OpenAITestServer) -> None:
    schema = {
        "title": "Answer",
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    payload = json.dumps({"answer": "A gain of three points [1]."})
    server.script(payload, Reply(tool_call_arguments=payload))
    llm = make(server)
    assert json.loads(llm.complete(MESSAGES, max_tokens=64, json_schema=schema).text)["answer"]
    assert server.requests[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Answer", "schema": schema, "strict": True},
    }
    # Some servers answer structured requests with a tool call: its arguments are the JSON.
    assert llm.complete(MESSAGES, max_tokens=64, json_schema=schema).text == payload


# -- retries --------------------------------------------------------------------------------------
def test_429_then_success(server: OpenAITestServer) -> None:
    server.script(Reply(status=429, headers={"retry-after": "0"}), Reply(content="Recovered [1]."))
    result = make(server).complete(MESSAGES, max_tokens=32)
    assert result.text == "Recovered [1]."
    assert len(server.requests) == 2


def test_retry_after_header_is_honoured(server: OpenAITestServer) -> None:
    server.script(Reply(status=429, headers={"retry-after": "0.4"}), Reply(content="Later [1]."))
    start = time.monotonic()
    assert make(server).complete(MESSAGES, max_tokens=32).text == "Later [1]."
    assert time.monotonic() - start >= 0.4


def test_too_long_retry_after_fails_at_once(server: OpenAITestServer) -> None:
    server.script(Reply(status=429, headers={"retry-after": "3600"}))
    start = time.monotonic()
    with pytest.raises(BackendError) as exc:
        make(server).complete(MESSAGES, max_tokens=32)
    assert time.monotonic() - start < 1.0
    assert "429" in one_line_error(exc) and "3600 s" in str(exc.value)
    assert len(server.requests) == 1


def test_500_every_time_raises_after_retries(server: OpenAITestServer) -> None:
    server.script(Reply(status=500))
    with pytest.raises(BackendError) as exc:
        make(server, retries=2).complete(MESSAGES, max_tokens=32)
    message = one_line_error(exc)
    assert "500" in message and server.base_url in message and "after 2 retries" in message
    assert "The server had an error" in message  # the server's own message
    assert len(server.requests) == 3


def test_stream_retries_before_first_delta(server: OpenAITestServer) -> None:
    server.script(Reply(status=503), Reply(content=CONTENT))
    deltas: list[str] = []
    result = make(server).stream(MESSAGES, max_tokens=64, on_delta=deltas.append)
    assert "".join(deltas) == result.text == CONTENT
    assert len(server.requests) == 2


def test_client_error_is_not_retried(server: OpenAITestServer) -> None:
    server.script(Reply(status=404))
    with pytest.raises(BackendError) as exc:
        make(server).complete(MESSAGES, max_tokens=32)
    assert "404" in one_line_error(exc) and "does not exist" in str(exc.value)
    assert len(server.requests) == 1


def test_401_is_not_retried_and_mentions_the_key(server: OpenAITestServer) -> None:
    server.script(Reply(status=401))
    with pytest.raises(BackendError) as exc:
        make(server).complete(MESSAGES, max_tokens=32)
    message = one_line_error(exc)
    assert "OPENAI_API_KEY" in message and "401" in message
    assert len(server.requests) == 1


def test_wrong_key_against_a_key_checking_server() -> None:
    with openai_test_server(api_key="sk-right") as server:
        with pytest.raises(BackendError, match="OPENAI_API_KEY"):
            make(server).stream(MESSAGES, max_tokens=32, on_delta=lambda _: None)
        assert len(server.requests) == 1


# -- timeouts -------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["complete", "stream"])
def test_slow_reply_times_out_in_bounded_time(server: OpenAITestServer, mode: str) -> None:
    server.script(Reply(content=CONTENT, delay=3.0))
    llm = make(server, timeout=0.5, retries=1)
    start = time.monotonic()
    with pytest.raises(BackendError) as exc:
        if mode == "complete":
            llm.complete(MESSAGES, max_tokens=32)
        else:
            llm.stream(MESSAGES, max_tokens=32, on_delta=lambda _: None)
    elapsed = time.monotonic() - start
    assert 0.9 < elapsed < 2.0
    message = one_line_error(exc)
    assert "timed out" in message and "after 1 retry" in message
    assert len(server.requests) == 2


def test_slow_stream_is_cut_off_by_the_overall_deadline(server: OpenAITestServer) -> None:
    # Every chunk arrives within the per-read timeout, but the whole answer would take ~6 s.
    long = " ".join(f"word{i}" for i in range(30))
    server.script(Reply(content=long, words_per_chunk=1, stream_delay=0.2))
    deltas: list[str] = []
    start = time.monotonic()
    with pytest.raises(BackendError) as exc:
        make(server, timeout=0.5, retries=1).stream(MESSAGES, max_tokens=64, on_delta=deltas.append)
    assert time.monotonic() - start < 2.0
    assert "did not finish its reply within 0.5 s" in one_line_error(exc)
    assert deltas and long.startswith("".join(deltas))
    assert len(server.requests) == 1  # text was already delivered: never retried


def test_stream_broken_midway_is_not_retried(server: OpenAITestServer) -> None:
    server.script(Reply(content=CONTENT, words_per_chunk=2, break_after=2))
    deltas: list[str] = []
    with pytest.raises(BackendError) as exc:
        make(server).stream(MESSAGES, max_tokens=64, on_delta=deltas.append)
    assert "stream broke off after" in one_line_error(exc)
    assert len(deltas) == 2 and CONTENT.startswith("".join(deltas))
    assert len(server.requests) == 1


def test_unreachable_endpoint(server: OpenAITestServer) -> None:
    dead = OpenAITestServer().start()
    url = dead.base_url
    dead.stop()
    llm = LLM("m", api_key=None, base_url=url, timeout=0.5, max_retries=1)
    _ = llm.client.chat.completions
    start = time.monotonic()
    with pytest.raises(BackendError) as exc:
        llm.complete(MESSAGES, max_tokens=32)
    assert time.monotonic() - start < 2.0
    message = one_line_error(exc)
    assert "could not be reached" in message and url in message


# -- garbage --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "reply",
    [
        Reply(raw=""),
        Reply(raw="this is not json"),
        Reply(raw="<html>proxy error</html>", headers={"content-type": "text/html"}),
        Reply(raw="{}"),
        Reply(raw='{"choices": []}'),
        Reply(content=""),
    ],
    ids=["empty", "not-json", "html", "empty-object", "no-choices", "empty-answer"],
)
def test_garbage_reply_raises_backend_error(server: OpenAITestServer, reply: Reply) -> None:
    server.script(reply)
    with pytest.raises(BackendError) as exc:
        make(server).complete(MESSAGES, max_tokens=32)
    assert server.base_url in one_line_error(exc)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(raw="data: {broken\n\n", headers={"content-type": "text/event-stream"}),
        Reply(raw="", headers={"content-type": "text/event-stream"}),
        Reply(raw=json.dumps({"choices": [{"message": {"content": "not a stream"}}]})),
        Reply(content=""),
    ],
    ids=["broken-event", "empty", "json-not-sse", "empty-answer"],
)
def test_garbage_stream_raises_backend_error(server: OpenAITestServer, reply: Reply) -> None:
    server.script(reply)
    with pytest.raises(BackendError) as exc:
        make(server).stream(MESSAGES, max_tokens=32, on_delta=lambda _: None)
    assert server.base_url in one_line_error(exc)


def test_on_delta_exceptions_propagate_untouched(server: OpenAITestServer) -> None:
    def boom(_: str) -> None:
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        make(server).stream(MESSAGES, max_tokens=32, on_delta=boom)
    assert len(server.requests) == 1


def test_official_endpoint_gets_max_completion_tokens() -> None:
    llm = LLM("gpt-4o-mini", api_key="sk-x", base_url=None, timeout=1, max_retries=0)
    assert llm.base_url == "https://api.openai.com/v1"
    assert llm._params(MESSAGES, 99, 0.0)["max_completion_tokens"] == 99  # no request is made


# -- make_llm -------------------------------------------------------------------------------------
def test_extractive_stays_off_even_with_an_api_key(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-looking-key")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.llm == "extractive" and settings.openai_api_key is not None
    assert make_llm(settings) is None
    assert make_llm(Settings(llm="extractive", _env_file=None)) is None  # type: ignore[call-arg]


def test_openai_with_local_base_url_and_no_key(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, server: OpenAITestServer
) -> None:
    monkeypatch.setenv("RAG_LLM", "openai:local-model")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    llm = make_llm(Settings(llm_timeout=3, llm_max_retries=1, _env_file=None))  # type: ignore[call-arg]
    assert llm is not None
    assert (llm.model, llm.timeout, llm.max_retries) == ("local-model", 3.0, 1)
    assert llm.complete(MESSAGES, max_tokens=16).text
    assert server.requests[0]["model"] == "local-model"
    assert server.requests[0].headers["authorization"] == "Bearer not-needed"


def test_openai_with_key_targets_openai(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-abc")
    llm = make_llm(Settings(llm="openai:gpt-4o-mini", _env_file=None))  # type: ignore[call-arg]
    assert llm is not None and llm.base_url == "https://api.openai.com/v1"
    assert llm.api_key == "sk-abc"  # no request is made here


def test_openai_without_key_or_base_url_is_a_config_error(clean_env: None) -> None:
    with pytest.raises(ConfigError, match=r"OPENAI_API_KEY.*OPENAI_BASE_URL"):
        make_llm(Settings(llm="openai:gpt-4o-mini", _env_file=None))  # type: ignore[call-arg]


def test_llm_never_reads_the_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    with pytest.raises(ConfigError):
        LLM("gpt-4o-mini", api_key=None, base_url=None, timeout=1, max_retries=0)


@pytest.mark.parametrize("value", ["gpt-4o-mini", "openai:", "anthropic:claude", "local", ""])
def test_unknown_llm_setting_is_a_config_error(clean_env: None, value: str) -> None:
    with pytest.raises(ConfigError) as exc:
        make_llm(Settings(llm=value, _env_file=None))  # type: ignore[call-arg]
    assert "extractive" in str(exc.value) and "openai:MODEL" in str(exc.value)


# -- helpers --------------------------------------------------------------------------------------
def test_tiktoken_encoding_works_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    tiktoken_encoding.cache_clear()
    try:
        for name in ("cl100k_base", "o200k_base"):
            assert tiktoken_encoding(name).encode("hello world")
        assert "tiktoken_cache" in os.environ["TIKTOKEN_CACHE_DIR"]
    finally:
        tiktoken_encoding.cache_clear()


def test_import_is_lazy() -> None:
    code = "import sys, rag.answering.llm; assert not {'openai', 'tiktoken'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
