"""Finding 4, the calls besides the LLM's: an OpenAI-compatible embeddings endpoint and a Chroma
server that trickle their replies (one byte at a time, so no single read ever times out) are cut
off by a wall-clock deadline, with one line naming the endpoint. Local servers on 127.0.0.1 (the
scripted OpenAI-protocol server, and a bare HTTP server standing in for a Chroma server, since a
real one cannot be made to trickle); no fakes in the code under test. About 8 s."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from rag.errors import BackendError, RagError
from rag.index.openai_embedder import OpenAIEmbedder
from rag.index.remote import _BoundedTransport
from tests.openai_server import Reply, openai_test_server

pytestmark = pytest.mark.timeout(60)


def test_a_trickling_embeddings_endpoint_stops_at_its_deadline() -> None:
    with openai_test_server() as server:
        url = server.base_url
        embedder = OpenAIEmbedder(
            "m", api_key="sk-test", base_url=server.base_url, timeout=1.0, max_retries=0, dim=8
        )
        embedder.embed(["warm up: the openai import is not what is timed"])
        server.script(Reply(trickle=0.05))
        start = time.monotonic()
        with pytest.raises(BackendError) as exc:
            embedder.embed(["a text whose embedding reply trickles in, byte by byte"])
        took = time.monotonic() - start
    message = str(exc.value)
    assert took < 5.0, f"took {took:.1f} s"
    assert "did not finish its reply within 1 s" in message and url in message


class _Trickle(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b'{"nanosecond heartbeat": 1}' * 20
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        try:
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass  # the client gave up, as it should


@pytest.fixture
def trickling_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_trickling_chroma_server_call_stops_at_twice_the_timeout(trickling_server: str) -> None:
    """Each byte comes well inside the 0.5 s read timeout; the whole call may take 1 s."""
    transport = _BoundedTransport(httpx.HTTPTransport(), trickling_server, 0.5)
    with httpx.Client(transport=transport, timeout=0.5) as client:
        start = time.monotonic()
        with pytest.raises(RagError) as exc:
            client.get(trickling_server + "/api/v2/heartbeat")
        took = time.monotonic() - start
    message = str(exc.value)
    assert took < 3.0, f"took {took:.1f} s"
    assert trickling_server in message and "did not finish a reply within 1 s" in message
