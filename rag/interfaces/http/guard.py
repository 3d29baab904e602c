"""What keeps the server safe: bearer-token auth, body size limits, and errors as JSON.

* Auth: with a token configured, every route needs ``Authorization: Bearer TOKEN`` (or the
  ``rag_token`` cookie, which ``GET /?token=TOKEN`` sets for the web page: HttpOnly,
  SameSite=Strict); anything else is a 401.
* Size: a body larger than the limit (JSON routes: ``max_request_kb``; ``POST /ingest``:
  ``max_upload_mb``) is a 413, whether it says its length up front or not.
* Errors: every error is ``{"error": {"message", "type", "code"}}`` (the shape OpenAI clients
  read); an unexpected exception is logged on the server and answered with one line, never a
  stack trace.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.errors import BackendError, ConfigError, RagError

log = logging.getLogger("rag.server")

TOKEN_COOKIE = "rag_token"
UPLOAD_OVERHEAD = 64 * 1024  # multipart headers around the file


def error_body(message: str, kind: str, code: int) -> dict[str, Any]:
    return {"error": {"message": " ".join(message.split()), "type": kind, "code": code}}


def status_of(e: RagError) -> int:
    if isinstance(e, BackendError):
        return 502
    if isinstance(e, ConfigError):
        return 500
    return 400  # InputError and the rest: the request is at fault


def rag_error_body(e: RagError) -> tuple[int, dict[str, Any]]:
    code = status_of(e)
    return code, error_body(str(e), type(e).__name__, code)


def install_error_handlers(app: FastAPI) -> None:
    async def on_rag_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RagError)
        code, body = rag_error_body(exc)
        return JSONResponse(body, status_code=code)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        kind = "not_found" if exc.status_code == 404 else "http_error"
        body = error_body(str(exc.detail), kind, exc.status_code)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        message = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        return JSONResponse(error_body(message, "invalid_request", 422), status_code=422)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        message = f"internal error ({type(exc).__name__}); the server log has the details"
        return JSONResponse(error_body(message, "internal_error", 500), status_code=500)

    app.add_exception_handler(RagError, on_rag_error)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(Exception, on_unexpected)


async def send_json(send: Send, code: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    raw = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    head += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": code, "headers": head})
    await send({"type": "http.response.body", "body": raw})


def cookie_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == TOKEN_COOKIE:
                    return val
    return None


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    return None


class Guard:
    """ASGI middleware: auth, then size limits (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, token: str | None, max_body: int, max_upload: int) -> None:
        self.app = app
        self.token = token
        self.max_body = max_body
        self.max_upload = max_upload + UPLOAD_OVERHEAD

    def authorised(self, scope: Scope) -> bool:
        if self.token is None:
            return True
        given = bearer_token(scope) or cookie_token(scope) or ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.authorised(scope) and not self.page_login(scope):
            body = error_body("a valid bearer token is required", "unauthorized", 401)
            await send_json(send, 401, body, {"www-authenticate": "Bearer"})
            return
        limit = self.max_upload if scope["path"] == "/ingest" else self.max_body
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await send_json(send, 413, too_large(limit), {})
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, too_large(limit)["error"]["message"])
            return message

        await self.app(scope, counted, send)

    def page_login(self, scope: Scope) -> bool:
        """``GET /?token=TOKEN``: the web page's way in (it then sets the cookie)."""
        if scope["path"] != "/" or self.token is None:
            return False
        from urllib.parse import parse_qs

        given = parse_qs(scope.get("query_string", b"").decode()).get("token", [""])[0]
        return hmac.compare_digest(given.encode(), self.token.encode())


def too_large(limit: int) -> dict[str, Any]:
    return error_body(f"request body larger than {limit} bytes", "payload_too_large", 413)
