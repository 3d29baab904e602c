"""``rag serve``, ``rag mcp`` and ``rag logs``: thin commands; the servers are imported when run
(the CLI's start-up stays light)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from rag.interfaces.cli_common import dump, library_options, open_for_reading
from rag.interfaces.exit import exit_on_error


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback needs RAG_SERVER_TOKEN.")  # fmt: skip
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--llm", default=None, help="Backend: extractive or openai:MODEL (RAG_LLM).")
@library_options
@exit_on_error
def serve(host: str, port: int, llm: str | None, home: Path | None, chroma_url: str | None) -> None:
    """Serve the library over HTTP: JSON API (docs at /docs), an OpenAI-compatible endpoint
    (/v1/chat/completions) and a chat page at /. Stops cleanly on SIGTERM or Ctrl-C."""
    from rag.interfaces.http import serve as run

    lib = open_for_reading(home, chroma_url, llm=llm)
    click.echo(f"Serving {lib.store.location} on http://{host}:{port}/ (docs: /docs)", err=True)
    run(lib, host, port)


@click.command()
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio",
              show_default=True, help="stdio (for Claude Desktop) or streamable HTTP.")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True, help="With --transport http.")
@click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True)
@click.option("--llm", default=None, help="Backend: extractive or openai:MODEL (RAG_LLM).")
@library_options
@exit_on_error
def mcp(
    transport: str,
    host: str,
    port: int,
    llm: str | None,
    home: Path | None,
    chroma_url: str | None,
) -> None:
    """Serve the library to AI assistants over the Model Context Protocol (tools: search, ask,
    summarize, get_paper, list_papers)."""
    from rag.interfaces.http.app import check_bind, server_token
    from rag.interfaces.mcp_server import run_mcp

    lib = open_for_reading(home, chroma_url, llm=llm)  # messages go to stderr, not stdio
    if transport == "http":
        check_bind(host, server_token(lib))
    run_mcp(lib, transport, host=host, port=port)


@click.command()
@click.option("-n", "count", type=click.IntRange(1, 100000), default=10, show_default=True,
              help="How many of the latest turns.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Library data directory (default: $RAG_HOME or a per-user folder).")  # fmt: skip
@exit_on_error
def logs(count: int, as_json: bool, home: Path | None) -> None:
    """The question log: the latest questions, their answers and citations (oldest first)."""
    from rag.interfaces.question_log import QuestionLog
    from rag.settings import Settings

    settings = Settings(home=home) if home is not None else Settings()
    log = QuestionLog.of(settings) or QuestionLog(settings.resolved_home() / "questions.sqlite3")
    entries = log.recent(count)
    if as_json:
        for e in entries:
            click.echo(dump(e.model_dump()))
        return
    if not entries:
        click.echo(f"(no questions logged in {log.path})")
    for e in entries:
        when = dt.datetime.fromtimestamp(e.ts).strftime("%Y-%m-%d %H:%M:%S")
        chat = f" conversation {e.conversation}" if e.conversation else ""
        took = e.timings_ms.get("total")
        click.echo(f"#{e.id} {when} {e.kind} via {e.via}{chat}, {e.backend}, {took} ms")
        click.echo(f"  Q: {e.question}")
        click.echo(click.wrap_text(f"A: {e.answer}", 100, "  ", "     "))
        for c in e.citations:
            click.echo(f"     [{c.get('n')}] {c.get('title')}  [{c.get('paper_id')}]")
