"""What Chroma stores beside each chunk: the paper's fields, flattened to Chroma's value types.

``title_key`` (the normalised title, on a paper's first chunk only) is what a later ingest
matches titles on (:mod:`rag.index.reconcile`) without reading every stored paper.
"""

from __future__ import annotations

import json
from typing import Any

from rag.ingest.records import normalise_title
from rag.schema import Chunk, Paper


def chunk_metadata(chunk: Chunk, paper: Paper, digest: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "paper_id": paper.paper_id,
        "title": paper.title,
        "chunk_index": chunk.chunk_index,
        "sentence_start": chunk.sentence_start,
        "sentence_end": chunk.sentence_end,
        "n_tokens": chunk.n_tokens,
        "content_hash": digest,
        "source": paper.source,
        "sent_offsets": chunk.sent_offsets,
    }
    for key in ("date", "year", "url", "doi", "venue", "arxiv_id", "pmid"):
        value = getattr(paper, key)
        if value is not None:
            meta[key] = value
    if paper.authors:
        meta["authors"] = "; ".join(paper.authors)
    if chunk.page is not None:
        meta["page"] = chunk.page
    if chunk.section:
        meta["section"] = chunk.section
    if paper.title_only:
        meta["title_only"] = True
    if chunk.chunk_index == 0:  # what an ingest matches titles on (rag.index.reconcile)
        meta["title_key"] = normalise_title(paper.title)
    if paper.extra:
        meta["extra"] = json.dumps(paper.extra, ensure_ascii=False, sort_keys=True)
    return meta
