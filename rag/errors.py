"""The one user-facing error type.

Every failure a user can fix (bad input, bad configuration, an unreachable service) is raised as
:class:`RagError` with a one-line message that says what went wrong and where. The CLI prints that
line and exits 1; it never shows a traceback for a ``RagError``.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


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


def exit_on_error(func: F) -> F:
    """For CLI commands: a :class:`RagError` becomes one line on stderr and exit 1; Ctrl-C exits
    130; a closed pipe (``| head``) exits quietly; anything unexpected is still one line (with
    ``RAG_DEBUG=1``, the traceback). Click's own usage errors (exit 2) pass through."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import click

        def fail(message: str) -> None:
            click.echo(f"Error: {' '.join(message.split())}", err=True)
            sys.exit(1)

        try:
            return func(*args, **kwargs)
        except RagError as e:
            fail(str(e))
        except BrokenPipeError:  # the reader left; leave quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:
            if os.environ.get("RAG_DEBUG"):
                raise
            fail(f"unexpected {type(e).__name__}: {e} (set RAG_DEBUG=1 for the traceback)")

    return wrapper  # type: ignore[return-value]
