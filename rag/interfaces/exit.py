"""How the CLI ends: one line on stderr and a meaningful exit code, never a traceback."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from rag.errors import RagError

F = TypeVar("F", bound=Callable[..., Any])


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
            from rag.settings import debug_enabled  # lazy: keeps the CLI's start-up light

            if debug_enabled():
                raise
            fail(f"unexpected {type(e).__name__}: {e} (set RAG_DEBUG=1 for the traceback)")

    return wrapper  # type: ignore[return-value]
