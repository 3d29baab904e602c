"""The ``rag`` command: a thin layer over :class:`rag.library.Library`.

Exit codes: 0 success, 1 user error (one line on stderr, no traceback), 2 usage error,
130 interrupted. Set ``RAG_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from rag.errors import RagError

if TYPE_CHECKING:
    from rag.library import Library
    from rag.schema import Answer, Hit

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> None:
    click.echo(f"Error: {' '.join(message.split())}", err=True)
    sys.exit(code)


def handle_errors(func: F) -> F:
    """One line on stderr and a meaningful exit code instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RagError as e:
            fail(str(e))
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:  # an unexpected failure still gets one line, not a traceback
            if os.environ.get("RAG_DEBUG"):
                raise
            fail(f"unexpected {type(e).__name__}: {e} (set RAG_DEBUG=1 for the traceback)")

    return wrapper  # type: ignore[return-value]


def library_options(func: F) -> F:
    func = click.option(
        "--chroma-url", default=None, help="Use a Chroma server (http://host:port)."
    )(func)
    func = click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Library data directory (default: $RAG_HOME or a per-user folder).",
    )(func)
    return func


def open_library(home: Path | None, chroma_url: str | None, **overrides: Any) -> Library:
    from rag.library import Library

    return Library(home=home, chroma_url=chroma_url, **overrides)


def read_stdin_lines() -> Iterator[str]:
    for line in sys.stdin:
        if line.strip():
            yield line.strip()


def dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rag-papers")
def cli() -> None:
    """Ask your papers questions; every answer sentence cites its source."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--skip-errors", is_flag=True, help="Skip bad records (and report how many).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@library_options
@handle_errors
def ingest(
    paths: tuple[Path, ...], skip_errors: bool, as_json: bool, home: Path | None,
    chroma_url: str | None,
) -> None:
    """Add papers: Daily Papers dumps (.txt) or JSON/JSONL (optionally .gz)."""
    lib = open_library(home, chroma_url)
    report = lib.ingest(paths, skip_errors=skip_errors)
    if as_json:
        click.echo(dump(report.model_dump()))
        return
    click.echo(
        f"{report.records} records from {report.files} file(s): {report.papers_added} papers "
        f"added, {report.papers_updated} updated, {report.papers_unchanged} unchanged, "
        f"{report.duplicates} duplicate listings merged; {report.chunks_written} chunks written "
        f"in {report.seconds:.1f}s."
    )
    if report.skipped:
        click.echo(f"Skipped {len(report.skipped)} bad record(s):", err=True)
        for line in report.skipped[:20]:
            click.echo(f"  {line}", err=True)


def hit_json(rank: int, hit: Hit) -> dict[str, Any]:
    return {
        "rank": rank,
        "paper_id": hit.paper_id,
        "title": hit.title,
        "chunk_id": hit.chunk_id,
        "score": round(hit.score, 4),
        "text": hit.text,
    }


@cli.command()
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 200), default=None, help="How many papers.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@library_options
@handle_errors
def search(
    query: str, k: int | None, as_json: bool, home: Path | None, chroma_url: str | None
) -> None:
    """List the papers that best match QUERY ('-' reads one query per line from stdin)."""
    lib = open_library(home, chroma_url)
    if query == "-":
        for line in read_stdin_lines():
            hits = lib.search(line, k)
            click.echo(dump([hit_json(i, h) for i, h in enumerate(hits, 1)]))
        return
    hits = lib.search(query, k)
    if as_json:
        click.echo(dump([hit_json(i, h) for i, h in enumerate(hits, 1)]))
        return
    for i, hit in enumerate(hits, 1):
        click.echo(f"{i:>2}. {hit.title}  [{hit.paper_id}]  score {hit.score:.3f}")
        click.echo(click.wrap_text(hit.text, 100, initial_indent="    ", subsequent_indent="    "))


def answer_json(answer: Answer) -> dict[str, Any]:
    return answer.model_dump()


def print_answer(answer: Answer) -> None:
    click.echo(click.wrap_text(answer.answer, 100))
    if answer.refused:
        if answer.nearest:
            click.echo("\nNearest papers in the library:")
            for near in answer.nearest:
                click.echo(f"  - {near.title}  [{near.paper_id}]  score {near.score:.3f}")
        return
    click.echo("\nSources:")
    for c in answer.citations:
        click.echo(f"[{c.n}] {c.title}  [{c.paper_id}]")
        click.echo(click.wrap_text(c.text, 100, initial_indent="    ", subsequent_indent="    "))


@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one JSON object.")
@click.option("-k", "k", type=click.IntRange(1, 200), default=None, help="Passages to read.")
@library_options
@handle_errors
def ask(
    question: str, as_json: bool, k: int | None, home: Path | None, chroma_url: str | None
) -> None:
    """Answer QUESTION from the papers, citing every sentence ('-' reads stdin)."""
    lib = open_library(home, chroma_url, top_k=k)
    if question == "-":
        for line in read_stdin_lines():
            click.echo(dump(answer_json(lib.ask(line))))
        return
    answer = lib.ask(question)
    if as_json:
        click.echo(dump(answer_json(answer)))
    else:
        print_answer(answer)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@library_options
@handle_errors
def stats(as_json: bool, home: Path | None, chroma_url: str | None) -> None:
    """How many papers and chunks the library holds, and which embedder built it."""
    s = open_library(home, chroma_url).stats()
    if as_json:
        click.echo(dump(s.model_dump()))
    else:
        click.echo(
            f"{s.papers} papers, {s.chunks} chunks, embedder {s.embedder}, at {s.location}"
        )


@cli.command()
@library_options
@handle_errors
def setup(home: Path | None, chroma_url: str | None) -> None:
    """Prepare the offline embedding model and fill an empty library with the bundled papers."""
    lib = open_library(home, chroma_url)
    prepare = getattr(lib.embedder, "prepare", None)
    if callable(prepare):
        prepare()
    lib.ensure_seeded()
    s = lib.stats()
    click.echo(f"Ready: {s.papers} papers, {s.chunks} chunks, embedder {s.embedder}, at {s.location}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
