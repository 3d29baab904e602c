"""Writing papers into the index, in batches: chunk a batch of papers to fit the embedder, embed
the chunks, and replace each paper's chunks in the store (all or nothing per paper,
:mod:`rag.index.journal`), then let the caller update what follows the store (the lexical index).
The next batch is embedded while the previous one is written, so at most three batches are held
in memory whatever the input size. Papers whose stored content hash matches are left alone, so
re-ingesting the same file writes nothing, and a re-run of a killed ingest skips the batches that
were committed."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from rag.index.chunking import chunk_paper, embed_text
from rag.index.embedding import TokenWindow
from rag.schema import Chunk, IngestReport, Paper

if TYPE_CHECKING:
    from tqdm import tqdm

    from rag.index.embedding import Embedder
    from rag.index.store import Store

#: Texts per call to the embedder (one progress-bar step).
EMBED_BATCH = 64
#: Papers per batch when the caller does not say (the ``ingest_batch`` setting).
INGEST_BATCH = 256


class Indexer:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        *,
        chunk_tokens: int = 256,
        progress: bool | None = None,
        overlap: bool = True,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.chunk_tokens = chunk_tokens
        self.progress = progress
        #: Embed batch N+1 while batch N is written (a writer thread).
        self.overlap = overlap

    def chunks(self, paper: Paper) -> list[Chunk]:
        """``paper``'s chunks, each fitting the embedder's window (title included)."""
        inner = getattr(self.embedder, "inner", self.embedder)  # through the cache
        if isinstance(inner, TokenWindow):
            return chunk_paper(paper, min(self.chunk_tokens, inner.max_tokens), inner.count_tokens)
        return chunk_paper(paper, self.chunk_tokens)

    def add(
        self,
        papers: Sequence[Paper],
        *,
        batch: int = INGEST_BATCH,
        on_commit: Callable[[Sequence[str]], object] | None = None,
    ) -> IngestReport:
        """Write new and changed papers, ``batch`` papers at a time, calling ``on_commit`` with
        the batch's paper ids after each batch is in the store; the report's file counts are the
        caller's to fill."""
        from rag.index.journal import step
        from rag.ingest import content_hash

        digests = {p.paper_id: content_hash(p) for p in papers}
        existing = self.store.paper_hashes(list(digests))
        todo = [p for p in papers if existing.get(p.paper_id) != digests[p.paper_id]]
        updated = sum(1 for p in todo if p.paper_id in existing)
        written = 0

        def write(part: Sequence[Paper], chunks: list[Chunk], vectors: Any) -> None:
            self.store.replace_papers(part, chunks, vectors, digests)
            step()
            if on_commit is not None:
                on_commit([p.paper_id for p in part])
                step()

        with self._bar(len(todo)) as bar, ThreadPoolExecutor(1, "rag-write") as pool:
            writing: Future[None] | None = None
            for start in range(0, len(todo), max(batch, 1)):
                part = todo[start : start + max(batch, 1)]
                chunks = [c for p in part for c in self.chunks(p)]
                vectors = self.embed([embed_text(c.title, c.text) for c in chunks], chunks, bar)
                written += len(chunks)
                if writing is not None:
                    writing.result()  # batches commit in order; a failed write stops here
                if not self.overlap:
                    write(part, chunks, vectors)
                    continue
                writing = pool.submit(write, part, chunks, vectors)
            if writing is not None:
                writing.result()
        return IngestReport(
            files=0,
            records=len(papers),
            duplicates=0,
            papers_added=len(todo) - updated,
            papers_updated=updated,
            papers_unchanged=len(papers) - len(todo),
            chunks_written=written,
            skipped=[],
            seconds=0.0,
        )

    def _bar(self, total: int) -> tqdm[Any]:
        """Progress over papers: abstracts/s and an ETA."""
        from tqdm import tqdm

        return tqdm(
            total=total,
            desc="Ingesting",
            unit="abstract",
            file=sys.stderr,
            disable=self.progress is False if self.progress is not None else None,
            leave=False,
            smoothing=0.1,
        )

    def embed(
        self, texts: Sequence[str], chunks: Sequence[Chunk] = (), bar: tqdm[Any] | None = None
    ) -> Any:
        """Vectors of ``texts`` (those of ``chunks``, grouped by paper: ``bar`` advances by each
        paper whose last chunk is embedded)."""
        import numpy as np

        out = []
        for i in range(0, len(texts), EMBED_BATCH):
            out.append(self.embedder.embed(texts[i : i + EMBED_BATCH]))
            if bar is not None and chunks:
                ends = range(i, min(i + EMBED_BATCH, len(chunks)))
                bar.update(
                    sum(
                        1
                        for j in ends
                        if j + 1 == len(chunks) or chunks[j + 1].paper_id != chunks[j].paper_id
                    )
                )
        if not out:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.concatenate(out)
