"""The answer LLM: any OpenAI-compatible chat endpoint, with bounded retries and timeouts.

Only ``settings.llm`` switches an LLM on (:func:`make_llm`); an API key alone never does.
``openai`` and ``tiktoken`` are imported lazily so ``import rag.answering.llm`` stays cheap.

The openai client's own retries are off (``max_retries=0``); :meth:`LLM._retry` does them for
every path, streams included: 408/409/429/5xx, connection errors and timeouts are retried with
exponential backoff and jitter; ``retry-after`` is honoured up to ``LLM.retry_after_max`` (a
longer requested wait fails at once). A request may wait ``timeout`` seconds per network read;
all attempts together get ``timeout * (max_retries + 1)`` seconds (backoff sleeps on top) and a
stream still running past that is cut off, so nothing hangs. Every failure ends in one line of
:class:`~rag.errors.BackendError`.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from rag.deadline import Deadline as _Deadline
from rag.deadline import bounded as _bounded
from rag.errors import BackendError, ConfigError
from rag.text import token_encoder as tiktoken_encoding

if TYPE_CHECKING:
    import openai

    from rag.settings import Settings

T = TypeVar("T")
OPENAI_URL = "https://api.openai.com/v1"
NO_KEY = "not-needed"  # placeholder key for local servers that ignore it

#: Approximate list prices, USD per 1M tokens (input, output). Dated snapshots match too.
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o4-mini": (1.10, 4.40),
    "o3-mini": (1.10, 4.40),
}


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """USD cost from :data:`PRICES_PER_MTOK`; ``None`` for unknown (e.g. local) models."""
    name = model.lower().rsplit("/", 1)[-1]
    for key, (price_in, price_out) in PRICES_PER_MTOK.items():
        if name == key or re.fullmatch(re.escape(key) + r"-\d{4}-\d{2}-\d{2}", name):
            return round((prompt_tokens * price_in + completion_tokens * price_out) / 1e6, 8)
    return None


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float | None = None

    @classmethod
    def of(cls, model: str, prompt_tokens: int, completion_tokens: int) -> Usage:
        return cls(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
            cost_usd=estimate_cost(model, prompt_tokens, completion_tokens),
        )


class Completion(BaseModel):
    text: str
    usage: Usage
    model: str
    finish_reason: str | None = None
    latency_ms: float = 0.0


@lru_cache(maxsize=4)
def estimate_tokens(text: str, model: str = "") -> int:
    """Token count of ``text`` (o200k_base for gpt-4o/4.1/o-series names, else cl100k_base)."""
    o200k = re.match(r"(gpt-4o|gpt-4\.1|gpt-5|o\d)", model.lower().rsplit("/", 1)[-1])
    return len(tiktoken_encoding("o200k_base" if o200k else "cl100k_base").encode(text))


class _BadReply(Exception):
    """The endpoint answered 200 with something that is not a usable completion."""


class _CallbackError(Exception):
    """Wraps an exception raised by ``on_delta`` so it is re-raised untouched."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


