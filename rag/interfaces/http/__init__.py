"""The HTTP server (``rag serve``): see :mod:`rag.interfaces.http.app`."""

from rag.interfaces.http.app import create_app, serve

__all__ = ["create_app", "serve"]
