"""How the CLI ends: one line on stderr and a meaningful exit code, never a traceback."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

from rag.errors import RagError
from rag.text import strip_controls

F = TypeVar("F", bound=Callable[..., Any])


def exit_on_error(func: F) -> F:
    """For CLI commands: a :class:`RagError` becomes one line on stderr and exit 1; Ctrl-C exits
    130; a closed pipe (``| head``) exits quietly; anything unexpected is still one line (with
    ``RAG_DEBUG=1``, the traceback). Click's own usage errors (exit 2) pass through."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import click

        def fail(message: str) -> None:
            click.echo(f"Error: {' '.join(strip_controls(message).split())}", err=True)
            sys.exit(1)

        stdout = sys.stdout
        try:
            sys.stdout = SafeText(stdout)  # type: ignore[assignment]
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
            from rag.settings import debug_enabled  # lazy: keeps the CLI's start-up light

            if debug_enabled():
                raise
            lost = transport_error(e)
            if lost is not None:
                fail(lost)
            fail(f"unexpected {type(e).__name__}: {e} (set RAG_DEBUG=1 for the traceback)")
        finally:
            sys.stdout = stdout

    return wrapper  # type: ignore[return-value]


def transport_error(e: BaseException) -> str | None:
    """A lost or stalled connection to a server (httpx/httpcore), as one line naming it."""
    if type(e).__module__.split(".")[0] not in ("httpx", "httpcore"):
        return None
    request = getattr(e, "_request", None)
    url = getattr(request, "url", None)
    server = f"{url.scheme}://{url.netloc.decode()}" if url is not None else "a server"
    what = "did not answer in time" if "Timeout" in type(e).__name__ else "connection failed"
    return f"{server}: {what} ({type(e).__name__}: {e or 'no detail'})"


def raw_stdout() -> TextIO:
    """Standard output without the :class:`SafeText` filter: for a line editor's own escape
    codes (prompt_toolkit), never for paper or model text."""
    out = sys.stdout
    return out._inner if isinstance(out, SafeText) else out


class SafeText:
    """Standard output for terminal text: writes pass through :func:`strip_controls`, so that
    nothing printed (paper text, LLM replies) can drive the terminal. JSON output is unchanged
    by it: :func:`rag.interfaces.cli_common.dump` escapes control characters itself. Binary
    writers (``.buffer``, used by the MCP server's protocol stream) are not filtered."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._inner.write(strip_controls(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
