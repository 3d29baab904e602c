"""``rag add arxiv:ID doi:10... pmid:N``: papers by identifier, looked up online (opt-in:
``RAG_OFFLINE=false``) and ingested like a file (a thin layer over :meth:`Library.add`)."""

from __future__ import annotations

from pathlib import Path

import click

from rag.interfaces.cli_common import dump, library_options, open_library
from rag.interfaces.exit import exit_on_error


@click.command()
@click.argument("identifiers", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@library_options
@exit_on_error
def add(
    identifiers: tuple[str, ...], as_json: bool, home: Path | None, chroma_url: str | None
) -> None:
    """Add papers by identifier: arxiv:2401.00001, doi:10.1145/..., pmid:12345 (metadata and
    abstract from arXiv, OpenAlex/Crossref and PubMed). Online lookups are off unless
    RAG_OFFLINE=false; replies are cached, so an identifier is fetched once."""
    lib = open_library(home, chroma_url)
    report = lib.add(identifiers)
    if as_json:
        click.echo(dump(report.model_dump()))
        return
    click.echo(
        f"{len(identifiers)} identifier(s): {report.fetched} request(s) made, "
        f"{report.from_cache} from the cache; {report.papers_added} papers added, "
        f"{report.papers_updated} updated, {report.papers_unchanged} unchanged, "
        f"{report.merged_into_library} merged into papers already in the library; "
        f"{report.title_only} title-only; {report.chunks_written} chunks written."
    )
