"""A real local HTTP server speaking the OpenAI wire protocol, for tests.

Stdlib only. It answers ``POST /v1/chat/completions`` (plain JSON or SSE streaming),
``POST /v1/embeddings`` and ``GET /v1/models`` on 127.0.0.1, records every request, and plays
scripted :class:`Reply` objects (errors, delays, malformed bodies, tool calls) one per request::

    with openai_test_server() as server:
        server.script(Reply(status=429, headers={"retry-after": "0"}), Reply(content="Hi [1]."))
        ...  # point a client at server.base_url
        assert server.requests[0]["model"] == "m"  # a request is its JSON body plus .path/.headers
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_CONTENT = "The test server answers this question [1]."
EMBEDDING_DIM = 8
MODEL_ID = "test-model"

_ERROR_TEXT = {
    400: ("Bad request.", "invalid_request_error", "bad_request"),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to use this model.", "invalid_request_error", "permission_denied"),
    404: ("The model does not exist.", "invalid_request_error", "model_not_found"),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
}


@dataclass
class Reply:
    """One scripted reply. Defaults give a good ``200`` completion of ``content``."""

    content: str = ""
    status: int = 200
    delay: float = 0.0  # seconds before the status line is sent (timeout tests)
    error_body: dict[str, Any] | None = None  # replaces the whole JSON body of an error reply
    headers: dict[str, str] = field(default_factory=dict)  # extra headers, e.g. retry-after
    stream_delay: float = 0.0  # seconds between SSE events
    raw: str | None = None  # send exactly this body (content-type application/json unless set)
    usage: dict[str, int] | None = None  # overrides the computed usage
    send_usage: bool = True  # False: no usage at all (non-streaming body and stream chunk)
    tool_call_arguments: str | None = None  # reply with a tool call carrying these arguments
    finish_reason: str | None = None  # default "stop" ("tool_calls" for a tool call)
    model: str | None = None  # default: echo the requested model
    words_per_chunk: int = 3
    break_after: int | None = None  # stream: drop the connection after this many content events
    # Misbehaviours (fault tests):
    trickle: float = 0.0  # send the body one byte at a time, this many seconds apart
    keepalive_only: float = 0.0  # stream: send only ": keep-alive" comments for this many seconds
    truncate_after: int | None = None  # stream: end the body cleanly (no finish, no [DONE])


class RecordedRequest(dict[str, Any]):
    """One request: its JSON body (this dict) + ``method``, ``path``, ``headers``, ``raw_body``."""

    def __init__(self, method: str, path: str, headers: dict[str, str], raw_body: str) -> None:
        try:
            body = json.loads(raw_body) if raw_body else {}
        except json.JSONDecodeError:
            body = {}
        super().__init__(body if isinstance(body, dict) else {"_": body})
        self.method = method
        self.path = path
        self.headers = headers  # lower-cased names
        self.raw_body = raw_body

    @property
    def body(self) -> dict[str, Any]:
        return dict(self)


def _words(text: str) -> int:
    return len(text.split())


def _prompt_tokens(body: dict[str, Any]) -> int:
    total = 0
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        total += 4 + (_words(content) if isinstance(content, str) else 0)
    return total


def _pieces(text: str, per_chunk: int) -> list[str]:
    """Split ``text`` into runs of a few words; ``"".join(pieces) == text``."""
    words = [w for w in re.split(r"(?<=\s)(?=\S)", text) if w]
    step = max(1, per_chunk)
    return ["".join(words[i : i + step]) for i in range(0, len(words), step)]


def pseudo_embedding(text: str, dim: int = EMBEDDING_DIM) -> list[float]:
    """A deterministic unit vector derived from the SHA-256 of ``text``."""
    raw: list[float] = []
    counter = 0
    while len(raw) < dim:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        raw.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    vec = raw[:dim]
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in vec]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        return

    # -- plumbing ---------------------------------------------------------------------------
    def _record(self) -> RecordedRequest:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = RecordedRequest(self.command, self.path, headers, raw)
        with self.server.owner.lock:
            self.server.owner.requests.append(req)
        return req

    def _send(
        self, status: int, body: str, headers: dict[str, str] | None = None, trickle: float = 0.0
    ) -> None:
        data = body.encode()
        extra = {k.lower(): v for k, v in (headers or {}).items()}
        self.send_response(status)
        self.send_header("content-type", extra.pop("content-type", "application/json"))
        self.send_header("content-length", str(len(data)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        if trickle:
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                time.sleep(trickle)
            return
        self.wfile.write(data)
        self.wfile.flush()

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj), headers)

    def _chunk(self, data: str, trickle: float = 0.0) -> None:
        payload = data.encode()
        if trickle and payload:
            for i in range(len(payload)):
                self.wfile.write(b"1\r\n" + payload[i : i + 1] + b"\r\n")
                self.wfile.flush()
                time.sleep(trickle)
            return
        self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        self.wfile.flush()

    # -- endpoints --------------------------------------------------------------------------
    def do_GET(self) -> None:
        try:
            self._record()
            if self.path.rstrip("/").endswith("/models"):
                model = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "tests"}
                self._send_json(200, {"object": "list", "data": [model]})
            else:
                self._send_json(404, _error(404, f"Unknown path {self.path}"))
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self) -> None:
        owner = self.server.owner
        try:
            req = self._record()
            reply = owner.next_reply()
            if reply.delay:
                time.sleep(reply.delay)
            if owner.api_key is not None and req.headers.get("authorization") != (
                f"Bearer {owner.api_key}"
            ):
                self._send_json(401, _error(401), reply.headers)
            elif reply.raw is not None:
                self._send(reply.status, reply.raw, reply.headers)
            elif reply.status >= 400:
                body = reply.error_body if reply.error_body is not None else _error(reply.status)
                self._send_json(reply.status, body, reply.headers)
            elif self.path.rstrip("/").endswith("/chat/completions"):
                self._chat(req, reply)
            elif self.path.rstrip("/").endswith("/embeddings"):
                self._embeddings(req, reply)
            else:
                self._send_json(404, _error(404, f"Unknown path {self.path}"))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout) before we answered

    def _chat(self, req: RecordedRequest, reply: Reply) -> None:
        model = reply.model or str(req.get("model") or MODEL_ID)
        completion_tokens = _words(reply.content or reply.tool_call_arguments or "")
        prompt_tokens = _prompt_tokens(req)
        usage = reply.usage or {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        tool_call = None
        if reply.tool_call_arguments is not None:
            tool_call = {
                "id": "call_test_1",
                "type": "function",
                "function": {"name": _tool_name(req), "arguments": reply.tool_call_arguments},
            }
        finish = reply.finish_reason or ("tool_calls" if tool_call else "stop")
        base = {"id": "chatcmpl-test", "created": int(time.time()), "model": model}
        if not req.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": reply.content}
            if tool_call:
                message = {"role": "assistant", "content": None, "tool_calls": [tool_call]}
            body: dict[str, Any] = {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            }
            if reply.send_usage:
                body["usage"] = usage
            self._send(200, json.dumps(body), reply.headers, trickle=reply.trickle)
            return

        include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
        extra = {k.lower(): v for k, v in reply.headers.items()}
        self.send_response(200)
        self.send_header("content-type", extra.pop("content-type", "text/event-stream"))
        self.send_header("transfer-encoding", "chunked")
        self.send_header("cache-control", "no-cache")
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()

        def event(delta: dict[str, Any], finish_reason: str | None = None) -> None:
            chunk: dict[str, Any] = {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
            if include_usage:
                chunk["usage"] = None
            self._chunk(f"data: {json.dumps(chunk)}\n\n", reply.trickle)
            if reply.stream_delay:
                time.sleep(reply.stream_delay)

        if reply.keepalive_only:
            end = time.monotonic() + reply.keepalive_only
            while time.monotonic() < end:
                self._chunk(": keep-alive\n\n")
                time.sleep(0.2)
            self._chunk("")
            return
        event({"role": "assistant", "content": ""})
        for n, piece in enumerate(_pieces(reply.content, reply.words_per_chunk)):
            if reply.break_after is not None and n >= reply.break_after:
                self.close_connection = True  # body left unterminated: the client sees a break
                return
            if reply.truncate_after is not None and n >= reply.truncate_after:
                self._chunk("")  # a well-formed end, but the answer stops mid-way
                return
            event({"content": piece})
        if tool_call:
            event({"tool_calls": [{"index": 0, **tool_call}]})
        event({}, finish)
        if include_usage and reply.send_usage:
            chunk = {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
            self._chunk(f"data: {json.dumps(chunk)}\n\n")
        self._chunk("data: [DONE]\n\n")
        self._chunk("")  # zero-length chunk ends the chunked body

    def _embeddings(self, req: RecordedRequest, reply: Reply) -> None:
        raw_input = req.get("input")
        inputs = raw_input if isinstance(raw_input, list) else [raw_input]
        texts = [x if isinstance(x, str) else json.dumps(x) for x in inputs]
        dim = int(req.get("dimensions") or EMBEDDING_DIM)
        data = []
        for i, text in enumerate(texts):
            vec = pseudo_embedding(text, dim)
            emb: Any = vec
            if req.get("encoding_format") == "base64":
                emb = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(_words(t) for t in texts)
        body = {
            "object": "list",
            "data": data,
            "model": reply.model or str(req.get("model") or MODEL_ID),
            "usage": reply.usage or {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        self._send(200, json.dumps(body), reply.headers, trickle=reply.trickle)


def _tool_name(req: RecordedRequest) -> str:
    tools = req.get("tools") or []
    if tools and isinstance(tools[0], dict):
        return str((tools[0].get("function") or {}).get("name") or "answer")
    schema = (req.get("response_format") or {}).get("json_schema") or {}
    return str(schema.get("name") or "answer")


def _error(status: int, message: str | None = None) -> dict[str, Any]:
    default = (f"The server had an error ({status}).", "server_error", None)
    text, kind, code = _ERROR_TEXT.get(status, default)
    return {"error": {"message": message or text, "type": kind, "param": None, "code": code}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: OpenAITestServer


class OpenAITestServer:
    """OpenAI-compatible server on 127.0.0.1 (random port) running in a daemon thread.

    ``api_key``: when set, requests without ``Authorization: Bearer <api_key>`` get a 401.
    """

    def __init__(self, *, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.default_reply = Reply(content=DEFAULT_CONTENT)
        self.lock = threading.Lock()
        self._queue: list[Reply] = []
        self._last: Reply | None = None
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- scripting --------------------------------------------------------------------------
    def script(self, *replies: Reply | str) -> None:
        """Queue replies, one per POST request; a ``str`` is a good completion of that text.

        When the queue runs dry the last scripted reply repeats (or the default good reply).
        """
        with self.lock:
            self._queue.extend(Reply(content=r) if isinstance(r, str) else r for r in replies)

    def next_reply(self) -> Reply:
        with self.lock:
            if self._queue:
                self._last = self._queue.pop(0)
            return self._last or self.default_reply

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self._queue.clear()
            self._last = None

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> OpenAITestServer:
        if self._httpd is None:
            self._httpd = _Server(("127.0.0.1", 0), _Handler)
            self._httpd.owner = self
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._httpd = None
            self._thread = None

    def __enter__(self) -> OpenAITestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def openai_test_server(*, api_key: str | None = None) -> Iterator[OpenAITestServer]:
    """Start an :class:`OpenAITestServer`, yield it, stop it."""
    server = OpenAITestServer(api_key=api_key)
    server.start()
    try:
        yield server
    finally:
        server.stop()
