"""Literature question answering over your papers, with checked citations.

Imports are lazy so that ``import rag`` (and the CLI's start-up) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Library", "RagError", "Settings", "__version__"]

if TYPE_CHECKING:
    from rag.errors import RagError
    from rag.library import Library
    from rag.settings import Settings


def __getattr__(name: str) -> Any:
    if name == "Library":
        from rag.library import Library

        return Library
    if name == "Settings":
        from rag.settings import Settings

        return Settings
    if name == "RagError":
        from rag.errors import RagError

        return RagError
    raise AttributeError(name)
