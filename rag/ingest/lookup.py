"""Papers by identifier (``rag add arxiv:2401.00001 doi:10.1145/... pmid:12345``): the metadata
and abstract fetched from the public arXiv API (Atom), OpenAlex (then Crossref's CSL-JSON when
OpenAlex lacks the DOI or its abstract) and PubMed efetch (XML), each reply parsed by the
existing reader of its format.

Lookups are opt-in: with ``RAG_OFFLINE`` true (the default) no request goes out, and an
identifier not already in the cache is one error naming the setting. Replies are cached under
``HOME/lookups`` as ordinary input files (``arxiv-2401.00001.arxiv.xml``...), which the library
then ingests like any other file: a second lookup of an identifier makes no request. Requests
are polite (:mod:`rag.ingest.polite_http`)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from rag.errors import ConfigError, InputError, RagError
from rag.ingest.fields import ARXIV_RE
from rag.ingest.polite_http import NotFound, PoliteClient
from rag.settings import Settings

KINDS = ("arxiv", "doi", "pmid")
#: Seconds between two requests to one service's host (arXiv asks for 3 s; NCBI allows
#: 3 requests/s without an API key); the ``lookup_interval`` setting may only lengthen them.
MIN_INTERVAL = {"arxiv": 3.0, "pubmed": 0.34, "openalex": 0.1, "crossref": 0.1}
USAGE = "use arxiv:ID, doi:10.NNNN/... or pmid:NUMBER"


@dataclass(frozen=True)
class Identifier:
    kind: str  # arxiv | doi | pmid
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"

    def stem(self) -> str:
        """A file-name-safe stem (a hash is added when characters had to be replaced)."""
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", self.value)
        if safe != self.value:
            safe += "-" + hashlib.sha1(self.value.encode()).hexdigest()[:8]
        return f"{self.kind}-{safe}"


def parse_identifier(text: str) -> Identifier:
    """``arxiv:2401.00001``, ``doi:10.1145/x``, ``pmid:12345``; also a bare arXiv id or DOI, a
    doi.org or arxiv.org/abs URL. Anything else is an :class:`InputError` saying what works."""
    raw = text.strip()
    prefix, _, rest = raw.partition(":")
    kind = prefix.lower()
    if kind in ("https", "http"):
        parts = urlsplit(raw)
        if parts.netloc.endswith("doi.org"):
            kind, rest = "doi", parts.path.lstrip("/")
        elif parts.netloc.endswith("arxiv.org"):
            kind, rest = "arxiv", re.sub(r"^/(abs|pdf)/|\.pdf$", "", parts.path)
    elif kind not in KINDS:
        kind, rest = ("doi", raw) if raw.startswith("10.") else ("arxiv", raw)
    rest = rest.strip()
    if kind == "doi" and re.fullmatch(r"10\.\d{4,9}/\S+", rest):
        return Identifier("doi", rest.lower())
    if kind == "arxiv" and ARXIV_RE.match(rest):
        return Identifier("arxiv", rest)
    if kind == "pmid" and re.fullmatch(r"\d{1,9}", rest):
        return Identifier("pmid", rest)
    if prefix.lower() in KINDS:
        raise InputError(f"not a valid {prefix.lower()} identifier ({USAGE})", where=raw or "''")
    raise InputError(f"unknown identifier ({USAGE})", where=raw or "''")


@dataclass(frozen=True)
class Request:
    service: str  # arxiv | openalex | crossref | pubmed
    url: str
    path: Path  # where the reply is cached
    accept: str = "*/*"


def requests_for(ident: Identifier, s: Settings, cache: Path) -> list[Request]:
    """The requests that look ``ident`` up, in order (a DOI: OpenAlex, then Crossref)."""
    mail = {"mailto": s.contact_email} if s.contact_email else {}
    stem = ident.stem()
    if ident.kind == "arxiv":
        query = urlencode({"id_list": ident.value, "max_results": 1})
        return [Request("arxiv", f"{s.arxiv_url}?{query}", cache / f"{stem}.arxiv.xml")]
    if ident.kind == "pmid":
        params = {"db": "pubmed", "id": ident.value, "retmode": "xml", "tool": "rag-papers"}
        if s.contact_email:
            params["email"] = s.contact_email
        url = f"{s.pubmed_url.rstrip('/')}/efetch.fcgi?{urlencode(params)}"
        return [Request("pubmed", url, cache / f"{stem}.pubmed.xml")]
    doi = quote(ident.value, safe="/")
    tail = f"?{urlencode(mail)}" if mail else ""
    return [
        Request(
            "openalex",
            f"{s.openalex_url.rstrip('/')}/works/doi:{doi}{tail}",
            cache / f"{stem}.openalex.json",
            "application/json",
        ),
        Request(
            "crossref",
            f"{s.crossref_url.rstrip('/')}/works/{doi}/transform/"
            f"application/vnd.citationstyles.csl+json{tail}",
            cache / f"{stem}.crossref.json",
            "application/vnd.citationstyles.csl+json",
        ),
    ]


@dataclass
class Found:
    """The outcome of a lookup: the cached reply files to ingest, and what it cost."""

    files: list[Path] = field(default_factory=list)
    fetched: int = 0  # requests made
    cached: int = 0  # identifiers answered from the cache


class Lookup:
    """Looks identifiers up (or finds them in the cache); see the module docs."""

    def __init__(self, settings: Settings, client: PoliteClient | None = None) -> None:
        self.settings = settings
        self.cache = settings.resolved_home() / "lookups"
        self.client = client or PoliteClient(
            contact=settings.contact_email,
            timeout=settings.lookup_timeout,
            retries=settings.lookup_retries,
        )

    def interval(self, service: str) -> float:
        return max(self.settings.lookup_interval, MIN_INTERVAL.get(service, 0.0))

    def fetch(self, identifiers: Sequence[str]) -> Found:
        """Every identifier's reply files; all are checked (syntax, then offline) before any
        request goes out."""
        idents = list(dict.fromkeys(parse_identifier(t) for t in identifiers))
        if not idents:
            raise InputError(f"no identifier given ({USAGE})")
        plans = {i: requests_for(i, self.settings, self.cache) for i in idents}
        missing = [i for i, reqs in plans.items() if not self._cached(reqs)]
        if missing and self.settings.offline:
            first = plans[missing[0]][0]
            raise ConfigError(
                f"looking up {missing[0]} needs {urlsplit(first.url).netloc}, and online lookups "
                "are off (RAG_OFFLINE is true, as by default): set RAG_OFFLINE=false to allow them",
                where="rag add",
            )
        found = Found()
        for ident, reqs in plans.items():
            if ident in missing:
                found.files.extend(self._fetch(ident, reqs, found))
            else:
                found.files.extend(self._cached(reqs))
                found.cached += 1
        return found

    @staticmethod
    def _cached(reqs: list[Request]) -> list[Path]:
        return [r.path for r in reqs if r.path.is_file()]

    def _fetch(self, ident: Identifier, reqs: list[Request], found: Found) -> list[Path]:
        files: list[Path] = []
        misses: list[str] = []
        for req in reqs:
            if files and not self._lacks_abstract(files[-1]):
                break  # a DOI whose OpenAlex record has its abstract: Crossref not needed
            try:
                found.fetched += 1
                reply = self.client.get(
                    req.url, what=str(ident), interval=self.interval(req.service), accept=req.accept
                )
                files.append(self._store(ident, req, reply.body))
            except NotFound:
                misses.append(req.url)
            except RagError:
                if not files:
                    raise
                break  # Crossref, asked for a missing abstract, failed: OpenAlex's record stays
        if not files:
            where = " or ".join(misses)
            raise InputError(f"not found at {where}", where=str(ident))
        return files

    def _store(self, ident: Identifier, req: Request, body: bytes) -> Path:
        """Check the reply with its reader, then cache it (written whole, then renamed)."""
        from rag.ingest.registry import parse_file

        req.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = req.path.with_name(f".{os.getpid()}.{req.path.name}")  # same suffix: same format
        tmp.write_bytes(body)
        try:
            items = list(parse_file(tmp))
            papers = [p for p in items if not isinstance(p, InputError)]
            if not papers:
                problem = next((str(e) for e in items if isinstance(e, InputError)), "no record")
                raise NotFound(f"{req.url} returned no paper: {problem}", where=str(ident))
        except NotFound:
            tmp.unlink(missing_ok=True)
            raise
        except InputError as e:
            tmp.unlink(missing_ok=True)
            if "no arXiv <entry>" in str(e) or "no <PubmedArticle>" in str(e):
                raise NotFound(f"not found at {req.url} (empty result)", where=str(ident)) from None
            raise InputError(
                f"{req.url} returned an unreadable reply: {e.message}", where=str(ident)
            ) from None
        os.replace(tmp, req.path)
        return req.path

    @staticmethod
    def _lacks_abstract(path: Path) -> bool:
        from rag.ingest.registry import parse_file

        return all(isinstance(p, InputError) or not p.abstract for p in parse_file(path))
