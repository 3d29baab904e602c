"""Starting chromadb faster (for :mod:`rag.index.store`, the only module that talks to Chroma).

What a cold ``rag ask`` or ``rag search`` pays most for is importing chromadb; this removes the
part of it that does nothing for this program (see :func:`quick_import`). ``python -X importtime``
of importing chromadb 1.5.9 shows the rest: its embedding-function registry (every provider's
module, jsonschema, httpx), opentelemetry with its gRPC exporter, pydantic-settings, numpy.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def quick_import() -> Iterator[None]:
    """Import (and start) chromadb without two costs that do nothing for us, measured at about
    a fifth of the import: the ``overrides`` package's ``@override`` checks every method's
    signature against its base class's as chromadb's classes are defined (here it only marks
    the method, which its metaclass checks), and ``httpx`` imports its command line tool (and
    with it ``rich``) unless that fails to import. Both are put back afterwards."""
    import overrides

    saved = overrides.override, overrides.overrides

    def mark(method: Any = None, **_: Any) -> Any:
        def marked(m: Any) -> Any:
            m.__override__ = True
            return m

        return marked if method is None else marked(method)

    block = "httpx" not in sys.modules and "httpx._main" not in sys.modules
    if block:
        sys.modules["httpx._main"] = None  # type: ignore[assignment]  # httpx: "not installed"
    overrides.override = overrides.overrides = mark
    try:
        yield
    finally:
        overrides.override, overrides.overrides = saved
        if block:
            sys.modules.pop("httpx._main", None)
