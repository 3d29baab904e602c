"""Sentence-aligned chunks that fit the embedder's window, each carrying its paper's title:
the abstract first, then the full text section by section and page by page (a chunk never
straddles a heading or a page, so it has one page to cite). A title-only paper is one chunk.

A chunk is budgeted in the embedder's own tokens (all-MiniLM-L6-v2: 256 word pieces, ``[CLS]``,
``[SEP]`` and the title included), so nothing is cut off when it is embedded. Embedders without a
tokenizer of their own are budgeted with tiktoken (:func:`rag.text.count_tokens`; right for
OpenAI's embedding models). A sentence longer than the window on its own is split at word
boundaries; every other chunk is whole sentences, so every chunk can be cited sentence by sentence.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from rag.schema import Chunk, Paper


def embed_text(title: str, passage: str) -> str:
    """What is embedded for a chunk: the passage with its paper's title for context."""
    return f"{title}. {passage}" if title else passage


def _split_long(sentence: str, fits: Callable[[str], bool]) -> list[str]:
    """Word-boundary pieces of ``sentence``, each passing ``fits`` (greedy)."""
    pieces: list[str] = []
    current: list[str] = []
    for word in sentence.split():
        if current and not fits(" ".join([*current, word])):
            pieces.append(" ".join(current))
            current = []
        current.append(word)
    if current:
        pieces.append(" ".join(current))
    return pieces


def chunk_paper(
    paper: Paper, max_tokens: int = 256, count: Callable[[str], int] | None = None
) -> list[Chunk]:
    """Pack whole sentences into chunks whose embedded text (title included) is at most
    ``max_tokens`` as counted by ``count`` (default: tiktoken cl100k)."""
    if count is None:
        from rag.text import count_tokens as count
    assert count is not None
    title = paper.title

    def fits(passage: str) -> bool:
        return count(embed_text(title, passage)) <= max_tokens

    blocks: list[tuple[str, int | None, list[str]]] = [("", None, paper.abstract)]
    blocks += [(sec.heading, sec.page, sec.sentences) for sec in paper.sections]
    if not paper.abstract and not paper.sections:  # a title-only paper: its title is its text
        blocks = [("", None, [title])]
    chunks: list[Chunk] = []
    first = 0  # sentence indices run on across the blocks
    for heading, page, sentences in blocks:
        units: list[str] = []
        for sentence in sentences:
            units.extend([sentence] if fits(sentence) else _split_long(sentence, fits))
        for a, b in _spans(units, fits):
            passage = " ".join(units[a:b])
            index = len(chunks)
            chunks.append(
                Chunk(
                    chunk_id=f"{paper.paper_id}#{index}",
                    paper_id=paper.paper_id,
                    title=title,
                    text=passage,
                    sentence_start=first + a,
                    sentence_end=first + b,
                    n_tokens=count(embed_text(title, passage)),
                    chunk_index=index,
                    sent_offsets=offsets_of(units[a:b]),
                    page=page,
                    section=heading,
                )
            )
        first += len(units)
    return chunks


def _spans(units: list[str], fits: Callable[[str], bool]) -> list[tuple[int, int]]:
    """Greedy runs of whole units whose joined text fits."""
    spans: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(units) + 1):
        if i < len(units) and fits(" ".join(units[start : i + 1])):
            continue
        spans.append((start, i))
        start = i
    return spans


def offsets_of(sentences: list[str]) -> str:
    """Character offsets of each sentence start in ``" ".join(sentences)``, as "0 57 130"."""
    offsets, pos = [], 0
    for sentence in sentences:
        offsets.append(pos)
        pos += len(sentence) + 1
    return " ".join(map(str, offsets))


def split_by_offsets(text: str, offsets: str | None) -> list[str]:
    """The sentences of a stored chunk (inverse of :func:`offsets_of`)."""
    if not offsets:
        return [text]
    starts = [int(x) for x in offsets.split()]
    bounds = [*starts, len(text) + 1]
    return [text[a : b - 1].strip() for a, b in itertools.pairwise(bounds) if a < b]
