"""`rag serve` over a real uvicorn server on 127.0.0.1: routes, the JSON contract, SSE, errors,
auth, size limits, the upload guard, the OpenAI endpoint (through the official `openai` client)
and the question log. Libraries use the fake embedder (tests/fakes.py) and the tiny corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.interfaces.http import create_app
from rag.interfaces.question_log import QuestionLog
from rag.library import Library
from rag.schema import Answer
from tests.conftest import DATA
from tests.fakes import FakeEmbedder, fake_library
from tests.http_helpers import running, sse_events
from tests.openai_server import OpenAITestServer, openai_test_server

ANSWERABLE = "How much did hallucinated medications drop?"
UNANSWERABLE = "xylophone quasar zeppelin?"
CORPUS = [DATA / "tiny.jsonl", DATA / "tiny_daily.txt"]


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Library:
    library = fake_library(tmp_path_factory.mktemp("http-lib"), seed=False)
    library.ingest(CORPUS, progress=False)
    return library


@pytest.fixture(scope="module")
def url(lib: Library) -> Iterator[str]:
    with running(create_app(lib)) as base:
        yield base


@pytest.fixture
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=60) as c:
        yield c


def test_health_stats_and_openapi(client: httpx.Client) -> None:
    assert client.get("/health").json()["status"] == "ok"
    stats = client.get("/stats").json()
    assert stats["papers"] == 5 and stats["embedder"] == "fake-bow"
    spec = client.get("/openapi.json").json()
    for path in ("/search", "/ask", "/summarize", "/papers", "/papers/{paper_id}", "/ingest"):
        assert path in spec["paths"], path
    assert "/v1/chat/completions" in spec["paths"]
    assert "question" in spec["components"]["schemas"]["AskRequest"]["properties"]
    assert client.get("/docs").status_code == 200


def test_search_is_the_cli_contract(client: httpx.Client) -> None:
    hits = client.post("/search", json={"query": "linear attention softmax", "k": 2}).json()
    assert [h["rank"] for h in hits] == [1, 2]
    assert set(hits[0]) == {"rank", "paper_id", "title", "chunk_id", "score", "text"}
    assert hits[0]["paper_id"] == "p-2"


def test_search_filters_are_applied_and_validated(client: httpx.Client) -> None:
    body = {"query": "attention", "filters": {"year": "2024"}}
    hits = client.post("/search", json=body).json()
    assert hits and all(h["paper_id"] == "101" for h in hits)
    bad = client.post("/search", json={"query": "x", "filters": {"year": "soon"}})
    assert bad.status_code == 400 and "bad year filter" in bad.json()["error"]["message"]
    unknown = client.post("/search", json={"query": "x", "filters": {"source": ["nope.jsonl"]}})
    assert unknown.status_code == 400 and "nope.jsonl" in unknown.json()["error"]["message"]


def test_ask_returns_the_rag_ask_json_object(client: httpx.Client) -> None:
    r = client.post("/ask", json={"question": ANSWERABLE, "k": 3})
    answer = Answer.model_validate(r.json())
    assert not answer.refused and answer.citations[0].paper_id == "101"
    assert "12% to 3%" in answer.answer and answer.answer.endswith("[1]")
    refusal = Answer.model_validate(client.post("/ask", json={"question": UNANSWERABLE}).json())
    assert refusal.refused and not refusal.citations


def test_ask_streams_checked_sentences_then_sources_then_done(client: httpx.Client) -> None:
    r = client.post("/ask?stream=true", json={"question": ANSWERABLE})
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    kinds = [e for e, _ in events]
    assert kinds[0] == "status" and kinds[-2:] == ["sources", "done"]
    assert set(kinds[1:-2]) == {"sentence"}
    done = Answer.model_validate(events[-1][1]["answer"])
    assert [d["text"] for e, d in events if e == "sentence"] == [s.text for s in done.sentences]
    sources = events[-2][1]
    assert sources[0]["authors"] == ["A. Author", "B. Author"] and sources[0]["year"] == 2024
    assert "Hallucinated medications dropped from 12% to 3%." in sources[0]["sentences"]


def test_a_refusal_streams_as_a_refusal(client: httpx.Client) -> None:
    accept = {"accept": "text/event-stream"}
    events = sse_events(client.post("/ask", json={"question": UNANSWERABLE}, headers=accept).text)
    kinds = [e for e, _ in events]
    assert kinds == ["status", "refusal", "sources", "done"]
    assert "do not answer" in events[1][1]["text"] and events[2][1] == []


def test_summarize_json_and_stream(client: httpx.Client) -> None:
    answer = Answer.model_validate(client.post("/summarize", json={"topic": "attention"}).json())
    assert not answer.refused and answer.citations
    kinds = [e for e, _ in sse_events(client.post("/summarize?stream=1", json={"topic": "x"}).text)]
    assert kinds[0] == "status" and kinds[-1] == "done"


def test_conversation_follow_up_is_rewritten(client: httpx.Client) -> None:
    first = client.post("/ask", json={"question": ANSWERABLE, "conversation": "t1"})
    assert first.headers["x-conversation-id"] == "t1"
    second = client.post("/ask", json={"question": "What did they compare?", "conversation": "t1"})
    question = second.json()["question"]
    assert question.startswith("What did they compare?") and "Clinical Notes" in question


def test_papers_list_and_one_paper(client: httpx.Client) -> None:
    listing = client.get("/papers", params={"limit": 2}).json()
    assert listing["total"] == 5 and len(listing["papers"]) == 2
    found = client.get("/papers", params={"q": "coral"}).json()["papers"]
    assert [p["paper_id"] for p in found] == ["p-3"]
    assert found[0]["url"] == "https://doi.org/10.1234/coral"  # the DOI becomes a link
    paper = client.get("/papers/p-2").json()
    assert paper["text"].startswith("Linear attention replaces") and paper["year"] == 2023
    missing = client.get("/papers/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]


def test_bad_requests_are_json_errors_without_a_trace(client: httpx.Client) -> None:
    for r in (
        client.post("/ask", json={"question": ""}),
        client.post("/ask", json={"question": "x", "k": 0}),
        client.post("/ask", json={"question": "x", "surprise": 1}),
        client.post("/ask", content=b"{not json", headers={"content-type": "application/json"}),
        client.post("/ask", json={"question": "x" * 2001}),
    ):
        assert r.status_code == 422, r.text
        assert set(r.json()) == {"error"} and "Traceback" not in r.text
    assert client.get("/no-such-route").json()["error"]["code"] == 404


def test_unexpected_errors_are_one_line(
    client: httpx.Client, lib: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError("secret internals")

    monkeypatch.setattr(lib, "stats", boom)
    r = client.get("/stats")
    assert r.status_code == 500
    assert r.json()["error"]["message"].startswith("internal error (ZeroDivisionError)")
    assert "secret internals" not in r.text and "Traceback" not in r.text


def test_body_size_limit(client: httpx.Client) -> None:
    big = {"question": "x", "filters": {"paper": ["p" * 1000] * 50}, "pad": "y" * 300_000}
    r = client.post("/ask", json=big)
    assert r.status_code == 413 and r.json()["error"]["type"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no content-length: counted as it arrives
        yield b'{"question": "'
        for _ in range(300):
            yield b"z" * 1024
        yield b'"}'

    r = client.post("/ask", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_ingest_upload_stays_inside_the_library(client: httpx.Client, lib: Library) -> None:
    record = b'{"id": "zebra-1", "title": "Zebra stripes", "abstract": "Stripes deter flies."}\n'
    r = client.post("/ingest", files={"file": ("../../../evil.jsonl", record)})
    assert r.status_code == 200 and r.json()["papers_added"] == 1
    uploads = lib.home / "uploads"
    assert (uploads / "evil.jsonl").read_bytes() == record
    assert not (lib.home.parent / "evil.jsonl").exists()
    assert not any((uploads / ".incoming").iterdir())  # nothing half-written left behind
    assert client.get("/papers/zebra-1").json()["source"] == "evil.jsonl"
    before = client.get("/stats").json()
    bad = client.post("/ingest", files={"file": ("bad.jsonl", record + b"{broken\n")})
    assert bad.status_code == 400 and "bad.jsonl" in bad.json()["error"]["message"]
    assert client.get("/stats").json() == before and not (uploads / "bad.jsonl").exists()
    refused = client.post("/ingest", files={"file": ("run.sh", b"echo hi")})
    assert refused.status_code == 400 and not (uploads / "run.sh").exists()
    lib.remove(["zebra-1"])


def test_ingest_size_limit(tmp_path: Path) -> None:
    small = fake_library(tmp_path / "small", seed=False, max_upload_mb=1)
    with running(create_app(small)) as base:
        blob = b"x" * (2 * 1024 * 1024)
        r = httpx.post(f"{base}/ingest", files={"file": ("big.jsonl", blob)}, timeout=60)
        assert r.status_code == 413
    assert not (small.home / "uploads" / "big.jsonl").exists()


def test_token_is_required_on_every_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_SERVER_TOKEN", "s3cret")
    guarded = fake_library(tmp_path / "guarded", seed=False)
    with running(create_app(guarded)) as base:
        for method, path in (("GET", "/health"), ("GET", "/"), ("POST", "/ask"), ("GET", "/docs"),
                             ("GET", "/v1/models"), ("GET", "/static/app.js")):  # fmt: skip
            r = httpx.request(method, base + path, json={"question": "x"})
            assert r.status_code == 401, path
            assert r.json()["error"]["type"] == "unauthorized"
        wrong = httpx.get(f"{base}/health", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = httpx.get(f"{base}/health", headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        login = httpx.get(f"{base}/?token=s3cret")  # the web page's way in: a cookie
        assert login.status_code == 303 and "rag_token" in login.headers["set-cookie"]
        assert "httponly" in login.headers["set-cookie"].lower()
        page = httpx.get(f"{base}/", cookies={"rag_token": "s3cret"})
        assert page.status_code == 200 and "<title>rag-papers</title>" in page.text


def test_binding_beyond_loopback_needs_a_token() -> None:
    from rag.errors import ConfigError
    from rag.interfaces.http.app import check_bind

    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("0.0.0.0", "t")
    with pytest.raises(ConfigError, match="RAG_SERVER_TOKEN"):
        check_bind("0.0.0.0", None)


def test_cors_is_off_unless_configured(client: httpx.Client) -> None:
    r = client.options(
        "/ask", headers={"origin": "http://evil.example", "access-control-request-method": "POST"}
    )
    assert "access-control-allow-origin" not in r.headers


def test_every_answer_is_logged(client: httpx.Client, lib: Library) -> None:
    log = QuestionLog.of(lib.settings)
    assert log is not None
    before = len(log.recent(10_000))
    client.post("/ask", json={"question": ANSWERABLE})
    client.post("/summarize", json={"topic": "attention"})
    latest = log.recent(2)
    assert len(log.recent(10_000)) == before + 2
    assert [(e.via, e.kind) for e in latest] == [("http", "ask"), ("http", "summarize")]
    assert latest[0].citations[0]["paper_id"] == "101" and latest[0].timings_ms["total"] > 0


# --- the OpenAI-compatible endpoint, through the official client ------------------------------


def test_openai_client_models_and_completion(url: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == ["rag-papers"]
    reply = client.chat.completions.create(
        model="rag-papers", messages=[{"role": "user", "content": ANSWERABLE}]
    )
    content = reply.choices[0].message.content or ""
    assert "12% to 3%" in content and "[1]" in content
    assert "\n\nSources:\n[1] Retrieval-Augmented Generation for Clinical Notes" in content
    extra = reply.model_extra or {}
    assert extra["rag"]["sources"][0]["paper_id"] == "101"
    follow = client.chat.completions.create(
        model="rag-papers",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": ANSWERABLE},
            {"role": "assistant", "content": content},
            {"role": "user", "content": "What did they compare?"},
        ],
    )
    question = (follow.model_extra or {})["rag"]["answer"]["question"]
    assert "Clinical Notes" in question  # the earlier turns are the history


def test_openai_client_streaming(url: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model="rag-papers", messages=[{"role": "user", "content": ANSWERABLE}], stream=True
    )
    pieces, finish = [], None
    for chunk in stream:
        pieces.append(chunk.choices[0].delta.content or "")
        finish = chunk.choices[0].finish_reason or finish
    text = "".join(pieces)
    assert finish == "stop" and "12% to 3%" in text and "Sources:" in text
    assert len([p for p in pieces if p]) >= 2  # sentences, then the sources


def test_openai_errors_reach_the_client(url: str) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="last user message"):
        client.chat.completions.create(
            model="rag-papers", messages=[{"role": "system", "content": "hi"}]
        )


# --- only checked text is streamed ------------------------------------------------------------


@pytest.fixture
def llm_server() -> Iterator[OpenAITestServer]:
    with openai_test_server() as s:
        yield s


def test_the_unchecked_draft_never_streams(tmp_path: Path, llm_server: OpenAITestServer) -> None:
    lib = Library(
        home=tmp_path / "llm", embedder=FakeEmbedder(), seed=False, llm="openai:test-model",
        openai_base_url=llm_server.base_url, llm_max_retries=0, top_k=3,
    )  # fmt: skip
    lib.ingest(CORPUS, progress=False)
    n = [h.paper_id for h in lib.retrieve(ANSWERABLE, 3)].index("101") + 1
    llm_server.script(f"Hallucinated medications dropped from 12% to 3% [{n}]. Penguins can fly.")
    with running(create_app(lib)) as base:
        r = httpx.post(f"{base}/ask?stream=true", json={"question": ANSWERABLE}, timeout=60)
    events = sse_events(r.text)
    streamed = [d["text"] for e, d in events if e == "sentence"]
    assert streamed == ["Hallucinated medications dropped from 12% to 3%."]
    assert all("Penguins" not in str(d) for e, d in events if e != "done")
    dropped = events[-1][1]["answer"]["dropped"]  # reported, labelled, in the JSON contract
    assert dropped[0]["text"] == "Penguins can fly." and dropped[0]["reason"] == "no citation"
