"""Writing papers into the index: chunk them to fit the embedder, embed the chunks (with a
progress bar), and replace each paper's chunks in the store. Papers whose stored content hash
matches are left alone, so re-ingesting the same file writes nothing."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rag.index.chunking import chunk_paper, embed_text
from rag.index.embedding import TokenWindow
from rag.schema import Chunk, IngestReport, Paper

if TYPE_CHECKING:
    from rag.index.embedding import Embedder
    from rag.index.store import Store

#: Texts per call to the embedder (one progress-bar step).
EMBED_BATCH = 64


class Indexer:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        *,
        chunk_tokens: int = 256,
        progress: bool | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.chunk_tokens = chunk_tokens
        self.progress = progress

    def chunks(self, paper: Paper) -> list[Chunk]:
        """``paper``'s chunks, each fitting the embedder's window (title included)."""
        inner = getattr(self.embedder, "inner", self.embedder)  # through the cache
        if isinstance(inner, TokenWindow):
            return chunk_paper(paper, min(self.chunk_tokens, inner.max_tokens), inner.count_tokens)
        return chunk_paper(paper, self.chunk_tokens)

    def add(self, papers: Sequence[Paper]) -> IngestReport:
        """Write new and changed papers; the report's file counts are the caller's to fill."""
        from rag.ingest import content_hash

        digests = {p.paper_id: content_hash(p) for p in papers}
        existing = self.store.paper_hashes(list(digests))
        todo = [p for p in papers if existing.get(p.paper_id) != digests[p.paper_id]]
        updated = [p.paper_id for p in todo if p.paper_id in existing]
        chunks = [c for p in todo for c in self.chunks(p)]
        vectors = self.embed([embed_text(c.title, c.text) for c in chunks])
        if chunks:
            self.store.replace_papers(todo, chunks, vectors, digests, replaced=updated)
        return IngestReport(
            files=0,
            records=len(papers),
            duplicates=0,
            papers_added=len(todo) - len(updated),
            papers_updated=len(updated),
            papers_unchanged=len(papers) - len(todo),
            chunks_written=len(chunks),
            skipped=[],
            seconds=0.0,
        )

    def embed(self, texts: Sequence[str]) -> Any:
        import numpy as np
        from tqdm import tqdm

        out = []
        with tqdm(
            total=len(texts),
            desc="Embedding chunks",
            unit="chunk",
            file=sys.stderr,
            disable=self.progress is False if self.progress is not None else None,
            leave=False,
        ) as bar:
            for i in range(0, len(texts), EMBED_BATCH):
                out.append(self.embedder.embed(texts[i : i + EMBED_BATCH]))
                bar.update(len(texts[i : i + EMBED_BATCH]))
        if not out:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.concatenate(out)
