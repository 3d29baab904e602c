"""Sentence-aligned, token-budgeted chunks, each carrying its paper's title.

Token counts use tiktoken's ``cl100k_base``. Its BPE file ships inside llama-index-core
(``llama_index/core/_static/tiktoken_cache``); :func:`token_encoder` points tiktoken there so that
nothing is downloaded at run time.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING

from rag.schema import Chunk, Paper

if TYPE_CHECKING:
    import tiktoken

ENCODING = "cl100k_base"


def _bundled_tiktoken_cache() -> Path | None:
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "_static" / "tiktoken_cache"
    return folder if folder.is_dir() else None


@functools.lru_cache(maxsize=4)
def token_encoder(name: str = ENCODING) -> tiktoken.Encoding:
    """A tiktoken encoding loaded from the files bundled with llama-index-core (no network)."""
    if not os.environ.get("TIKTOKEN_CACHE_DIR"):
        folder = _bundled_tiktoken_cache()
        if folder is not None:
            os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
    import tiktoken

    return tiktoken.get_encoding(name)


def count_tokens(text: str) -> int:
    return len(token_encoder().encode(text, disallowed_special=()))


def embed_text(title: str, passage: str) -> str:
    """What is embedded for a chunk: the passage with its paper's title for context."""
    return f"{title}. {passage}" if title else passage


def chunk_paper(paper: Paper, max_tokens: int = 256) -> list[Chunk]:
    """Pack whole sentences into chunks of at most ``max_tokens`` (title included).

    A sentence longer than the budget on its own becomes a chunk of its own: sentences are never
    cut, so every chunk can be cited sentence by sentence.
    """
    title_tokens = count_tokens(paper.title) + 1
    budget = max(max_tokens - title_tokens, 16)
    counts = [count_tokens(s) + 1 for s in paper.abstract]
    spans: list[tuple[int, int]] = []
    start, used = 0, 0
    for i, n in enumerate(counts):
        if i > start and used + n > budget:
            spans.append((start, i))
            start, used = i, 0
        used += n
    spans.append((start, len(counts)))
    # Avoid a tiny trailing chunk: merge it back if the pair still fits 1.25x the budget.
    if len(spans) > 1:
        (a, b), (c, d) = spans[-2], spans[-1]
        if sum(counts[c:d]) < budget // 4 and sum(counts[a:d]) <= budget * 1.25:
            spans[-2:] = [(a, d)]
    chunks = []
    for index, (a, b) in enumerate(spans):
        passage = " ".join(paper.abstract[a:b])
        chunks.append(
            Chunk(
                chunk_id=f"{paper.paper_id}#{index}",
                paper_id=paper.paper_id,
                title=paper.title,
                text=passage,
                sentence_start=a,
                sentence_end=b,
                n_tokens=title_tokens + sum(counts[a:b]),
                chunk_index=index,
            )
        )
    return chunks
