"""``rag add``: papers by identifier from arXiv, OpenAlex/Crossref and PubMed, tested against a
local HTTP server (a thread on 127.0.0.1) replaying hand-written, recorded-style replies
(tests/data/lookups). Nothing here reaches the internet (conftest blocks it). The library uses
the FakeEmbedder, and the rate limiter a fake clock whose sleep only advances the clock."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from hashlib import sha1
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from rag.errors import BackendError, ConfigError, InputError
from rag.ingest.lookup import Lookup, parse_identifier
from rag.ingest.polite_http import PoliteClient, RateLimiter
from rag.interfaces import add_cli
from rag.interfaces.cli import cli
from tests.conftest import free_port
from tests.fakes import fake_library

DATA = Path(__file__).parent / "data" / "lookups"
PARROTS = "10.1145/3442188.3445922"
BERT = "10.18653/v1/N19-1423"


@dataclass
class Replay:
    """Routes: path -> replies (status, body, headers), served in order, the last repeated."""

    routes: dict[str, list[tuple[int, bytes, dict[str, str]]]] = field(default_factory=dict)
    log: list[tuple[str, dict[str, list[str]], dict[str, str]]] = field(default_factory=list)

    def on(self, path: str, *replies: tuple[int, str | bytes] | tuple[int, str, dict[str, str]]):  # type: ignore[no-untyped-def]
        self.routes[path] = [
            (r[0], r[1].encode() if isinstance(r[1], str) else r[1], r[2] if len(r) > 2 else {})  # type: ignore[misc]
            for r in replies
        ]

    def paths(self) -> list[str]:
        return [p for p, _, _ in self.log]


@pytest.fixture
def server() -> Iterator[tuple[str, Replay]]:
    replay = Replay()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            replay.log.append((parts.path, parse_qs(parts.query), dict(self.headers.items())))
            replies = replay.routes.get(parts.path) or [(404, b'{"error": "not found"}', {})]
            status, body, headers = replies.pop(0) if len(replies) > 1 else replies[0]
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", replay
    finally:
        httpd.shutdown()
        httpd.server_close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def online(base: str, **extra: Any) -> dict[str, Any]:
    return {
        "seed": False,
        "offline": False,
        "contact_email": "me@example.org",
        "arxiv_url": f"{base}/api/query",
        "openalex_url": f"{base}/openalex",
        "crossref_url": f"{base}/crossref",
        "pubmed_url": f"{base}/eutils",
        **extra,
    }


def lookup_for(lib: Any, clock: FakeClock, retries: int = 2) -> Lookup:
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    client = PoliteClient(contact="me@example.org", retries=retries, limiter=limiter)
    return Lookup(lib.settings, client)


def serve_all(replay: Replay) -> None:
    replay.on("/api/query", (200, (DATA / "arxiv_2106.09685.xml").read_text()))
    replay.on(
        f"/openalex/works/doi:{PARROTS}", (200, (DATA / "openalex_W3134360372.json").read_text())
    )
    replay.on("/eutils/efetch.fcgi", (200, (DATA / "pubmed_31452104.xml").read_text()))


def test_add_fetches_parses_ingests_and_caches(server: tuple[str, Replay], tmp_path: Path) -> None:
    base, replay = server
    serve_all(replay)
    lib = fake_library(home=tmp_path / "home", **online(base))
    clock = FakeClock()
    ids = ["arxiv:2106.09685", f"doi:{PARROTS}", "pmid:31452104"]
    report = lib.add(ids, lookup=lookup_for(lib, clock))
    assert (report.papers_added, report.fetched, report.from_cache) == (3, 3, 0)
    assert replay.paths() == ["/api/query", f"/openalex/works/doi:{PARROTS}", "/eutils/efetch.fcgi"]
    arxiv_q, openalex_q, pubmed_q = (q for _, q, _ in replay.log)
    assert arxiv_q["id_list"] == ["2106.09685"]
    assert openalex_q["mailto"] == ["me@example.org"]
    assert (pubmed_q["db"], pubmed_q["id"], pubmed_q["email"]) == (
        ["pubmed"],
        ["31452104"],
        ["me@example.org"],
    )
    agent = replay.log[0][2]["User-Agent"]
    assert agent.startswith("rag-papers/") and "mailto:me@example.org" in agent
    rows = {m["paper_id"]: m for m in lib.papers()}
    assert rows["arxiv:2106.09685"]["authors"].startswith("Hu, Edward J.")
    assert rows[f"doi:{PARROTS}"]["year"] == 2021
    pubmed = next(m for m in rows.values() if m.get("pmid") == "31452104")
    assert pubmed["venue"] == "Nature medicine"
    hit = lib.search("How big is too big for language models?", k=1)[0]
    assert hit.paper_id == f"doi:{PARROTS}"
    assert sorted(p.name for p in (tmp_path / "home" / "lookups").iterdir()) == [
        "arxiv-2106.09685.arxiv.xml",
        f"doi-{PARROTS.replace('/', '_')}-{sha1(PARROTS.encode()).hexdigest()[:8]}.openalex.json",
        "pmid-31452104.pubmed.xml",
    ]
    # The second time: no request at all (and nothing changes), even offline.
    lib2 = fake_library(home=tmp_path / "home", **online(base, offline=True))
    again = lib2.add(ids, lookup=lookup_for(lib2, clock))
    assert (again.fetched, again.from_cache, again.papers_unchanged) == (0, 3, 3)
    assert len(replay.log) == 3


def test_doi_missing_from_openalex_falls_back_to_crossref(
    server: tuple[str, Replay], tmp_path: Path
) -> None:
    base, replay = server
    replay.on(
        f"/crossref/works/{BERT.lower()}/transform/application/vnd.citationstyles.csl+json",
        (200, (DATA / "crossref_csl.json").read_text()),
    )
    lib = fake_library(home=tmp_path / "home", **online(base))
    report = lib.add([f"https://doi.org/{BERT}"], lookup=lookup_for(lib, FakeClock()))
    assert report.papers_added == 1 and report.fetched == 2
    assert [p.split("/")[1] for p in replay.paths()] == ["openalex", "crossref"]
    (row,) = lib.papers()
    assert row["title"].startswith("BERT") and row["authors"].startswith("Devlin, Jacob")
    assert "jats" not in lib.paper(row["paper_id"]).text


def test_doi_without_abstract_asks_crossref_and_keeps_openalex_when_it_fails(
    server: tuple[str, Replay], tmp_path: Path
) -> None:
    base, replay = server
    work = json.loads((DATA / "openalex_W3134360372.json").read_text())
    del work["abstract_inverted_index"]
    replay.on(f"/openalex/works/doi:{PARROTS}", (200, json.dumps(work)))
    crossref = f"/crossref/works/{PARROTS}/transform/application/vnd.citationstyles.csl+json"
    replay.on(crossref, (503, "down"))
    lib = fake_library(home=tmp_path / "home", **online(base))
    report = lib.add([f"doi:{PARROTS}"], lookup=lookup_for(lib, FakeClock(), retries=0))
    assert replay.paths() == [f"/openalex/works/doi:{PARROTS}", crossref]
    assert (report.papers_added, report.title_only) == (1, 1)


def test_rate_limit_spaces_requests_per_host() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    assert limiter.wait("export.arxiv.org", 3.0) == 0.0  # first request: no wait
    assert limiter.wait("api.openalex.org", 0.1) == 0.0  # another host: no wait
    clock.now += 1.0
    assert limiter.wait("export.arxiv.org", 3.0) == pytest.approx(2.0)
    assert limiter.wait("export.arxiv.org", 3.0) == pytest.approx(3.0)
    assert clock.slept == pytest.approx([2.0, 3.0])


def test_two_arxiv_lookups_are_three_seconds_apart(
    server: tuple[str, Replay], tmp_path: Path
) -> None:
    base, replay = server
    replay.on("/api/query", (200, (DATA / "arxiv_2106.09685.xml").read_text()))
    lib = fake_library(home=tmp_path / "home", **online(base, lookup_interval=0.0))
    clock = FakeClock()
    lookup = lookup_for(lib, clock)
    lookup.fetch(["arxiv:2106.09685", "arxiv:2106.09685v2"])
    assert len(replay.log) == 2
    assert lookup.client.limiter.waits == pytest.approx([3.0])  # arXiv's own minimum


def test_retries_on_503_with_backoff_and_retry_after(
    server: tuple[str, Replay], tmp_path: Path
) -> None:
    base, replay = server
    body = (DATA / "pubmed_31452104.xml").read_text()
    replay.on(
        "/eutils/efetch.fcgi", (503, "busy"), (429, "slow down", {"Retry-After": "7"}), (200, body)
    )
    lib = fake_library(home=tmp_path / "home", **online(base, lookup_interval=0.0))
    clock = FakeClock()
    report = lib.add(["pmid:31452104"], lookup=lookup_for(lib, clock))
    assert report.papers_added == 1 and len(replay.log) == 3
    # backoff 1 s after the 503, then the 429's Retry-After (7 s > the 2 s backoff); the
    # limiter had no wait to add (PubMed's 0.34 s had passed during each backoff)
    assert clock.slept == pytest.approx([1.0, 7.0])


def test_errors_are_one_line_naming_the_id_and_endpoint(
    server: tuple[str, Replay], tmp_path: Path
) -> None:
    base, replay = server
    replay.on("/api/query", (200, (DATA / "arxiv_empty.xml").read_text()))
    replay.on("/eutils/efetch.fcgi", (503, "down"))
    lib = fake_library(home=tmp_path / "home", **online(base))
    clock = FakeClock()
    with pytest.raises(InputError, match=r"unknown identifier \(use arxiv:ID") as err:
        lib.add(["isbn:12345"], lookup=lookup_for(lib, clock))
    assert str(err.value).startswith("isbn:12345:")
    with pytest.raises(InputError, match=r"not a valid pmid identifier"):
        lib.add(["pmid:12a"], lookup=lookup_for(lib, clock))
    assert not replay.log  # bad ids are refused before any request
    with pytest.raises(InputError) as err:
        lib.add(["arxiv:2401.99999"], lookup=lookup_for(lib, clock))
    assert str(err.value).startswith("arxiv:2401.99999: not found at ") and "/api/query" in str(
        err.value
    )
    with pytest.raises(InputError) as err:
        lib.add([f"doi:{BERT}"], lookup=lookup_for(lib, clock))
    assert "not found at" in str(err.value) and "/openalex/works/" in str(err.value)
    assert "/crossref/works/" in str(err.value)
    with pytest.raises(BackendError) as err:
        lib.add(["pmid:31452104"], lookup=lookup_for(lib, clock, retries=1))
    assert str(err.value).startswith("pmid:31452104: http://127.0.0.1:")
    assert "HTTP 503 (2 attempts)" in str(err.value)
    closed = online(base, pubmed_url=f"http://127.0.0.1:{free_port()}/eutils")  # no listener
    lib = fake_library(home=tmp_path / "home", **closed)
    with pytest.raises(BackendError, match=r"pmid:1: .*cannot reach the server") as err:
        lib.add(["pmid:1"], lookup=lookup_for(lib, clock, retries=0))
    assert "\n" not in str(err.value) and not list((tmp_path / "home" / "lookups").glob("pmid-*"))


def test_offline_by_default_refuses_before_any_request(
    server: tuple[str, Replay], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, replay = server
    serve_all(replay)
    settings = online(base)
    del settings["offline"]  # the default
    lib = fake_library(home=tmp_path / "home", **settings)
    with pytest.raises(ConfigError, match="set RAG_OFFLINE=false to allow them"):
        lib.add(["arxiv:2106.09685"], lookup=lookup_for(lib, FakeClock()))
    monkeypatch.setattr(add_cli, "open_library", lambda *a, **k: lib)
    out = CliRunner().invoke(cli, ["add", "arxiv:2106.09685", f"doi:{PARROTS}"])
    assert out.exit_code == 1
    (line,) = out.output.strip().splitlines()
    assert "RAG_OFFLINE" in line and "arxiv:2106.09685" in line
    assert not replay.log and lib.is_empty()


def test_cli_add_reports_what_it_did(
    server: tuple[str, Replay], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, replay = server
    serve_all(replay)
    for name, value in online(base, lookup_retries=0).items():
        monkeypatch.setenv(f"RAG_{name.upper()}", str(value))
    lib = fake_library(home=tmp_path / "home")  # settings from the RAG_* variables above
    monkeypatch.setattr(add_cli, "open_library", lambda *a, **k: lib)
    out = CliRunner().invoke(cli, ["add", "pmid:31452104"])
    assert out.exit_code == 0, out.output
    assert "1 request(s) made, 0 from the cache; 1 papers added" in out.output
    out = CliRunner().invoke(cli, ["add", "pmid:31452104", "--json"])
    assert '"from_cache": 1' in out.output and '"fetched": 0' in out.output


def test_rag_offline_1_forbids_requests_from_the_cli(
    server: tuple[str, Replay], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real `rag add` command in-process (no fake library: it fails before embedding)."""
    base, replay = server
    serve_all(replay)
    for name, value in online(base, offline=True).items():
        monkeypatch.setenv(f"RAG_{name.upper()}", str(value))
    monkeypatch.setenv("RAG_OFFLINE", "1")
    out = CliRunner().invoke(cli, ["add", "--home", str(tmp_path / "h"), "pmid:31452104"])
    assert out.exit_code == 1
    (line,) = out.output.strip().splitlines()
    assert "pmid:31452104" in line and "RAG_OFFLINE=false" in line
    assert not replay.log and not (tmp_path / "h" / "lookups").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("arxiv:2106.09685v2", "arxiv:2106.09685v2"),
        ("2106.09685", "arxiv:2106.09685"),
        ("https://arxiv.org/abs/hep-th/9901001", "arxiv:hep-th/9901001"),
        ("doi:10.1145/3442188.3445922", "doi:10.1145/3442188.3445922"),
        ("https://doi.org/10.18653/v1/N19-1423", "doi:10.18653/v1/n19-1423"),
        ("PMID:31452104", "pmid:31452104"),
    ],
)
def test_identifiers(text: str, expected: str) -> None:
    assert str(parse_identifier(text)) == expected
