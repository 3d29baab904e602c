"""all-MiniLM-L6-v2 on onnxruntime: the default, fully offline embedder.

The ONNX graph is built once from the packaged ``model.safetensors`` (no torch, no transformers)
and reproduces sentence-transformers' output: BERT encoder, mean pooling over the attention mask,
L2 normalisation. The model reads at most ``max_seq_length`` (256) word pieces, ``[CLS]`` and
``[SEP]`` included; :meth:`MiniLMEmbedder.count_tokens` counts them so that chunks can be budgeted
to fit (see :mod:`rag.index.chunking`). onnxruntime, onnx and tokenizers are imported lazily.

Thread-safe: the tokenizer and the session are loaded once under a lock; onnxruntime sessions and
tokenizers may then be used from several threads at once.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rag.errors import ConfigError
from rag.index.embedding import Matrix, l2_normalize

MINILM_NAME = "all-MiniLM-L6-v2"
MINILM_PACKAGE_HINT = "run `rag setup`, or set RAG_MODEL_DIR"
_BUILDER_VERSION = "2"  # bump when the graph layout changes: cached ONNX files are then rebuilt
_OPSET = 17  # LayerNormalization is in the default domain from opset 17
_CPU = ["CPUExecutionProvider"]


def _fingerprint_of(session: Any) -> str | None:
    if session is None:
        return None
    return session.get_modelmeta().custom_metadata_map.get("source_fingerprint")  # type: ignore[no-any-return]


def _source_fingerprint(model_dir: Path) -> str:
    st = (model_dir / "model.safetensors").stat()
    return f"v{_BUILDER_VERSION}:{st.st_size}:{st.st_mtime_ns}"


def build_minilm_onnx(model_dir: Path, out_path: Path) -> Path:
    """Write the BERT encoder in ``model_dir/model.safetensors`` as an ONNX graph at ``out_path``.

    Inputs: int64 ``input_ids``, ``attention_mask``, ``token_type_ids`` [batch, seq]; output:
    ``last_hidden_state`` [batch, seq, hidden]. Written to a temporary file, validated with
    ``onnx.checker``, then moved into place atomically.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    variant = (cfg.get("hidden_act", "gelu"), cfg.get("position_embedding_type", "absolute"))
    if variant != ("gelu", "absolute"):
        raise ConfigError(f"unsupported BERT variant {variant}", where=str(model_dir))
    hidden, heads = int(cfg["hidden_size"]), int(cfg["num_attention_heads"])
    layers, eps = int(cfg["num_hidden_layers"]), float(cfg.get("layer_norm_eps", 1e-12))
    head_dim = hidden // heads

    raw = load_file(str(model_dir / "model.safetensors"))
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in raw else ""
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def weight(key: str, transpose: bool = False) -> str:
        if prefix + key not in raw:
            raise ConfigError(f"model.safetensors lacks {prefix + key}", where=str(model_dir))
        arr = raw[prefix + key].astype(np.float32)
        return const(key, np.ascontiguousarray(arr.T) if transpose else arr)

    def const(name: str, value: npt.ArrayLike, dtype: type = np.float32) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=f"{op}_{len(nodes)}", **attrs))
        return out

    def layer_norm(x: str, key: str, out: str) -> str:
        params = [weight(f"{key}.weight"), weight(f"{key}.bias")]
        return node("LayerNormalization", [x, *params], out, axis=-1, epsilon=eps)

    def dense(x: str, key: str, out: str) -> str:  # x @ W.T + b
        y = node("MatMul", [x, weight(f"{key}.weight", transpose=True)], f"{out}.mm")
        return node("Add", [y, weight(f"{key}.bias")], out)

    # Embeddings: word + token type + position[0:seq], then LayerNorm.
    word = node("Gather", [weight("embeddings.word_embeddings.weight"), "input_ids"], "e.word")
    ttype = node(
        "Gather", [weight("embeddings.token_type_embeddings.weight"), "token_type_ids"], "e.type"
    )
    seq_len = node("Shape", ["input_ids"], "seq_len", start=1, end=2)
    zero, axis0 = const("zero", [0], np.int64), const("axis0", [0], np.int64)
    pos_table = weight("embeddings.position_embeddings.weight")
    pos = node("Slice", [pos_table, zero, seq_len, axis0], "e.pos")
    summed = node("Add", [node("Add", [word, ttype], "e.wt"), pos], "e.sum")
    x = layer_norm(summed, "embeddings.LayerNorm", "e.out")

    # Additive attention mask, [batch, 1, 1, seq]: 0 where attended, float32 min on padding.
    mask_f = node("Cast", ["attention_mask"], "m.float", to=TensorProto.FLOAT)
    inv = node("Sub", [const("one", 1.0), mask_f], "m.inv")
    bias = node("Mul", [inv, const("neg_big", np.finfo(np.float32).min)], "m.bias")
    mask4 = node("Unsqueeze", [bias, const("axes12", [1, 2], np.int64)], "m.bias4")

    split_shape = const("split_shape", [0, 0, heads, head_dim], np.int64)
    merge_shape = const("merge_shape", [0, 0, hidden], np.int64)
    scale = const("scale", 1.0 / math.sqrt(head_dim))
    half, sqrt2 = const("half", 0.5), const("sqrt2", math.sqrt(2.0))

    def heads_of(x: str, key: str, out: str, perm: list[int]) -> str:
        split = node("Reshape", [dense(x, key, out), split_shape], f"{out}.split")
        return node("Transpose", [split], f"{out}.t", perm=perm)

    for i in range(layers):
        p, n = f"encoder.layer.{i}.", f"l{i}."
        q = heads_of(x, f"{p}attention.self.query", f"{n}q", [0, 2, 1, 3])  # [b, h, s, d]
        k = heads_of(x, f"{p}attention.self.key", f"{n}k", [0, 2, 3, 1])  # [b, h, d, s]
        v = heads_of(x, f"{p}attention.self.value", f"{n}v", [0, 2, 1, 3])
        scores = node("Mul", [node("MatMul", [q, k], f"{n}qk"), scale], f"{n}scores")
        probs = node("Softmax", [node("Add", [scores, mask4], f"{n}masked")], f"{n}p", axis=-1)
        ctx = node("MatMul", [probs, v], f"{n}ctx")
        ctx = node("Transpose", [ctx], f"{n}ctx.t", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge_shape], f"{n}ctx.merged")
        res = node("Add", [dense(ctx, f"{p}attention.output.dense", f"{n}attn"), x], f"{n}res1")
        x = layer_norm(res, f"{p}attention.output.LayerNorm", f"{n}attn.out")
        # Exact GELU laid out as (h * (1 + erf(h / sqrt2))) * 0.5, which onnxruntime fuses.
        h = dense(x, f"{p}intermediate.dense", f"{n}ff1")
        erf = node("Erf", [node("Div", [h, sqrt2], f"{n}d")], f"{n}erf")
        erf1 = node("Add", [erf, "one"], f"{n}e1")
        gelu = node("Mul", [node("Mul", [h, erf1], f"{n}g"), half], f"{n}gelu")
        res = node("Add", [dense(gelu, f"{p}output.dense", f"{n}ff2"), x], f"{n}res2")
        out = "last_hidden_state" if i == layers - 1 else f"{n}out"
        x = layer_norm(res, f"{p}output.LayerNorm", out)

    names = ("input_ids", "attention_mask", "token_type_ids")
    ins = [helper.make_tensor_value_info(s, TensorProto.INT64, ["batch", "seq"]) for s in names]
    outs = [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch", "seq", hidden])]
    graph = helper.make_graph(nodes, "minilm_encoder", ins, outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version, model.producer_name = 8, "rag"
    helper.set_model_props(model, {"source_fingerprint": _source_fingerprint(model_dir)})

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    try:
        onnx.save_model(model, tmp)
        onnx.checker.check_model(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out_path


def quantize_minilm(fp32_path: Path, out_path: Path, fingerprint: str) -> Path:
    """Write an int8 copy of the graph at ``fp32_path``: dynamic quantisation of the MatMul
    weights, per output channel (activations stay fp32). Atomic, like :func:`build_minilm_onnx`."""
    import onnx
    from onnx import helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fd, tmp = tempfile.mkstemp(prefix=f"{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    logging.disable(logging.WARNING)  # its advice to pre-process is for static quantisation
    try:
        quantize_dynamic(fp32_path, tmp, op_types_to_quantize=["MatMul"], per_channel=True,
                         weight_type=QuantType.QInt8)  # fmt: skip
        model = onnx.load(tmp)
        del model.metadata_props[:]
        helper.set_model_props(model, {"source_fingerprint": fingerprint + ":int8"})
        onnx.save_model(model, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    finally:
        logging.disable(logging.NOTSET)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out_path


def default_minilm_dir() -> Path:
    """The model folder (see :mod:`rag.index.model_files`)."""
    from rag.index.model_files import locate_minilm

    return locate_minilm()


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on onnxruntime (CPU), numerically equivalent to sentence-transformers
    (``int8``: MatMul weights quantised to int8, cosine ~0.99 to fp32, named ``...-int8``)."""

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        cache_dir: Path,
        batch_size: int = 32,
        threads: int | None = None,
        int8: bool = False,
        batch_tokens: int = 4096,
    ) -> None:
        self.int8 = int8
        self.name = f"{MINILM_NAME}-int8" if int8 else MINILM_NAME
        self.model_dir = Path(model_dir).expanduser() if model_dir else default_minilm_dir()
        needed = ("model.safetensors", "tokenizer.json", "config.json")
        missing = [f for f in needed if not (self.model_dir / f).is_file()]
        if missing:
            msg, hint = (
                f"model folder lacks {', '.join(missing)}",
                MINILM_PACKAGE_HINT,
            )
            raise ConfigError(msg, where=str(self.model_dir), hint=hint)
        cfg = json.loads((self.model_dir / "config.json").read_text(encoding="utf-8"))
        st_cfg = self.model_dir / "sentence_bert_config.json"
        st = json.loads(st_cfg.read_text(encoding="utf-8")) if st_cfg.is_file() else {}
        self.dim: int = int(cfg["hidden_size"])
        limit = int(cfg.get("max_position_embeddings", 512))
        self.max_seq_length = min(int(st.get("max_seq_length", 256)), limit)
        self.onnx_path = Path(cache_dir).expanduser() / f"{MINILM_NAME}.onnx"
        self.int8_path = self.onnx_path.with_name(f"{MINILM_NAME}-int8.onnx")
        # Rows per batch: at most batch_size, and at most batch_tokens word pieces (padding
        # included). Attention buffers grow with rows x length^2 and onnxruntime's arena keeps
        # its largest: 32 x 256 cost ~500 MB (int8 ~830 MB), 16 x 256 half, at the same speed.
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.threads = threads or os.cpu_count() or 1
        self.build_seconds: float | None = None  # set when this instance (re)built the ONNX file
        self._session: Any = None
        self._tokenizer: Any = None
        self._counter: Any = None  # the same tokenizer without truncation, to count tokens
        self._lock = threading.Lock()

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads, [CLS] and [SEP] included."""
        return self.max_seq_length

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` as the model would read them, [CLS] and [SEP] included."""
        if self._counter is None:
            from tokenizers import Tokenizer

            counter = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            counter.no_padding()
            counter.no_truncation()
            self._counter = counter
        return len(self._counter.encode(text).ids)

    def prepare(self) -> None:
        """Build the ONNX file if it is missing or stale, then load the tokenizer and session."""
        if self._session is not None:
            return
        with self._lock:
            if self._session is None:
                self._prepare()

    def _prepare(self) -> None:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tokenizer.no_padding()  # tokenizer.json pads to 128: we pad per batch instead
        tokenizer.enable_truncation(max_length=self.max_seq_length)
        fingerprint = _source_fingerprint(self.model_dir)
        path = self.int8_path if self.int8 else self.onnx_path
        session = self._load_session(path)
        if _fingerprint_of(session) != fingerprint + (":int8" if self.int8 else ""):
            start = time.perf_counter()
            if _fingerprint_of(self._load_session(self.onnx_path)) != fingerprint:
                build_minilm_onnx(self.model_dir, self.onnx_path)
            if self.int8:
                quantize_minilm(self.onnx_path, self.int8_path, fingerprint)
            self.build_seconds = time.perf_counter() - start
            session = self._load_session(path)
            if session is None:
                raise ConfigError("onnxruntime cannot load this model", where=str(path))
        self._tokenizer, self._session = tokenizer, session

    def _load_session(self, path: Path) -> Any:
        if not path.is_file():
            return None
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle workers sleep instead of spinning: 1.13-1.15x on a shared 2-core machine
        # (bench/embed_levers.py, two runs), same vectors.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(str(path), opts, providers=_CPU)
        except Exception:  # truncated or foreign file: the caller rebuilds it
            return None

    def _batches(self, order: list[int], lengths: list[int]) -> list[list[int]]:
        """``order`` (sorted by length) cut into batches within batch_size and batch_tokens."""
        batches: list[list[int]] = []
        batch: list[int] = []
        for j in order:  # lengths grow along order: the new row sets the padded length
            rows = len(batch) + 1
            full = rows > self.batch_size or rows * lengths[j] > self.batch_tokens
            if batch and full:
                batches.append(batch)
                batch = []
            batch.append(j)
        return [*batches, batch] if batch else batches

    def embed(self, texts: Sequence[str]) -> Matrix:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        self.prepare()
        encodings = [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(texts)), key=lambda j: len(encodings[j]))  # less padding
        for idx in self._batches(order, [len(e) for e in encodings]):
            ids = np.zeros((len(idx), max(len(encodings[j]) for j in idx)), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, j in enumerate(idx):
                ids[row, : len(encodings[j])] = encodings[j]
                mask[row, : len(encodings[j])] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self._session.run(["last_hidden_state"], feeds)[0]
            m = mask.astype(np.float32)[:, :, None]
            out[idx] = l2_normalize((hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9))
        return out
