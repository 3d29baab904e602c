"""The query side of the product: retrieve -> answer -> verify, as one object with its components
passed in.

>>> pipeline = Pipeline(retriever, backend, Verifier(scorer))  # doctest: +SKIP
>>> pipeline.ask("What does Block-LoRA share?").answer  # doctest: +SKIP

:class:`Pipeline` holds no per-request state: every component is built once (by
:class:`rag.library.Library` from settings, or by you) and one pipeline serves many threads.
The retriever is also a llama-index ``BaseRetriever`` (``retriever.as_llama()``,
:mod:`rag.retrieval.llama`); the pipeline calls it directly so that a cold start does not pay for
importing llama-index.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rag.schema import Answer, Hit

if TYPE_CHECKING:
    from rag.answering.backend import Backend
    from rag.answering.chat import ChatSession
    from rag.answering.llm import LLM
    from rag.answering.verify import Verifier
    from rag.index.filters import Filters
    from rag.retrieval.base import Retriever


#: Passages (one per paper) read for a question about several papers ("which papers...").
MANY_PAPERS = 12

#: Reads stored chunks by id (:meth:`rag.index.store.Store.texts`): ``{id: (text, metadata)}``.
PassageReader = Callable[[Sequence[str]], dict[str, tuple[str, dict[str, Any]]]]


def neighbours(hits: Sequence[Hit], read: PassageReader) -> list[Hit]:
    """The chunks next to each hit in its paper (chunk index -1 and +1) that are not hits
    themselves, in the hits' order. A many-paper question reads one passage per paper; a key
    sentence of a paper is often in its other half (an abstract is two 256-token chunks)."""
    have = {h.chunk_id for h in hits}
    wanted: list[str] = []
    for hit in hits:
        index = hit.metadata.get("chunk_index")
        if not isinstance(index, int):
            continue
        for j in (index - 1, index + 1):
            cid = f"{hit.paper_id}#{j}"  # as rag.index.chunking names chunks
            if j >= 0 and cid not in have:
                have.add(cid)
                wanted.append(cid)
    found = read(wanted) if wanted else {}
    out = []
    for cid in wanted:
        if cid in found:
            text, meta = found[cid]
            pid = str(meta.get("paper_id", cid.rsplit("#", 1)[0]))
            title = str(meta.get("title", ""))
            meta = {**meta, "paper_id": pid, "title": title}
            out.append(Hit(chunk_id=cid, paper_id=pid, title=title, text=text, score=0.0,
                           metadata=meta))  # fmt: skip
    return out


@dataclass(frozen=True)
class StreamEvent:
    """One event of :meth:`Pipeline.stream`: ``draft`` text as the backend writes it (not yet
    checked), then one ``answer`` event with the verified :class:`~rag.schema.Answer`."""

    kind: Literal["draft", "answer"]
    text: str = ""
    answer: Answer | None = None


class Pipeline:
    """Retrieve, answer and verify, with injected components."""

    def __init__(
        self,
        retriever: Retriever,
        backend: Backend,
        verifier: Verifier,
        *,
        top_k: int = 6,
        max_per_paper: int = 2,
        summary_backend: Backend | None = None,
        condenser: LLM | None = None,
        passages: PassageReader | None = None,
    ) -> None:
        self.retriever = retriever
        self.backend = backend
        self.verifier = verifier
        self.top_k = top_k
        self.max_per_paper = max_per_paper
        self.summary_backend = summary_backend or backend
        self.condenser = condenser  # rewrites chat follow-ups (None: by rule)
        self.passages = passages  # many-paper questions also read each passage's neighbours

    # --- retrieval ----------------------------------------------------------------------------

    def retrieve(
        self,
        query: str,
        k: int | None = None,
        *,
        filters: Filters | None = None,
        per_paper: int | None = None,
    ) -> list[Hit]:
        """The best ``k`` chunks (default ``top_k``). The retriever is called directly, so a cold
        ``rag ask`` never imports llama-index (1-2.5 s); ``retriever.as_llama()`` returns the
        same hits as llama-index ``NodeWithScore``\\ s."""
        hits = self.retriever.retrieve(query, k or self.top_k, filters, per_paper=per_paper)
        for hit in hits:  # as the llama-index round trip (rag.retrieval.llama) would leave them
            hit.metadata.setdefault("paper_id", hit.paper_id)
            hit.metadata.setdefault("title", hit.title)
        return hits

    def search(
        self, query: str, k: int | None = None, *, filters: Filters | None = None
    ) -> list[Hit]:
        """The best ``k`` papers, each with its best-matching passage."""
        return self.retrieve(query, k, filters=filters, per_paper=1)

    # --- answers ------------------------------------------------------------------------------

    def answer(
        self,
        question: str,
        sources: list[Hit],
        *,
        backend: Backend | None = None,
        separator: str = " ",
        on_delta: Callable[[str], None] | None = None,
        started: float | None = None,
    ) -> Answer:
        """Draft an answer from ``sources`` with ``backend`` (default: the pipeline's), verify it,
        and time it. ``ask``, ``summarize`` and ``chat`` all end here."""
        backend = backend or self.backend
        t0 = time.perf_counter() if started is None else started
        t1 = time.perf_counter()
        draft = backend.draft(question, sources, on_delta)
        answer = self.verifier.verify(question, draft, sources, backend.name, separator=separator)
        t2 = time.perf_counter()
        answer.timings_ms = {
            "retrieve": round((t1 - t0) * 1000, 1),
            "answer": round((t2 - t1) * 1000, 1),
            "total": round((t2 - t0) * 1000, 1),
        }
        return answer

    def ask(
        self,
        question: str,
        *,
        filters: Filters | None = None,
        search_query: str | None = None,
        on_delta: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer from the papers, every sentence cited and checked, or refuse.

        ``search_query`` (default: the question) is what retrieval searches with. ``on_delta``
        receives the backend's draft as it is written (LLM backends only); the answer returned
        is the verified one, which may have lost sentences (see ``answer.dropped``)."""
        from rag.answering.focus import analyse

        t0 = time.perf_counter()
        if analyse(question).scope == "many":  # several papers: one passage each, more papers
            k, per_paper = max(self.top_k, MANY_PAPERS), 1
        else:
            k, per_paper = self.top_k, self.max_per_paper
        sources = self.retrieve(search_query or question, k, filters=filters, per_paper=per_paper)
        if per_paper == 1 and self.passages is not None:
            sources += neighbours(sources, self.passages)
        return self.answer(question, sources, on_delta=on_delta, started=t0)

    def stream(
        self,
        question: str,
        *,
        filters: Filters | None = None,
        search_query: str | None = None,
    ) -> Iterator[StreamEvent]:
        """:meth:`ask` as an iterator: ``draft`` events while the backend writes, then the
        verified ``answer``. Closing the iterator early stops the request."""
        return _iterate(
            lambda on_delta: self.ask(
                question, filters=filters, search_query=search_query, on_delta=on_delta
            )
        )

    def stream_summary(
        self, topic: str, *, max_papers: int = 8, filters: Filters | None = None
    ) -> Iterator[StreamEvent]:
        """:meth:`summarize` as an iterator, like :meth:`stream`."""
        return _iterate(
            lambda on_delta: self.summarize(
                topic, max_papers=max_papers, filters=filters, on_delta=on_delta
            )
        )

    def summarize(
        self,
        topic: str,
        *,
        max_papers: int = 8,
        filters: Filters | None = None,
        on_delta: Callable[[str], None] | None = None,
    ) -> Answer:
        """What the papers say about ``topic``: findings grouped by paper, every one cited.

        One passage per paper, only papers close enough to the best (see
        :mod:`rag.answering.summary`), written by the summary backend and verified."""
        from rag.answering.summary import candidate_sources

        t0 = time.perf_counter()
        considered, sources = candidate_sources(self, topic, max_papers, filters=filters)
        answer = self.answer(
            topic,
            sources,
            backend=self.summary_backend,
            separator="\n",
            on_delta=on_delta,
            started=t0,
        )
        answer.papers_considered = considered
        answer.papers_used = len({c.paper_id for c in answer.citations})
        self._agreement(answer)
        return answer

    def _agreement(self, answer: Answer) -> None:
        """Where the summary's papers report on the same thing: agree or differ (only where the
        check can tell; :mod:`rag.answering.agreement`)."""
        from rag.answering.agreement import check_agreement, stance_judge

        scorer = self.verifier.scorer
        embedder = scorer.embedder if scorer is not None else None
        judge = stance_judge(embedder) if embedder is not None else None
        answer.agreement, answer.agreement_checked = check_agreement(answer, embedder, judge)

    def chat(self) -> ChatSession:
        """A conversation: follow-ups are rewritten into standalone questions before retrieval."""
        from rag.answering.chat import ChatSession

        return ChatSession(self)


class _Stopped(Exception):
    """The consumer closed a stream: the backend's callback aborts the request."""


def _iterate(run: Callable[[Callable[[str], None]], Answer]) -> Iterator[StreamEvent]:
    """Run ``run(on_delta)`` in a worker thread and yield what it streams, then its answer."""
    events: queue.Queue[StreamEvent | BaseException] = queue.Queue()
    stop = threading.Event()

    def on_delta(text: str) -> None:
        if stop.is_set():
            raise _Stopped()
        events.put(StreamEvent("draft", text))

    def work() -> None:
        try:
            events.put(StreamEvent("answer", answer=run(on_delta)))
        except BaseException as exc:  # handed to the consumer's thread
            events.put(exc)

    threading.Thread(target=work, name="rag-stream", daemon=True).start()
    try:
        while True:
            item = events.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if item.kind == "answer":
                return
    finally:
        stop.set()
