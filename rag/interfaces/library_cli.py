"""Managing the library from the command line: ``rag papers``, ``rag show``, ``rag remove`` and
``rag export``, and the ``--bib``/``--markdown`` outputs of ``ask`` and ``summarize``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rag.errors import InputError
from rag.interfaces.cli_common import dump, filter_options, library_options, make_filters
from rag.interfaces.cli_common import open_library as open_lib
from rag.interfaces.exit import exit_on_error

if TYPE_CHECKING:
    from rag.library import Library
    from rag.schema import Answer

#: ``rag export --format`` (the same names as :data:`rag.interfaces.export.FORMATS`, spelled out
#: here so that the CLI starts without importing the readers).
EXPORT_FORMATS = ("bibtex", "ris", "csljson", "markdown")


def write_outputs(
    lib: Library, answer: Answer, *, bib: Path | None, markdown: bool, heading: str
) -> None:
    """``--bib FILE``: the papers the answer cites, as BibTeX; ``--markdown``: the answer as a
    report with its references (printed)."""
    from rag.interfaces.export import bibtex, markdown_answer

    if not (bib or markdown):
        return
    from rag.index.catalog import stored_papers

    ids = list(dict.fromkeys(c.paper_id for c in answer.citations))
    papers = stored_papers(lib.store, ids)
    if bib is not None:
        bib.write_text(bibtex(papers), encoding="utf-8")
        click.echo(f"Wrote {len(papers)} reference(s) to {bib}", err=True)
    if markdown:
        click.echo(markdown_answer(answer, papers, heading), nl=False)


def paper_json(meta: dict[str, Any]) -> dict[str, Any]:
    from rag.schema import bib_fields

    return {
        "paper_id": meta.get("paper_id"),
        "title": meta.get("title"),
        **bib_fields(meta),
        "source": meta.get("source"),
        "title_only": bool(meta.get("title_only")),
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@filter_options
@library_options
@exit_on_error
def papers(
    as_json: bool,
    year: str | None,
    sources: tuple[str, ...],
    paper_ids: tuple[str, ...],
    authors: tuple[str, ...],
    venues: tuple[str, ...],
    home: Path | None,
    chroma_url: str | None,
) -> None:
    """List the papers in the library (optionally filtered)."""
    from rag.ingest.fields import short_authors
    from rag.schema import bib_fields

    lib = open_lib(home, chroma_url)
    rows = lib.papers(make_filters(lib, year, sources, paper_ids, authors, venues))
    if as_json:
        click.echo(dump([paper_json(m) for m in rows]))
        return
    for m in rows:
        info = bib_fields(m)
        who = short_authors(info["authors"]) or "-"
        click.echo(f"{m.get('paper_id')}\t{info['year'] or '-'}\t{who}\t{m.get('title')}")
    click.echo(f"{len(rows)} paper(s)", err=True)


@click.command()
@click.argument("paper_id")
@click.option("--json", "as_json", is_flag=True, help="Print the paper as JSON.")
@library_options
@exit_on_error
def show(paper_id: str, as_json: bool, home: Path | None, chroma_url: str | None) -> None:
    """Print one paper's metadata and its text, chunk by chunk (section and page)."""
    lib = open_lib(home, chroma_url)
    p = lib.paper(paper_id)
    if as_json:
        click.echo(dump(p.model_dump(exclude={"location", "merged_from"})))
        return
    click.echo(p.title)
    for label, value in (
        ("id", p.paper_id), ("authors", "; ".join(p.authors)), ("year", p.year),
        ("venue", p.venue), ("doi", p.doi), ("url", p.url), ("arXiv", p.arxiv_id),
        ("PMID", p.pmid), ("source", p.source),
    ):  # fmt: skip
        if value:
            click.echo(f"  {label}: {value}")
    for key, value in sorted(p.extra.items()):
        click.echo(f"  {key}: {value}")
    if p.abstract:
        click.echo("\nAbstract")
        click.echo(click.wrap_text(" ".join(p.abstract), 100, "    ", "    "))
    for sec in p.sections:
        click.echo(f"\n{sec.heading or '(text)'}" + (f"  [p. {sec.page}]" if sec.page else ""))
        click.echo(click.wrap_text(" ".join(sec.sentences), 100, "    ", "    "))
    if p.title_only:
        click.echo("\n(title only: the record had no abstract)")


@click.command()
@click.argument("paper_ids", nargs=-1)
@click.option("--source", "source", metavar="FILE", help="Every paper from this input file.")
@library_options
@exit_on_error
def remove(
    paper_ids: tuple[str, ...], source: str | None, home: Path | None, chroma_url: str | None
) -> None:
    """Remove papers by id, or every paper from one input file (--source)."""
    if not paper_ids and not source:
        raise InputError("give paper ids or --source FILE")
    lib = open_lib(home, chroma_url)
    lib.filters(paper=list(paper_ids) or None, source=source)  # unknown ids/sources: an error
    before = lib.stats().papers
    chunks = lib.remove(list(paper_ids), source=source)
    click.echo(f"Removed {before - lib.stats().papers} paper(s), {chunks} chunk(s).")


@click.command()
@click.option(
    "--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="bibtex", show_default=True
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@filter_options
@library_options
@exit_on_error
def export(
    fmt: str,
    output: Path | None,
    year: str | None,
    sources: tuple[str, ...],
    paper_ids: tuple[str, ...],
    authors: tuple[str, ...],
    venues: tuple[str, ...],
    home: Path | None,
    chroma_url: str | None,
) -> None:
    """Write the papers (optionally filtered) as BibTeX, RIS, CSL-JSON or a Markdown list."""
    from rag.index.catalog import stored_papers
    from rag.interfaces.export import render

    lib = open_lib(home, chroma_url)
    rows = lib.papers(make_filters(lib, year, sources, paper_ids, authors, venues))
    text = render(fmt, stored_papers(lib.store, [str(m["paper_id"]) for m in rows]))
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {len(rows)} paper(s) to {output}", err=True)


COMMANDS = (papers, show, remove, export)