class LLM:
    """One chat model behind an OpenAI-compatible endpoint."""

    backoff_base: float = 0.5  # first retry sleeps about this long, then doubles
    backoff_max: float = 8.0
    retry_after_max: float = 20.0  # longest server-requested wait we honour

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        max_retries: int,
        max_reply_chars: int = 256 * 1024,
    ) -> None:
        if not api_key and not base_url:
            raise ConfigError(f"LLM {model} needs OPENAI_API_KEY, or OPENAI_BASE_URL")
        self.model = model
        self.api_key = api_key or NO_KEY
        self.base_url = (base_url or OPENAI_URL).rstrip("/")
        self.timeout = float(timeout)
        self.max_retries = max(0, int(max_retries))
        self.max_reply_chars = int(max_reply_chars)
        self._client: openai.OpenAI | None = None

    def __repr__(self) -> str:
        return f"LLM({self.model!r}, base_url={self.base_url!r})"

    @property
    def client(self) -> openai.OpenAI:
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                api_key=self.api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0
            )
        return self._client

    # -- public API -------------------------------------------------------------------------
    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> Completion:
        """One non-streaming answer; with ``json_schema`` the raw JSON text is in ``.text``."""
        params = self._params(messages, max_tokens, temperature)
        if json_schema is not None:
            params["response_format"] = {"type": "json_schema", "json_schema": _schema(json_schema)}
        start = time.monotonic()

        def attempt(timeout: float, deadline: float) -> Completion:
            resp: Any = self.client.chat.completions.create(**params, timeout=timeout)
            if isinstance(resp, str):
                raise _BadReply(f"replied with non-JSON: {resp[:80]!r}")
            try:
                choice = resp.choices[0]
                msg = choice.message
                text = msg.content or ""
                if not text and msg.tool_calls:
                    text = msg.tool_calls[0].function.arguments or ""
                if not text and getattr(msg, "refusal", None):
                    raise _BadReply(f"model refused: {msg.refusal}")
                usage = resp.usage
                model = str(resp.model or self.model)
                finish = choice.finish_reason
            except (AttributeError, IndexError, TypeError) as exc:
                shown = resp.model_dump_json(exclude_none=True)[:80]
                raise _BadReply(f"replied without a completion: {shown}") from exc
            return self._finish(text, usage, model, finish, messages, start)

        return self._retry(attempt)

    def stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        on_delta: Callable[[str], None],
        temperature: float = 0.0,
    ) -> Completion:
        """Stream an answer, calling ``on_delta`` with each piece of text as it arrives."""
        params = self._params(messages, max_tokens, temperature)
        params.update(stream=True, stream_options={"include_usage": True})
        start = time.monotonic()
        emitted = [0]  # characters handed to on_delta; once >0 a failure cannot be retried

        def attempt(timeout: float, deadline: float) -> Completion:
            pieces: list[str] = []
            usage: Any = None
            model, finish, events = self.model, None, 0
            with self.client.chat.completions.create(**params, timeout=timeout) as chunks:
                for chunk in chunks:
                    events += 1
                    if time.monotonic() > deadline:
                        raise _Deadline(self.timeout)
                    usage = getattr(chunk, "usage", None) or usage
                    model = getattr(chunk, "model", None) or model
                    for choice in chunk.choices or []:
                        finish = choice.finish_reason or finish
                        delta = choice.delta
                        piece = (delta.content or "") if delta else ""
                        for call in (delta.tool_calls or []) if delta else []:
                            piece += (call.function.arguments or "") if call.function else ""
                        if piece:
                            pieces.append(piece)
                            emitted[0] += len(piece)
                            if emitted[0] > self.max_reply_chars:
                                raise _BadReply(self._too_long())
                            if time.monotonic() > deadline:  # the caller has given up
                                raise _Deadline(self.timeout)
                            try:
                                on_delta(piece)
                            except Exception as exc:
                                raise _CallbackError(exc) from exc
            if not events:
                raise _BadReply("sent no stream events (not an OpenAI-compatible stream?)")
            if finish is None:
                raise _BadReply(
                    f"stream ended before the answer was complete (after {emitted[0]} chars, "
                    "no finish_reason)"
                )
            return self._finish("".join(pieces), usage, model, finish, messages, start)

        try:
            return self._retry(attempt, emitted=lambda: emitted[0])
        except _CallbackError as exc:
            raise exc.original from None

    # -- internals --------------------------------------------------------------------------
    def _params(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float
    ) -> dict[str, Any]:
        # OpenAI's own API prefers max_completion_tokens; local servers know max_tokens.
        key = "max_completion_tokens" if self.base_url == OPENAI_URL else "max_tokens"
        return {"model": self.model, "messages": messages, key: max_tokens,
                "temperature": temperature}  # fmt: skip

    def _finish(
        self,
        text: str,
        usage: Any,
        model: str,
        finish: str | None,
        messages: list[dict[str, str]],
        start: float,
    ) -> Completion:
        if len(text) > self.max_reply_chars:
            raise _BadReply(self._too_long())
        if not text.strip():
            hint = "; raise RAG_MAX_ANSWER_TOKENS" if finish == "length" else ""
            raise _BadReply(f"returned an empty answer (finish_reason={finish}{hint})")
        if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
            used = Usage.of(model, int(usage.prompt_tokens), int(usage.completion_tokens or 0))
        else:  # the server did not report usage: estimate it
            prompt = sum(4 + estimate_tokens(m.get("content") or "", model) for m in messages)
            used = Usage.of(model, prompt + 3, estimate_tokens(text, model))
        latency = (time.monotonic() - start) * 1000
        return Completion(text=text, usage=used, model=model, finish_reason=finish,
                          latency_ms=round(latency, 1))  # fmt: skip

    def _too_long(self) -> str:
        return f"replied with more than {self.max_reply_chars // 1024} KiB (RAG_MAX_REPLY_KB)"

    def _retry(
        self, attempt: Callable[[float, float], T], *, emitted: Callable[[], int] = lambda: 0
    ) -> T:
        """Run ``attempt(timeout, deadline)`` with retries; raise one-line BackendErrors. Each
        attempt has a wall-clock deadline of ``timeout`` seconds (:func:`_bounded`), not only
        a per-read timeout: a server trickling bytes or keep-alives is stopped on time."""
        import openai

        _ = self.client.chat.completions  # imports and set-up happen outside the deadline
        budget_end = time.monotonic() + self.timeout * (self.max_retries + 1)
        where = f"LLM endpoint {self.base_url}"
        retries = 0
        while True:
            remaining = budget_end - time.monotonic()
            try:
                per_call = max(0.05, min(self.timeout, remaining))
                return _bounded(attempt, per_call, time.monotonic() + per_call)
            except _Deadline as exc:
                raise BackendError(f"{where} {exc}", hint="raise RAG_LLM_TIMEOUT") from None
            except _BadReply as exc:
                raise BackendError(f"{where} {exc}") from None
            except json.JSONDecodeError as exc:
                raise BackendError(f"{where} replied with malformed JSON: {exc}") from None
            except openai.APIStatusError as exc:
                status, detail = exc.status_code, _detail(exc)
                if status in (401, 403):
                    raise BackendError(
                        f"{where} rejected the API key ({status}): {detail}",
                        hint="check OPENAI_API_KEY / RAG_OPENAI_API_KEY",
                    ) from None
                what, retry_after = f"returned {status}", _retry_after(exc.response.headers)
                if status not in (408, 409, 429) and status < 500:
                    raise BackendError(f"{where} returned {status}: {detail}") from None
            except openai.APITimeoutError:
                what, detail, retry_after = "timed out", f"no reply within {self.timeout:g} s", None
            except openai.APIConnectionError as exc:
                what, retry_after = "could not be reached", None
                detail = str(exc.__cause__ or exc) or type(exc).__name__
            except openai.APIError as exc:  # e.g. an error event inside a stream
                what, detail, retry_after = "failed", exc.message, None
            if emitted():  # text already went out: a retry would repeat it
                raise BackendError(f"{where} stream broke off after {emitted()} chars: {detail}")
            if retry_after is not None and retry_after > self.retry_after_max:
                raise BackendError(f"{where} {what}: {detail} (asks to retry in {retry_after:g} s)")
            sleep = self._backoff(retries, retry_after)
            if retries >= self.max_retries or time.monotonic() + 0.05 >= budget_end:
                n = f" after {retries} {'retry' if retries == 1 else 'retries'}" if retries else ""
                raise BackendError(f"{where} {what}{n}: {detail}")
            time.sleep(sleep)
            budget_end += sleep  # sleeping does not eat the request-time budget
            retries += 1

    def _backoff(self, retries: int, retry_after: float | None) -> float:
        if retry_after is not None and retry_after >= 0:
            return retry_after
        base = min(self.backoff_base * 2**retries, self.backoff_max)
        return base * (1 - 0.25 * random.random())


