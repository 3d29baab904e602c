"""Embeddings from an OpenAI-compatible endpoint (opt-in: sends chunk text to that endpoint)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from rag.deadline import Deadline, bounded
from rag.errors import BackendError, ConfigError
from rag.index.embedding import Matrix, l2_normalize


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible ``/embeddings`` endpoint, rows L2-normalised.

    ``dim`` is taken from the ``dim`` argument or, if None, from the first response (reading
    ``dim`` before any request sends one short probe). Empty texts are sent as a single space.
    """

    batch_size = 256

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        dim: int | None = None,
    ) -> None:
        if not model:
            raise ConfigError("empty embedding model name", hint="use embedder='openai:MODEL'")
        self.model, self.api_key, self.base_url = model, api_key, base_url
        self.timeout, self.max_retries = timeout, max_retries
        self.name = f"openai:{model}"
        self.where = base_url or "api.openai.com"
        self._dim = dim
        self._client: Any = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self.embed(["dimension probe"])
        assert self._dim is not None
        return self._dim

    def _get_client(self) -> Any:
        if self._client is None:
            import openai

            key = self.api_key  # read from the environment by Settings, nowhere else
            if key is None and self.base_url is None:
                raise ConfigError(f"{self.name} needs an API key", hint="set RAG_OPENAI_API_KEY")
            self._client = openai.OpenAI(
                api_key=key or "unused",  # local servers (Ollama, vLLM...) ignore the key
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client

    def embed(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import openai

        client = self._get_client()
        parts: list[Matrix] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [t if t.strip() else " " for t in texts[start : start + self.batch_size]]
            try:

                def create(_timeout: float, _deadline: float, batch: list[str] = batch) -> Any:
                    return client.embeddings.create(
                        model=self.model, input=batch, encoding_format="float"
                    )

                resp = bounded(
                    create,
                    self.timeout,
                    time.monotonic() + self.timeout * (self.max_retries + 1),
                )
                data = sorted(resp.data, key=lambda d: d.index)
                vecs = np.asarray([d.embedding for d in data], dtype=np.float32)
            except Deadline as exc:  # the whole request, retries included, ran out of time
                raise BackendError(f"embedding request {exc}", where=self.where) from None
            except openai.OpenAIError as exc:
                detail = " ".join(str(exc).split())[:300]
                msg = f"embedding request failed: {type(exc).__name__}: {detail}"
                raise BackendError(msg, where=self.where) from None
            except (AttributeError, TypeError, ValueError) as exc:
                raise BackendError(
                    f"malformed embedding response: {exc}", where=self.where
                ) from None
            if vecs.ndim != 2 or len(vecs) != len(batch) or self._dim not in (None, vecs.shape[1]):
                msg = f"embedding response of shape {vecs.shape} for {len(batch)} texts"
                raise BackendError(f"{msg} (expected dim {self._dim})", where=self.where)
            self._dim = int(vecs.shape[1])
            parts.append(l2_normalize(vecs))
        return np.concatenate(parts)
