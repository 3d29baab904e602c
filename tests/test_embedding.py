"""Tests for rag.index.embedding: the local MiniLM embedder against sentence-transformers reference
vectors (tests/data/minilm_reference.json), the SQLite cache, and make_embedder."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from rag.errors import ConfigError
from rag.index.embedders import make_embedder
from rag.index.embedding_cache import CachedEmbedder
from rag.index.minilm import MiniLMEmbedder
from rag.settings import Settings

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"


def _reference() -> tuple[list[str], npt.NDArray[np.float32]]:
    data = json.loads(REFERENCE.read_text(encoding="utf-8"))
    texts = [item["text"] for item in data["items"]]
    vectors = np.array([item["embedding"] for item in data["items"]], dtype=np.float32)
    return texts, vectors


@pytest.fixture(scope="module")
def models_dir(session_cache: Path) -> Path:
    """The session-wide model folder (conftest), laid out as make_embedder does."""
    return session_cache / "models"


@pytest.fixture(scope="module")
def minilm(models_dir: Path) -> MiniLMEmbedder:
    embedder = MiniLMEmbedder(cache_dir=models_dir)
    embedder.prepare()
    return embedder


# ---------------------------------------------------------------- real model (integration)


@pytest.mark.integration
def test_minilm_matches_sentence_transformers(minilm: MiniLMEmbedder) -> None:
    texts, expected = _reference()
    items = json.loads(REFERENCE.read_text(encoding="utf-8"))["items"]
    assert max(item["untruncated_tokens"] for item in items) > 256, "must exercise truncation"
    got = minilm.embed(texts)
    assert got.dtype == np.float32
    assert got.shape == expected.shape == (len(texts), 384)
    assert np.abs(got - expected).max() < 1e-4
    cosines = (got * expected).sum(axis=1) / np.linalg.norm(expected, axis=1)
    assert cosines.min() > 0.9999


@pytest.mark.integration
def test_minilm_rows_are_normalised_and_empty_input(minilm: MiniLMEmbedder) -> None:
    texts, _ = _reference()
    got = minilm.embed(texts)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    empty = minilm.embed([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32
    assert minilm.name == "all-MiniLM-L6-v2" and minilm.dim == 384


@pytest.mark.integration
def test_minilm_batch_equals_one_by_one(minilm: MiniLMEmbedder) -> None:
    texts, _ = _reference()
    texts = texts * 5  # 45 texts: more than one batch of 32, mixed lengths
    batched = minilm.embed(texts)
    single = np.stack([minilm.embed([t])[0] for t in texts])
    assert np.abs(batched - single).max() < 1e-5


def test_batches_keep_within_rows_and_word_pieces(models_dir: Path) -> None:
    """Length-sorted rows are cut where a batch would exceed batch_size rows or batch_tokens
    padded word pieces (rows x the longest); every row once, in order. No model run."""
    emb = MiniLMEmbedder(cache_dir=models_dir, batch_size=4, batch_tokens=600)
    lengths = [10, 20, 30, 40, 50, 150, 150, 150, 150, 256, 256, 700]
    batches = emb._batches(list(range(len(lengths))), lengths)
    assert [j for b in batches for j in b] == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 4
        assert len(b) == 1 or len(b) * max(lengths[j] for j in b) <= 600
    assert [len(b) for b in batches] == [4, 4, 2, 1, 1]
    assert emb._batches([], []) == []


@pytest.mark.integration
def test_token_budget_keeps_fp32_vectors(minilm: MiniLMEmbedder, models_dir: Path) -> None:
    """Smaller batches (batch_tokens) give the same fp32 vectors: padding is masked out.
    Real model; ~2 s on a quiet machine."""
    texts, _ = _reference()
    small = MiniLMEmbedder(cache_dir=models_dir, batch_tokens=300)
    assert np.abs(small.embed(texts) - minilm.embed(texts)).max() < 1e-5


@pytest.mark.integration
def test_onnx_built_once_and_reused(minilm: MiniLMEmbedder, models_dir: Path) -> None:
    onnx_file = models_dir / "all-MiniLM-L6-v2.onnx"
    assert onnx_file.is_file() and minilm.onnx_path == onnx_file
    before = onnx_file.stat().st_mtime_ns
    second = MiniLMEmbedder(cache_dir=models_dir)
    vec = second.embed(["reuse the built model"])
    assert second.build_seconds is None, "second instance must not rebuild"
    assert onnx_file.stat().st_mtime_ns == before
    assert vec.shape == (1, 384)
    assert not list(models_dir.glob("*.tmp")), "no temporary files left behind"


@pytest.mark.integration
def test_int8_is_close_to_fp32_named_apart_and_built_once(
    minilm: MiniLMEmbedder, models_dir: Path
) -> None:
    """RAG_QUANTIZE_EMBEDDER: the int8 graph is built once beside the fp32 one, its vectors
    stay within cosine 0.95 of fp32 (about 0.99 on average) and it has its own name (cache
    keys, library checks). Real model; ~5-10 s on a quiet machine (36 s at load ~10)."""
    texts, _ = _reference()
    q8 = MiniLMEmbedder(cache_dir=models_dir, int8=True)
    got = q8.embed(texts)
    ref = minilm.embed(texts)
    cosines = (got * ref).sum(axis=1)
    assert cosines.min() > 0.95 and cosines.mean() > 0.98
    assert np.abs(got - ref).max() > 1e-4, "must really be a different (quantised) graph"
    assert q8.name == "all-MiniLM-L6-v2-int8" != minilm.name
    assert q8.int8_path.is_file() and q8.int8_path != minilm.onnx_path
    again = MiniLMEmbedder(cache_dir=models_dir, int8=True)
    again.prepare()
    assert again.build_seconds is None, "the int8 graph is reused, not rebuilt"
    assert not list(models_dir.glob("*.tmp"))


@pytest.mark.integration
def test_onnx_rebuilt_when_safetensors_changes(tmp_path: Path) -> None:
    from rag.index.model_files import locate_minilm

    source = locate_minilm()
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in ("config.json", "tokenizer.json", "sentence_bert_config.json"):
        os.symlink(source / name, model_dir / name)
    shutil.copy2(source / "model.safetensors", model_dir / "model.safetensors")
    cache = tmp_path / "models"
    first = MiniLMEmbedder(model_dir, cache_dir=cache)
    first.prepare()
    assert first.build_seconds is not None
    st = (model_dir / "model.safetensors").stat()
    os.utime(model_dir / "model.safetensors", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = MiniLMEmbedder(model_dir, cache_dir=cache)
    second.prepare()
    assert second.build_seconds is not None, "a changed model.safetensors must trigger a rebuild"


def test_minilm_missing_model_dir_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.safetensors"):
        MiniLMEmbedder(tmp_path / "nowhere", cache_dir=tmp_path / "models")


# ---------------------------------------------------------------- cache with a fake embedder


class FakeCountingEmbedder:
    """Deterministic 4-d vectors from a hash of the text; records every call."""

    def __init__(self, name: str = "fake-a") -> None:
        self.name = name
        self.dim = 4
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        rows = [
            np.frombuffer(hashlib.sha256(f"{self.name}|{t}".encode()).digest()[:16], dtype="<i4")
            for t in texts
        ]
        out = np.array(rows, dtype=np.float32).reshape(len(texts), self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True) if len(texts) else out


def test_cache_hits_misses_and_identical_arrays(tmp_path: Path) -> None:
    fake = FakeCountingEmbedder()
    cache = CachedEmbedder(fake, tmp_path / "emb.sqlite")
    assert (cache.name, cache.dim) == ("fake-a", 4)

    first = cache.embed(["alpha", "beta", "gamma"])
    assert fake.calls == [["alpha", "beta", "gamma"]]
    assert (cache.hits, cache.misses) == (0, 3)

    second = cache.embed(["gamma", "delta", "alpha", "delta"])
    assert fake.calls[-1] == ["delta"], "only misses go to the inner embedder, once each"
    assert len(fake.calls) == 2
    assert (cache.hits, cache.misses) == (2, 4)
    assert second.dtype == np.float32 and second.shape == (4, 4)
    assert np.array_equal(second[0], first[2]) and np.array_equal(second[2], first[0])
    assert np.array_equal(second[1], second[3])

    again = cache.embed(["alpha", "beta", "gamma"])
    assert len(fake.calls) == 2
    assert np.array_equal(again, first)
    assert cache.embed([]).shape == (0, 4)


def test_cache_persists_across_instances_and_keys_by_name(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "emb.sqlite"
    a = FakeCountingEmbedder("fake-a")
    vec_a = CachedEmbedder(a, path).embed(["shared text"])

    a2 = FakeCountingEmbedder("fake-a")
    reopened = CachedEmbedder(a2, path)
    assert np.array_equal(reopened.embed(["shared text"]), vec_a)
    assert a2.calls == [] and reopened.hits == 1

    b = FakeCountingEmbedder("fake-b")
    other = CachedEmbedder(b, path)
    vec_b = other.embed(["shared text"])
    assert b.calls == [["shared text"]], "a different embedder name must not reuse vectors"
    assert other.misses == 1
    assert not np.array_equal(vec_a, vec_b)


# ---------------------------------------------------------------- make_embedder


def test_make_embedder_rejects_bogus(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bogus") as info:
        make_embedder(Settings(embedder="bogus", home=tmp_path))
    assert "minilm" in str(info.value) and "openai:MODEL" in str(info.value)
    with pytest.raises(ConfigError):
        make_embedder(Settings(embedder="openai:", home=tmp_path))


def test_make_embedder_minilm_is_cached_and_lazy(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    embedder = make_embedder(Settings(embedder="minilm", home=tmp_path, cache_dir=cache_dir))
    assert isinstance(embedder, CachedEmbedder)
    assert isinstance(embedder.inner, MiniLMEmbedder)
    assert (embedder.name, embedder.dim) == ("all-MiniLM-L6-v2", 384)
    assert embedder.inner.onnx_path == cache_dir / "models" / "all-MiniLM-L6-v2.onnx"
    assert (cache_dir / "embeddings.sqlite").is_file()
    assert not (cache_dir / "models").exists(), "the ONNX model is only built on first use"


def test_import_is_light() -> None:
    code = (
        "import sys, rag.index.embedding; "
        "print(sorted(m for m in ('onnx', 'onnxruntime', 'tokenizers', 'openai', 'torch') "
        "if m in sys.modules))"
    )
    repo = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_make_embedder_openai_is_cached(tmp_path: Path) -> None:
    embedder = make_embedder(Settings(embedder="openai:text-embedding-3-small", home=tmp_path))
    assert isinstance(embedder, CachedEmbedder)
    assert embedder.name == "openai:text-embedding-3-small"


def test_the_model_package_is_not_installed_and_pip_check_passes() -> None:
    """The weights were fetched by `rag setup` (no torch, no sentence-transformers installed)."""
    import importlib.util
    import subprocess
    import sys

    from rag.index.model_files import MINILM_SHA256, fetched_dir, locate_minilm

    assert importlib.util.find_spec("torch") is None
    assert importlib.util.find_spec("sentence_transformers") is None
    assert locate_minilm() == fetched_dir()
    import hashlib

    digest = hashlib.sha256((fetched_dir() / "model.safetensors").read_bytes()).hexdigest()
    assert digest == MINILM_SHA256
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
