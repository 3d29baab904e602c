"""The embedders, by name, and :func:`make_embedder`, which builds the configured one.

* ``minilm`` (default): all-MiniLM-L6-v2 on onnxruntime, offline (:mod:`rag.index.minilm`);
* ``openai:MODEL`` (opt-in): an OpenAI-compatible endpoint (:mod:`rag.index.openai_embedder`).

Either is wrapped in the SQLite cache of :mod:`rag.index.embedding_cache`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rag.errors import ConfigError

if TYPE_CHECKING:
    from rag.index.embedding import Embedder
    from rag.settings import Settings


def _minilm(settings: Settings, model: str) -> Embedder:
    from rag.index.minilm import MiniLMEmbedder

    cache_dir = settings.resolved_cache_dir() / "models"
    return MiniLMEmbedder(settings.model_dir, cache_dir=cache_dir, int8=settings.quantize_embedder)


def _openai(settings: Settings, model: str) -> Embedder:
    from rag.index.openai_embedder import OpenAIEmbedder

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return OpenAIEmbedder(
        model,
        api_key=key,
        base_url=settings.openai_base_url,
        timeout=settings.llm_timeout,
        max_retries=settings.llm_max_retries,
    )


#: Embedders by the prefix of ``settings.embedder`` ("minilm", "openai:MODEL").
EMBEDDERS: dict[str, Callable[[Settings, str], Embedder]] = {
    "minilm": _minilm,
    "openai": _openai,
}


def make_embedder(settings: Settings) -> Embedder:
    """The cached embedder named by ``settings.embedder``: 'minilm' or 'openai:MODEL'."""
    from rag.index.embedding_cache import CachedEmbedder

    choice = settings.embedder.strip()
    kind, _, model = choice.partition(":")
    factory = EMBEDDERS.get(kind)
    if factory is None or (kind == "openai") != bool(model.strip()):
        hint = "use 'minilm' or 'openai:MODEL'"
        raise ConfigError(
            f"unknown embedder {settings.embedder!r}", where="RAG_EMBEDDER", hint=hint
        )
    inner = factory(settings, model.strip())
    return CachedEmbedder(inner, settings.resolved_cache_dir() / "embeddings.sqlite")


def embedder_name(settings: Settings) -> str:
    """The name :func:`make_embedder` gives the configured embedder, without building it (no
    numpy, no model files read): what ``rag stats`` compares with the library's manifest."""
    kind, _, model = settings.embedder.strip().partition(":")
    if kind == "minilm" and not model:
        return "all-MiniLM-L6-v2-int8" if settings.quantize_embedder else "all-MiniLM-L6-v2"
    if kind == "openai" and model.strip():
        return f"openai:{model.strip()}"
    return make_embedder(settings).name  # raises the ConfigError that names the problem
