"""Polite HTTP GETs for the lookups by identifier (:mod:`rag.ingest.lookup`): a minimum interval
between requests to one host (:class:`RateLimiter`), a User-Agent naming the project and a
contact, a timeout, and retries with exponential backoff (``Retry-After`` honoured) on 429, 5xx,
timeouts and refused connections. The standard library's urllib does the requests; the clock and
the sleep are injected so that tests check the waits without waiting."""

from __future__ import annotations

import email.utils
import http.client
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from rag.errors import BackendError, InputError

PROJECT_URL = "https://github.com/rag-papers/rag-papers"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 60.0  # seconds: a longer Retry-After is capped
MAX_BODY = 20 * 1024 * 1024


def user_agent(contact: str | None) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("rag-papers")
    except PackageNotFoundError:  # pragma: no cover - running from a checkout
        release = "dev"
    mail = f"; mailto:{contact}" if contact else ""
    return f"rag-papers/{release} (+{PROJECT_URL}{mail})"


@dataclass
class RateLimiter:
    """At least ``interval`` seconds between the starts of two requests to one host."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    waits: list[float] = field(default_factory=list)  # every wait it made, for tests and logs
    _last: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, host: str, interval: float) -> float:
        """Sleep until ``host`` may be asked again; returns the seconds slept."""
        with self._lock:
            now = self.clock()
            last = self._last.get(host)
            delay = max(0.0, last + interval - now) if last is not None else 0.0
            if delay > 0:
                self.waits.append(delay)
                self.sleep(delay)
            self._last[host] = self.clock()
            return delay


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    url: str


class NotFound(InputError):
    """The service answered 404 (or an empty result) for an identifier."""


Opener = Callable[[urllib.request.Request, float], "urllib.response.addinfourl"]


def _open(request: urllib.request.Request, timeout: float) -> urllib.response.addinfourl:
    return urllib.request.urlopen(request, timeout=timeout)  # http(s) only: checked in get()


@dataclass
class PoliteClient:
    """GETs with a User-Agent, a per-host rate limit, a timeout and retries."""

    contact: str | None = None
    timeout: float = 20.0
    retries: int = 3
    backoff: float = 1.0  # seconds before the first retry; doubled each time
    limiter: RateLimiter = field(default_factory=RateLimiter)
    opener: Opener = _open
    requests: list[str] = field(default_factory=list)  # every URL requested, in order

    def get(self, url: str, *, what: str, interval: float, accept: str = "*/*") -> Reply:
        """The body of ``url``. ``what`` names the identifier in errors. A 404 raises
        :class:`NotFound`; another 4xx an :class:`InputError`; 429, 5xx and network failures
        are retried, then raise :class:`BackendError`. Every error is one line naming ``what``
        and ``url``."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise InputError(f"lookup URL must be http(s): {url}", where=what)
        host = urlsplit(url).netloc
        headers = {"User-Agent": user_agent(self.contact), "Accept": accept}
        problem = ""
        for attempt in range(self.retries + 1):
            self.limiter.wait(host, interval)
            self.requests.append(url)
            retry_after: float | None = None
            try:
                request = urllib.request.Request(url, headers=headers)
                with self.opener(request, self.timeout) as response:
                    return Reply(response.status or 200, response.read(MAX_BODY), url)
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    raise NotFound(f"not found at {url} (HTTP 404)", where=what) from None
                if e.code not in RETRY_STATUSES:
                    raise InputError(f"{url} answered HTTP {e.code}", where=what) from None
                problem = f"HTTP {e.code}"
                retry_after = _retry_after(e.headers.get("Retry-After") if e.headers else None)
            except TimeoutError:
                problem = f"no answer within {self.timeout:g}s"
            except urllib.error.URLError as e:
                reason = e.reason
                if isinstance(reason, TimeoutError):
                    problem = f"no answer within {self.timeout:g}s"
                else:
                    problem = (
                        f"cannot reach the server ({getattr(reason, 'strerror', None) or reason})"
                    )
            except OSError as e:
                problem = f"cannot reach the server ({e.strerror or e})"
            except http.client.HTTPException as e:  # e.g. a reply cut off mid-body
                problem = f"broken reply ({type(e).__name__})"
            if attempt < self.retries:
                delay = self.backoff * 2**attempt
                self.limiter.sleep(min(max(delay, retry_after or 0.0), MAX_RETRY_AFTER))
        tries = f"{self.retries + 1} attempt" + ("s" if self.retries else "")
        raise BackendError(f"{url}: {problem} ({tries})", where=what)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number, or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
