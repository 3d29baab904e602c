"""Helpers shared by the ``rag`` commands: library and filter options, opening a library,
streaming a draft to the terminal, JSON output."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from rag.errors import InputError, RagError
from rag.text import CONTROL_RE, strip_controls

if TYPE_CHECKING:
    from rag.index.filters import Filters
    from rag.library import Library
    from rag.pipeline import StreamEvent
    from rag.schema import Answer

F = TypeVar("F", bound=Callable[..., Any])


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


def filter_options(func: F) -> F:
    """--year / --source / --paper / --author / --venue: restrict retrieval to some papers."""
    func = click.option(
        "--venue",
        "venues",
        multiple=True,
        metavar="WORDS",
        help="Only papers whose venue has these words, e.g. 'neural information' (repeatable).",
    )(func)
    func = click.option(
        "--author",
        "authors",
        multiple=True,
        metavar="NAME",
        help="Only papers with an author of this name, e.g. Vaswani (repeatable).",
    )(func)
    func = click.option(
        "--paper",
        "paper_ids",
        multiple=True,
        metavar="ID",
        help="Only this paper (repeatable).",
    )(func)
    func = click.option(
        "--source",
        "sources",
        multiple=True,
        metavar="NAME",
        help="Only papers from this input file name, e.g. papers.jsonl (repeatable).",
    )(func)
    func = click.option(
        "--year",
        default=None,
        metavar="RANGE",
        help="Only papers from these years: 2023, 2023..2024, 2023.. or ..2024.",
    )(func)
    return func


def make_filters(
    lib: Library,
    year: str | None,
    sources: tuple[str, ...],
    paper_ids: tuple[str, ...],
    authors: tuple[str, ...] = (),
    venues: tuple[str, ...] = (),
) -> Filters | None:
    return lib.filters(
        year=year,
        source=list(sources) or None,
        paper=list(paper_ids) or None,
        author=list(authors) or None,
        venue=list(venues) or None,
    )


def open_library(home: Path | None, chroma_url: str | None, **overrides: Any) -> Library:
    from rag.library import Library

    return Library(home=home, chroma_url=chroma_url, **overrides)


def read_stdin_lines() -> Iterator[str | InputError]:
    """Each non-empty stdin line, stripped; a line that is not UTF-8 is an :class:`InputError`
    (``stdin:N``) in its place, so that a batch can report it and go on."""
    binary = getattr(sys.stdin, "buffer", None)
    for n, raw in enumerate(binary if binary is not None else sys.stdin, start=1):
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield InputError(f"not UTF-8 text (byte 0x{raw[e.start]:02x})", where=f"stdin:{n}")
                continue
        if raw.strip():
            yield raw.strip()


def stdin_batch(handle: Callable[[str], Any]) -> None:
    """One JSON line per stdin line: ``handle(line)``, or ``{"question", "error"}`` for a line
    that fails (not UTF-8, too long, a backend error...), and the batch goes on. Exits 1 at the
    end when any line failed."""
    failed = total = 0
    for line in read_stdin_lines():
        total += 1
        try:
            if isinstance(line, InputError):
                raise line
            obj = handle(line)
        except RagError as e:
            failed += 1
            obj = {"question": line if isinstance(line, str) else None, "error": str(e)}
        click.echo(dump(obj))
    if failed:
        raise RagError(f"{failed} of {total} line(s) failed (their JSON lines hold an 'error')")


def dump(obj: Any) -> str:
    """JSON text, faithful and escaped: control characters and bidirectional overrides (which
    json leaves raw outside ASCII) are written as ``\\uXXXX``."""
    return CONTROL_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(obj, ensure_ascii=False))


def streaming(lib: Library, as_json: bool, no_stream: bool) -> bool:
    """Stream LLM text to a terminal (never in JSON mode or into a pipe)."""
    return not (as_json or no_stream or lib.settings.llm == "extractive" or not sys.stdout.isatty())


def consume(events: Iterator[StreamEvent]) -> Answer:
    """Show a stream's draft as it comes, marked as an unchecked draft and on stderr (standard
    output only ever carries checked text); return the checked answer."""
    click.secho("Draft (unchecked; the checked answer follows):", err=True, dim=True)
    for event in events:
        if event.kind == "draft":
            click.secho(strip_controls(event.text), nl=False, err=True, dim=True)
        elif event.answer is not None:
            click.echo("", err=True)
            return event.answer
    raise RagError("the answer stream ended without an answer")


def open_for_reading(
    home: Path | None, chroma_url: str | None, *, warm: bool = False, **overrides: Any
) -> Library:
    """The library, filled from the bundled papers first if it is empty (and seeding is on);
    ``warm``: the embedding model loads meanwhile (:func:`warm_embedder`)."""
    lib = open_library(home, chroma_url, **overrides)
    if warm:
        warm_embedder(lib)
    lib.seed()
    return lib


def warm_embedder(lib: Library) -> threading.Thread:
    """Load the embedding model (the ONNX session) in a thread while the store and the lexical
    index open: onnxruntime builds its session without the GIL, so a cold ``rag ask`` no longer
    waits for it (measured: the ~0.4 s it took disappear behind importing chromadb). An error
    is left for the question's embedding to raise and report. Not a daemon: a process that
    needs no model (a cached question over the store's mirror) waits for the load before it
    exits, as onnxruntime aborts the interpreter if it is still building the session then."""

    def load() -> None:
        try:
            prepare = getattr(lib.embedder, "prepare", None)
            if callable(prepare):
                prepare()
        except Exception:  # reported by the embedding that needs the model
            pass

    thread = threading.Thread(target=load, name="rag-warm-embedder", daemon=False)
    thread.start()
    return thread
