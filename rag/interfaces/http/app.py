"""``rag serve``: the library over HTTP (FastAPI on uvicorn).

Why FastAPI + uvicorn: the request and response bodies are already pydantic models (the CLI's
JSON contract), and FastAPI validates the one and serialises the other from the type hints,
producing the OpenAPI document (``/openapi.json``, ``/docs``) from the same source; sync handlers
run in its thread pool, which suits a thread-safe :class:`~rag.library.Library`; streaming
(Server-Sent Events) is a plain ``StreamingResponse``. uvicorn is the reference ASGI server
(already installed with chromadb), and shuts down gracefully on SIGTERM: it stops accepting,
lets requests in flight finish (an ingest completes), then exits.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import sys
import threading
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from rag import __version__
from rag.errors import ConfigError, InputError
from rag.interfaces.http.guard import TOKEN_COOKIE, Guard, install_error_handlers
from rag.interfaces.http.openai_compat import build_openai_router
from rag.interfaces.http.routes import build_router
from rag.interfaces.service import Conversations

if TYPE_CHECKING:
    from rag.library import Library

STATIC = {"app.js": "text/javascript", "app.css": "text/css"}
LOOPBACK_NAMES = ("localhost",)


def web_file(name: str) -> bytes:
    return (files("rag") / "data" / "web" / name).read_bytes()


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_token(lib: Library) -> str | None:
    secret = lib.settings.server_token
    token = secret.get_secret_value().strip() if secret is not None else ""
    return token or None


def check_bind(host: str, token: str | None) -> None:
    """Binding anything but loopback needs a token: the library would be open to the network."""
    if not is_loopback(host) and token is None:
        raise ConfigError(
            f"refusing to listen on {host} without a token",
            hint="set RAG_SERVER_TOKEN (clients then send 'Authorization: Bearer TOKEN'), or "
            "bind 127.0.0.1",
        )


def create_app(lib: Library) -> FastAPI:
    """The ASGI app serving ``lib`` (routes, OpenAI endpoint, web page, docs)."""
    s = lib.settings
    app = FastAPI(
        title="rag-papers",
        version=__version__,
        description="Answers only from your papers; every sentence cited and checked.",
    )
    install_error_handlers(app)
    max_upload = s.max_upload_mb * 1024 * 1024
    app.include_router(build_router(lib, Conversations(lib), max_upload))
    app.include_router(build_openai_router(lib))
    token = server_token(lib)

    @app.get("/", include_in_schema=False, response_model=None)
    def page(token_param: str | None = Query(None, alias="token")) -> Response:
        if token is not None and token_param:  # the guard has checked it
            response: Response = RedirectResponse("/", status_code=303)
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
            return response
        return HTMLResponse(web_file("index.html"), headers={"cache-control": "no-cache"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC:
            raise InputError(f"no static file {name!r}")
        return Response(web_file(name), media_type=STATIC[name])

    origins = [o.strip() for o in s.cors_origins.split(",") if o.strip()]
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type"],
        )
    app.add_middleware(
        Guard,
        token=token,
        max_body=s.max_request_kb * 1024,
        max_upload=max_upload,
    )
    return app


def serve(lib: Library, host: str = "127.0.0.1", port: int = 8000, **uvicorn_options: Any) -> None:
    """Run the server until SIGTERM or Ctrl-C (graceful: requests in flight finish)."""
    import uvicorn

    check_bind(host, server_token(lib))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    lib.pipeline  # noqa: B018  (build every component now: errors at start-up, a fast first answer)
    config = uvicorn.Config(
        create_app(lib),
        host=host,
        port=port,
        log_level=uvicorn_options.pop("log_level", "info"),
        timeout_graceful_shutdown=uvicorn_options.pop("timeout_graceful_shutdown", None),
        **uvicorn_options,
    )
    if threading.current_thread() is threading.main_thread():
        # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal to the handler that
        # was there before: make that a clean exit (status 0) instead of death by signal.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.Server(config).run()
