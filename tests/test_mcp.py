"""`rag mcp` through the official MCP SDK's own client, over stdio (a fake-embedder library of
the tiny corpus in a subprocess)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from rag.interfaces.question_log import QuestionLog
from rag.settings import Settings
from tests.conftest import REPO


async def session_calls(home: Path) -> dict[str, Any]:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "tests.fake_serve", "mcp", str(home)], env=env,
        cwd=str(REPO),
    )  # fmt: skip
    out: dict[str, Any] = {}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        out["tools"] = sorted(t.name for t in (await session.list_tools()).tools)

        async def call(name: str, **args: Any) -> Any:
            result = await session.call_tool(name, args)
            if result.isError:
                return {"error": result.content[0].text}  # type: ignore[union-attr]
            return result.structuredContent

        out["search"] = await call("search", query="linear attention softmax", k=2)
        out["ask"] = await call("ask", question="How much did hallucinated medications drop?")
        out["refusal"] = await call("ask", question="xylophone quasar zeppelin?")
        out["summarize"] = await call("summarize", topic="attention")
        out["paper"] = await call("get_paper", paper_id="101")
        out["missing"] = await call("get_paper", paper_id="nope")
        out["list"] = await call("list_papers", query="coral")
    return out


def test_mcp_tools_over_stdio_with_the_sdk_client(tmp_path: Path) -> None:
    home = tmp_path / "mcp-home"
    out = anyio.run(session_calls, home)
    assert out["tools"] == ["ask", "get_paper", "list_papers", "search", "summarize"]
    hits = out["search"]["result"]
    assert [h["rank"] for h in hits] == [1, 2] and hits[0]["paper_id"] == "p-2"
    ask = out["ask"]
    assert not ask["refused"] and "12% to 3%" in ask["answer"] and "[1]" in ask["answer"]
    source = ask["sources"][0]
    assert source["paper_id"] == "101" and source["authors"] == ["A. Author", "B. Author"]
    assert source["year"] == 2024 and source["n"] == 1
    assert out["refusal"]["refused"] and out["refusal"]["sources"] == []
    assert out["summarize"]["sources"] and not out["summarize"]["refused"]
    assert out["paper"]["title"] == "Retrieval-Augmented Generation for Clinical Notes"
    assert "no paper with id 'nope'" in out["missing"]["error"]
    assert [p["paper_id"] for p in out["list"]["papers"]] == ["p-3"]
    log = QuestionLog.of(Settings(home=home))
    assert log is not None
    assert [(e.via, e.kind) for e in log.recent(10)] == [
        ("mcp", "ask"), ("mcp", "ask"), ("mcp", "summarize"),
    ]  # fmt: skip
    assert json.dumps(out)  # everything is plain JSON


@pytest.mark.parametrize("value", ["false", "0"])
def test_rag_log_false_turns_the_log_off(tmp_path: Path, value: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from rag.interfaces.question_log import log_answer
    from tests.fakes import fake_library

    monkeypatch.setenv("RAG_LOG", value)
    lib = fake_library(tmp_path / "h", seed=False)
    lib.ingest([REPO / "tests" / "data" / "tiny.jsonl"], progress=False)
    log_answer(lib.settings, lib.ask("How much did hallucinated medications drop?"), via="cli",
               kind="ask")  # fmt: skip
    assert not (lib.home / "questions.sqlite3").exists()
