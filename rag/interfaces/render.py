"""How answers, hits and summaries look on a terminal, and their JSON form (the contract)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rag.schema import Answer, Citation, Hit


def hit_json(rank: int, hit: Hit) -> dict[str, Any]:
    from rag.schema import bib_fields

    return {
        "rank": rank,
        "paper_id": hit.paper_id,
        "title": hit.title,
        "chunk_id": hit.chunk_id,
        "score": round(hit.score, 4),
        "text": hit.text,
        **bib_fields(hit.metadata),
        "page": hit.metadata.get("page"),
    }


def cite_line(
    authors: list[str], year: int | None, venue: str | None, doi: str | None, url: str | None
) -> str:
    """ "Vaswani et al. 2017, NeurIPS, doi:10.x/y" (the parts a paper has)."""
    from rag.ingest.fields import short_authors

    parts = [" ".join(p for p in (short_authors(authors), str(year) if year else "") if p)]
    parts += [venue or "", f"doi:{doi}" if doi else (url or "")]
    return ", ".join(p for p in parts if p)


def answer_json(answer: Answer) -> dict[str, Any]:
    return answer.model_dump()


def print_verification(answer: Answer) -> None:
    """Say what the citation check removed or marked (always on stderr-free stdout text)."""
    if answer.dropped:
        click.echo(
            f"\nCitation check: {len(answer.dropped)} sentence(s) "
            + ("removed" if all(s.supported is not False for s in answer.sentences) else "flagged")
            + ":"
        )
        for d in answer.dropped:
            click.echo(click.wrap_text(f"- {d.text} ({d.reason})", 100, subsequent_indent="  "))
    if answer.support is not None and (not answer.refused or answer.partial):
        n = len(answer.sentences) + len(answer.dropped)
        ok = sum(1 for s in answer.sentences if s.supported)
        line = f"(citations checked: {ok} of {n} sentences supported by their sources"
        if answer.addresses is not None:
            line += "; every sentence shown addresses the question"
        click.echo(line + ")")


def source_label(c: Citation) -> str:
    """ "[1] Title (Vaswani et al. 2017, NeurIPS, doi:...)" for one-line source lists."""
    line = cite_line(c.authors, c.year, c.venue, c.doi, c.url)
    return f"[{c.n}] {c.title}" + (f" ({line})" if line else "")


def print_sources(answer: Answer) -> None:
    click.echo("\nSources:")
    for c in answer.citations:
        page = f", p. {c.page}" if c.page else ""
        click.echo(f"[{c.n}] {c.title}  [{c.paper_id}{page}]")
        line = cite_line(c.authors, c.year, c.venue, c.doi, c.url)
        if line:
            click.echo(f"    {line}")
        click.echo(click.wrap_text(c.text, 100, initial_indent="    ", subsequent_indent="    "))


def print_answer(answer: Answer, *, streamed: bool = False, sources: bool = True) -> None:
    if streamed:
        click.echo("Checked answer:")
    if answer.partial:  # on topic, but the asked detail is not reported: say so, then show it
        for paragraph in answer.answer.split("\n"):
            click.echo(click.wrap_text(paragraph, 100))
        print_verification(answer)
        if sources:
            print_sources(answer)
        return
    if answer.refused:
        click.echo(answer.answer)
        print_verification(answer)
        if answer.nearest:
            click.echo("\nNearest papers in the library:")
            for near in answer.nearest:
                click.echo(f"  - {near.title}  [{near.paper_id}]  score {near.score:.3f}")
        return
    for paragraph in answer.answer.split("\n"):
        click.echo(click.wrap_text(paragraph, 100))
    print_verification(answer)
    if sources:
        print_sources(answer)


def print_summary(answer: Answer) -> None:
    """A summary grouped by paper: each paper's title, then its cited sentences."""
    if answer.papers_considered is not None:
        click.echo(
            f"({answer.papers_considered} papers considered, {answer.papers_used or 0} used; "
            "off-topic ones left out)"
        )
    if answer.refused:
        print_answer(answer)
        return
    by_n = {c.n: c for c in answer.citations}
    grouped: dict[int, list[str]] = {}
    for s in answer.sentences:
        grouped.setdefault(s.citations[0], []).append(
            f"{s.text} {''.join(f'[{n}]' for n in s.citations)}"
        )
    for n, texts in grouped.items():
        c = by_n[n]
        line = cite_line(c.authors, c.year, c.venue, c.doi, c.url)
        click.echo(f"[{n}] {c.title}" + (f"  ({line})" if line else ""))
        for text in texts:
            click.echo(click.wrap_text(text, 100, initial_indent="    ", subsequent_indent="    "))
    print_agreement(answer)
    print_verification(answer)


def print_agreement(answer: Answer) -> None:
    """The summary's "Agreement" section: only what the check could tell (see
    :mod:`rag.answering.agreement`)."""
    if answer.agreement is None or (answer.papers_used or 0) < 2:
        return
    if not answer.agreement:
        why = (
            f"{answer.agreement_checked} pair(s) of sentences about the same thing, but the check "
            "cannot tell whether they agree"
            if answer.agreement_checked
            else "no two papers give a number for the same metric on the same dataset"
        )
        click.echo(f"\nAgreement: not stated ({why}).")
        return
    click.echo("\nAgreement (only where the check can tell):")
    for a in answer.agreement:
        click.echo(click.wrap_text(f"- {a.text}", 100, subsequent_indent="  "))
