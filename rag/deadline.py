"""A wall-clock deadline for one blocking call (an LLM or embedding request, an LLM stream, a
Chroma server call).

HTTP clients bound each read, not the whole exchange: a server that trickles a byte at a time,
or sends only keep-alive comments, never trips a read timeout. :func:`bounded` runs the call in a
daemon thread and stops waiting at the deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Deadline(Exception):
    def __init__(self, budget: float) -> None:
        super().__init__(f"did not finish its reply within {budget:g} s")


def bounded(attempt: Callable[[float, float], T], timeout: float, deadline: float) -> T:
    """``attempt(timeout, deadline)`` run in a daemon thread that the caller waits for until
    ``deadline`` at most (then :class:`Deadline`). The HTTP client's timeouts bound each read;
    this bounds the whole call. An abandoned attempt sees the passed deadline before it hands
    on any more text, and ends with its connection."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = attempt(timeout, deadline)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="bounded-call", daemon=True).start()
    # A little grace, so that a silent server meets the (retried) read timeout first.
    grace = min(1.0, 0.25 * timeout) + 0.1
    if not done.wait(max(0.0, deadline - time.monotonic()) + grace):
        raise Deadline(round(timeout, 3))
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
