"""llama-index on the query path: our retriever as a ``BaseRetriever``, and back.

>>> from rag import Library
>>> retriever = Library().pipeline.retriever.as_llama(k=5)  # doctest: +SKIP
>>> from llama_index.core.query_engine import RetrieverQueryEngine  # doctest: +SKIP
>>> engine = RetrieverQueryEngine.from_args(retriever, llm=my_llm)  # doctest: +SKIP

Nodes carry the chunk text and its metadata (paper id, title, source, sentence offsets, fused
score); ``NodeWithScore.score`` is the cosine similarity, as in ``Hit.score``. Importing this
module imports llama-index (1-3 s): only retrieval does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from rag.schema import Hit

if TYPE_CHECKING:
    from rag.index.filters import Filters
    from rag.retrieval.base import Retriever


def node_of(hit: Hit) -> NodeWithScore:
    node = TextNode(id_=hit.chunk_id, text=hit.text, metadata=dict(hit.metadata))
    node.metadata.setdefault("paper_id", hit.paper_id)
    node.metadata.setdefault("title", hit.title)
    return NodeWithScore(node=node, score=hit.score)


def hit_of(node: NodeWithScore) -> Hit:
    meta: dict[str, Any] = dict(node.node.metadata)
    return Hit(
        chunk_id=node.node.node_id,
        paper_id=str(meta.get("paper_id", "")),
        title=str(meta.get("title", "")),
        text=node.node.get_content(),
        score=float(node.score or 0.0),
        metadata=meta,
    )


class PaperRetriever(BaseRetriever):
    """The best ``k`` chunks of the library for a query, as ``NodeWithScore``\\ s."""

    def __init__(
        self,
        engine: Retriever,
        k: int,
        *,
        filters: Filters | None = None,
        per_paper: int | None = None,
    ) -> None:
        super().__init__()
        self._engine = engine
        self._k = k
        self._filters = filters
        self._per_paper = per_paper

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self._engine.retrieve(
            query_bundle.query_str, self._k, self._filters, per_paper=self._per_paper
        )
        return [node_of(h) for h in hits]
