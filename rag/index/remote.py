"""Bounded waits on a Chroma server (``RAG_CHROMA_URL``).

chromadb's HTTP client waits forever (``httpx.Client(timeout=None)``): a stopped server
(``kill -STOP``) hangs every call, and a server that dies mid-call surfaces as a bare
``RemoteProtocolError``. :func:`check_server` asks the server for a heartbeat before the client is
built, and :func:`bound_client` gives the client's session a timeout and a transport that bounds
each whole call (twice the timeout, wall clock) and turns every transport failure into one
:class:`~rag.errors.RagError` naming the server.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from rag.deadline import Deadline, bounded
from rag.errors import RagError


def _failure(url: str, timeout: float, exc: Exception) -> RagError:
    if isinstance(exc, httpx.TimeoutException):
        return RagError(
            f"the Chroma server at {url} did not answer within {timeout:g} s",
            hint="is it running, or stopped? RAG_CHROMA_TIMEOUT sets the wait",
        )
    detail = str(exc) or type(exc).__name__
    return RagError(f"lost the connection to the Chroma server at {url}: {detail}")


def check_server(url: str, timeout: float) -> None:
    """A heartbeat within ``timeout`` seconds, or a :class:`RagError` naming the server."""
    try:
        with httpx.Client(timeout=timeout) as client:
            for path in ("/api/v2/heartbeat", "/api/v1/heartbeat"):
                if client.get(url.rstrip("/") + path).status_code < 400:
                    return
    except httpx.HTTPError as exc:
        raise _failure(url, timeout, exc) from None
    raise RagError(f"{url} does not look like a Chroma server (no heartbeat)")


class _BoundedTransport(httpx.BaseTransport):
    """Reads each reply whole inside the timeout; a failure is a RagError naming the server."""

    def __init__(self, inner: httpx.BaseTransport, url: str, timeout: float) -> None:
        self.inner, self.url, self.timeout = inner, url, timeout

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        def call(_timeout: float, _deadline: float) -> httpx.Response:
            response = self.inner.handle_request(request)
            response.read()
            return response

        # each read within the timeout, and the whole call within twice it (a trickling server)
        try:
            return bounded(call, self.timeout, time.monotonic() + 2 * self.timeout)
        except Deadline:
            raise RagError(
                f"the Chroma server at {self.url} did not finish a reply within "
                f"{2 * self.timeout:g} s",
                hint="is it overloaded, or stopped? RAG_CHROMA_TIMEOUT sets the wait",
            ) from None
        except httpx.HTTPError as exc:
            raise _failure(self.url, self.timeout, exc) from None

    def close(self) -> None:
        self.inner.close()


def bound_client(client: Any, url: str, timeout: float) -> None:
    """Give a chromadb ``HttpClient``'s session a timeout and the bounded transport (a no-op
    when chromadb's internals are not where this expects them)."""
    session = getattr(getattr(client, "_server", None), "_session", None)
    if not isinstance(session, httpx.Client):
        return
    session.timeout = httpx.Timeout(timeout)
    inner = session._transport
    if not isinstance(inner, _BoundedTransport):
        session._transport = _BoundedTransport(inner, url, timeout)
