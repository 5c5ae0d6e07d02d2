"""Choosing an embedding model by name or path, loading nothing that is not needed.

- ``static-minilm`` (default): the bundled static model, for ingest and semantic search;
- ``minilm-l6-int8``: the bundled transformer (ONNX, int8), slower, better alone;
- a directory: a model2vec model (``model.safetensors`` + ``tokenizer.json``) or our
  own static layout (``embeddings.npy`` + ``tokenizer.json`` + ``config.json``);
- ``sentence-transformers:NAME``: any sentence-transformers model that is already on
  disk (optional extra ``sentence-transformers``; never downloaded at run time).
"""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

from analyzer.errors import AnalyzerError
from analyzer.paths import absolute

DEFAULT_MODEL = "static-minilm"
RERANK_MODEL = "minilm-l6-int8"
ST_PREFIX = "sentence-transformers:"


Loader = Callable[[str], Any]  # a model spec in, a loaded embedder out


class ModelError(AnalyzerError):
    """An embedding model cannot be found or loaded."""


class Embedder(Protocol):
    model_id: str
    dimension: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def load_embedder(spec: str | None = None) -> Embedder:
    from modules.semantic_core.embeddings import encoders

    name = spec or DEFAULT_MODEL
    if name == encoders.STATIC_MODEL:
        return encoders.StaticEncoder.load(encoders.bundled_model_dir(name))
    if name == encoders.ONNX_MODEL:
        return encoders.OnnxEncoder.load(encoders.bundled_model_dir(name))
    if name.startswith(ST_PREFIX):
        return _sentence_transformer(name.removeprefix(ST_PREFIX))
    directory = absolute(name)
    if directory.is_dir():
        return _local_static_model(directory)
    raise ModelError(
        f"unknown model {name!r}; use {DEFAULT_MODEL}, {encoders.ONNX_MODEL}, a model2vec "
        f"model directory, or {ST_PREFIX}NAME"
    )


def _local_static_model(directory: Path) -> Embedder:
    from modules.semantic_core.embeddings.encoders import StaticEncoder, _load_tokenizer

    if (directory / "embeddings.npy").is_file():
        return StaticEncoder.load(directory)
    weights = directory / "model.safetensors"
    if not weights.is_file() or not (directory / "tokenizer.json").is_file():
        raise ModelError(
            f"{directory} is not a model2vec model (needs model.safetensors and tokenizer.json)"
        )
    try:
        embeddings = read_safetensors(weights)["embeddings"]
        config = _read_json(directory / "config.json")
        tokenizer = _load_tokenizer(directory)
    except (OSError, KeyError, ValueError) as exc:
        raise ModelError(f"cannot load model2vec model {directory}: {exc}") from None
    config = {
        "model_id": f"model2vec:{directory.resolve().name}",
        "dimension": int(embeddings.shape[1]),
        "normalize": bool(config.get("normalize", True)),
        "unk_token_id": tokenizer.token_to_id("[UNK]"),
    }
    return StaticEncoder(embeddings, tokenizer, config)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


_SAFETENSORS_DTYPES = {"F32": "float32", "F16": "float16", "F64": "float64"}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a .safetensors file (8-byte header length, JSON header, raw data)."""
    import numpy as np

    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        array = np.frombuffer(raw[base + start : base + end], dtype=dtype)
        tensors[name] = array.reshape(info["shape"]).astype(np.float32)
    return tensors


class _SentenceTransformerEmbedder:
    def __init__(self, model: Any, name: str) -> None:
        self._model = model
        self.model_id = f"{ST_PREFIX}{name}"
        self.dimension = int(model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        vectors = self._model.encode(list(texts), normalize_embeddings=True, batch_size=32)
        return np.asarray(vectors, dtype=np.float32)


def _sentence_transformer(name: str) -> Embedder:
    import os

    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ModelError(
            "sentence-transformers is not installed; pip install 'analyzer[sentence-transformers]'"
        ) from None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download at run time
    try:
        return _SentenceTransformerEmbedder(SentenceTransformer(name, device="cpu"), name)
    except Exception as exc:  # noqa: BLE001 - the library raises many types
        raise ModelError(
            f"cannot load sentence-transformers model {name!r} offline: {exc}"
        ) from None


class NamedEmbedder(Protocol):
    """An embedder that also knows the spec it was chosen by (stored with a collection)."""

    @property
    def spec(self) -> str: ...

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class Reranker(Protocol):
    """The model that re-scores hybrid candidates: texts in, normalised vectors out."""

    def encode(self, texts: Sequence[str], max_length: int | None = None) -> np.ndarray: ...


class ModelProvider(Protocol):
    """Where services get their models: passed to them at construction, never built inside."""

    def embedder(self, spec: str | None = None) -> NamedEmbedder: ...

    def reranker(self) -> Reranker: ...


class LazyEmbedder:
    """Knows a model's id and dimension cheaply; loads the weights on first ``encode``.

    An unchanged re-ingest never needs the weights, so it never pays to load them.
    """

    def __init__(self, spec: str | None = None, load: Loader | None = None) -> None:
        self.spec = spec or DEFAULT_MODEL
        self._load = load or load_embedder
        self._lock = threading.Lock()
        self._loaded: Embedder | None = None
        self._info = _bundled_info(self.spec)

    @property
    def model_id(self) -> str:
        return self._info[0] if self._info else self.loaded.model_id

    @property
    def dimension(self) -> int:
        return self._info[1] if self._info else self.loaded.dimension

    @property
    def loaded(self) -> Embedder:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load(self.spec)
            return self._loaded

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.loaded.encode(texts)


def canonical_spec(spec: str | None) -> str:
    """A model spec that means the same from any working directory: a bundled name, a
    ``sentence-transformers:`` name, or an absolute directory (``./model`` made absolute
    against the caller's directory, which in a server is the client's)."""
    name = spec or DEFAULT_MODEL
    if name in (DEFAULT_MODEL, RERANK_MODEL) or name.startswith(ST_PREFIX):
        return name
    directory = absolute(name)
    return str(directory) if directory.is_dir() else name  # else: the error names it as typed


def _bundled_info(spec: str) -> tuple[str, int] | None:
    """Id and dimension from a bundled model's config.json, without importing numpy."""
    if spec not in (DEFAULT_MODEL, RERANK_MODEL):
        return None
    config = _read_json(Path(__file__).resolve().parent / "bundled" / spec / "config.json")
    return str(config["model_id"]), int(config["dimension"])


class BundledModels:
    """The models of a process: each loaded once, on first use, however many services ask.

    A failed load raises and is tried again by the next caller.
    """

    def __init__(self, load: Loader | None = None) -> None:
        self._load = load or load_embedder
        self._lock = threading.Lock()
        self._embedders: dict[str, LazyEmbedder] = {}

    def embedder(self, spec: str | None = None) -> LazyEmbedder:
        key = canonical_spec(spec)
        with self._lock:
            found = self._embedders.get(key)
            if found is None:
                found = self._embedders[key] = LazyEmbedder(key, self._load)
            return found

    def reranker(self) -> Reranker:
        return self.embedder(RERANK_MODEL).loaded


_PROCESS_MODELS = BundledModels()


def process_models() -> BundledModels:
    """The bundled models shared by everything in this process."""
    return _PROCESS_MODELS
