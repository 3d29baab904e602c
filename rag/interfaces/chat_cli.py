"""``rag chat``: a conversation in the terminal, with line editing and history (prompt_toolkit:
arrows, Ctrl-R, history kept in ``HOME/chat_history``), every turn in the question log, and
``--resume`` to continue an earlier conversation from the log."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from rag.errors import InputError, RagError
from rag.interfaces.exit import exit_on_error, raw_stdout
from rag.text import strip_controls

CHAT_HELP = "Commands: /sources  /reset  /exit  (/help shows this)"


def line_reader(history_file: Path, interactive: bool) -> Callable[[], str]:
    """A function reading one line: prompt_toolkit on a terminal, plain stdin otherwise."""
    if not interactive:
        return lambda: input("")
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.output import create_output

    history_file.parent.mkdir(parents=True, exist_ok=True)
    session: PromptSession[str] = PromptSession(
        history=FileHistory(str(history_file)),
        output=create_output(stdout=raw_stdout()),  # its own escape codes must pass
    )
    return lambda: session.prompt("you> ")


@click.command()
@click.option("--llm", default=None, help="Backend: extractive or openai:MODEL (RAG_LLM).")
@click.option(
    "--resume",
    "resume",
    default=None,
    is_flag=False,
    flag_value="last",
    metavar="ID",
    help="Continue a logged conversation (its id from `rag logs`; alone: the last one).",
)
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Library data directory (default: $RAG_HOME or a per-user folder).")  # fmt: skip
@click.option("--chroma-url", default=None, help="Use a Chroma server (http://host:port).")
@exit_on_error
def chat(llm: str | None, resume: str | None, home: Path | None, chroma_url: str | None) -> None:
    """Talk with the papers; follow-up questions keep their context."""
    from rag.interfaces.cli_common import open_for_reading, streaming
    from rag.interfaces.question_log import QuestionLog, log_answer, new_conversation_id
    from rag.interfaces.render import print_answer, print_sources
    from rag.interfaces.service import restore

    lib = open_for_reading(home, chroma_url, llm=llm)
    conversation = new_conversation_id()
    session = lib.chat()
    if resume is not None:
        log = QuestionLog.of(lib.settings)
        if log is None:
            raise InputError("cannot resume: the question log is off (RAG_LOG=false)")
        found = log.last_conversation() if resume == "last" else resume
        session = restore(lib, found) if found else session
        if not found or not session.history:
            raise InputError(f"no logged conversation {resume!r} (see `rag logs`)")
        conversation = found
        click.echo(f"(resuming conversation {found}: {len(session.history)} earlier turn(s))")
    interactive = sys.stdin.isatty()
    read = line_reader(lib.home / "chat_history", interactive)
    if interactive:
        click.echo(f"Chatting with {lib.store.location}. {CHAT_HELP}")
    while True:
        try:
            message = read().strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not message:
            continue
        if not interactive:
            click.echo(f"you> {message}")
        if message in ("/exit", "/quit"):
            break
        if message == "/help":
            click.echo(CHAT_HELP)
            continue
        if message == "/reset":
            session.reset()
            conversation = new_conversation_id()
            click.echo("(history cleared)")
            continue
        if message == "/sources":
            last = session.last
            if last is None or not last.answer.citations:
                click.echo("(no sources yet)")
            else:
                print_sources(last.answer)
            continue
        if message.startswith("/"):
            click.echo(f"Unknown command {message}. {CHAT_HELP}")
            continue
        stream = streaming(lib, False, False)
        try:
            on_delta = (
                (lambda text: click.secho(strip_controls(text), nl=False, err=True, dim=True))
                if stream
                else None
            )
            answer = session.ask(message, on_delta=on_delta)
        except RagError as e:  # one failed turn does not end the conversation
            click.echo(f"Error: {strip_controls(str(e))}", err=True)
            continue
        last = session.last
        standalone = last.standalone if last is not None else message
        log_answer(
            lib.settings, answer, via="cli", kind="chat", question=message,
            conversation=conversation, standalone=standalone,
        )  # fmt: skip
        if standalone != message:
            click.echo(f"(searched for: {standalone})")
        print_answer(answer, streamed=stream, sources=False)
        if answer.citations:
            click.echo("Sources: " + "; ".join(f"[{c.n}] {c.title}" for c in answer.citations))
