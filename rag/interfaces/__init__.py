"""Thin layers over :class:`rag.library.Library`: the ``rag`` CLI (``cli``, ``eval_cli``,
``render``). HTTP and MCP servers go here, beside it."""
