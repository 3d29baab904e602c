"""The one user-facing error type.

Every failure a user can fix (bad input, bad configuration, an unreachable service) is raised as
:class:`RagError` with a one-line message that says what went wrong and where. The CLI prints that
line and exits 1 (:func:`rag.interfaces.exit.exit_on_error`); it never shows a traceback.
"""

from __future__ import annotations


class RagError(Exception):
    """A problem the user can act on. ``str(err)`` is one line: what, and where."""

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return " ".join(text.split())  # always one line


class InputError(RagError):
    """A file or record given to ingest is missing, unreadable or malformed."""


class ConfigError(RagError):
    """A setting is wrong, or the library was built with a different embedder."""


class BackendError(RagError):
    """An LLM or embedding endpoint failed after retries, timed out, or replied with garbage."""