def _schema(json_schema: dict[str, Any]) -> dict[str, Any]:
    if "schema" in json_schema and "name" in json_schema:  # already wrapped
        return {"strict": True, **json_schema}
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(json_schema.get("title") or "answer"))[:64]
    return {"name": name, "schema": json_schema, "strict": True}


def _detail(exc: Any) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        text = body["message"]
    else:
        text = (exc.response.text if exc.response is not None else "") or exc.message
    return " ".join(str(text).split())[:200] or "(empty body)"


def _retry_after(headers: Any) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(headers.get(name)) * scale
        except (TypeError, ValueError):
            continue
    return None


def make_llm(settings: Settings) -> LLM | None:
    """``extractive`` -> None; ``openai:MODEL`` -> an :class:`LLM`. Nothing else is accepted."""
    spec = settings.llm.strip()
    if spec.lower() == "extractive":
        return None
    prefix, _, model = spec.partition(":")
    if prefix.lower() != "openai" or not model.strip():
        raise ConfigError(
            f"RAG_LLM={spec!r} is not supported; use 'extractive' (default) or 'openai:MODEL' "
            "(e.g. openai:gpt-4o-mini, or a local model name with OPENAI_BASE_URL)"
        )
    secret = settings.openai_api_key
    key = secret.get_secret_value().strip() if secret is not None else ""
    base_url = (settings.openai_base_url or "").strip() or None
    if not key and base_url is None:
        raise ConfigError(
            f"RAG_LLM={spec} needs OPENAI_API_KEY, or OPENAI_BASE_URL for a local server"
        )
    return LLM(
        model.strip(),
        api_key=key or NO_KEY,
        base_url=base_url,
        timeout=settings.llm_timeout,
        max_retries=settings.llm_max_retries,
        max_reply_chars=settings.max_reply_kb * 1024,
    )
