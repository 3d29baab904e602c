"""Settings: precedence, .env support, and the documented variable list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.settings import Settings, env_example
from tests.conftest import REPO


def test_env_example_lists_every_setting() -> None:
    text = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^# ((?:RAG|OPENAI)_[A-Z_]+)=", text, re.M))
    for name, field in Settings.model_fields.items():
        names = (
            field.validation_alias.choices if field.validation_alias else [f"RAG_{name.upper()}"]
        )  # type: ignore[union-attr]
        assert set(names) <= documented, name


def test_explicit_arguments_beat_environment_beat_dotenv(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (Path.cwd() / ".env").write_text("RAG_TOP_K=4\nRAG_COLLECTION=from-dotenv\nRAG_CHROMA_URL=\n")
    assert Settings().top_k == 4 and Settings().collection == "from-dotenv"
    assert Settings().chroma_url is None  # an empty value means unset
    monkeypatch.setenv("RAG_TOP_K", "9")
    assert Settings().top_k == 9
    assert Settings(top_k=2).top_k == 2


def test_api_key_alone_never_enables_an_llm(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-stray")
    settings = Settings()
    assert settings.llm == "extractive" and settings.embedder == "minilm"
    assert settings.openai_api_key is not None  # read, but unused unless llm/embedder say so


def test_env_example_is_generated_from_the_settings() -> None:
    assert (REPO / ".env.example").read_text() == env_example()


def test_unknown_keyword_is_an_error_naming_the_nearest_setting() -> None:
    with pytest.raises(ConfigError, match=r"unknown setting 'top_kk' \(did you mean top_k\?\)"):
        Settings(top_kk=3)
    from rag.library import Library

    with pytest.raises(ConfigError, match="did you mean chunk_tokens"):
        Library(chunk_token=100)


def test_unknown_rag_variable_is_an_error_naming_the_nearest(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RAG_TOPK", "3")
    with pytest.raises(ConfigError, match=r"unknown variable RAG_TOPK \(did you mean top_k\?\)"):
        Settings()


def test_unknown_key_in_dotenv_is_an_error() -> None:
    (Path.cwd() / ".env").write_text("RAG_RETRIVAL=bm25\n")
    with pytest.raises(
        ConfigError, match=r"unknown variable RAG_RETRIVAL in \.env \(did you mean retrieval\?\)"
    ):
        Settings()
