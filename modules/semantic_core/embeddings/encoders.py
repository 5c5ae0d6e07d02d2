"""Text encoders for the bundled embedding models.

Two models ship inside the package (see ``bundled/*/README.md`` and
``scripts/build_models.py``):

* ``static-minilm``  (:class:`StaticEncoder`): a static token-embedding table
  distilled from all-MiniLM-L6-v2 with model2vec. A text's vector is the mean
  of its tokens' rows, L2-normalised; ~500-1000 abstracts or several thousand
  short chunks per second (tokenisation dominates), used to embed whole
  corpora.
* ``minilm-l6-int8`` (:class:`OnnxEncoder`): all-MiniLM-L6-v2 itself as an
  int8 ONNX graph run by onnxruntime; a few tens of abstracts per second on
  2 threads (about 2.5x faster at 128 tokens than at 256), used to re-rank a
  few candidates per query.

Runtime dependencies are numpy, tokenizers and (for the ONNX model)
onnxruntime. The heavy ones are imported inside ``load()`` so importing this
module costs only numpy. Nothing is ever downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from tokenizers import Tokenizer

__all__ = [
    "BUNDLED_DIR",
    "STATIC_MODEL",
    "ONNX_MODEL",
    "StaticEncoder",
    "OnnxEncoder",
    "bundled_model_dir",
]

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
STATIC_MODEL = "static-minilm"
ONNX_MODEL = "minilm-l6-int8"

# Texts per internal batch of the static encoder: bounds the (tokens x dim)
# gather buffer to a few tens of MB even for long documents.
_STATIC_BATCH = 512
_STATIC_CHUNK_TOKENS = 8192


def bundled_model_dir(name: str) -> Path:
    """Directory of a model bundled inside the package (e.g. ``"static-minilm"``)."""
    path = BUNDLED_DIR / name
    if not (path / "config.json").is_file():
        available = (
            sorted(p.name for p in BUNDLED_DIR.iterdir() if p.is_dir())
            if BUNDLED_DIR.is_dir()
            else []
        )
        raise FileNotFoundError(
            f"no bundled model {name!r} under {BUNDLED_DIR} (available: {available})"
        )
    return path


def _read_config(directory: Path) -> dict[str, Any]:
    path = Path(directory) / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"model config not found: {path}") from None


def _load_tokenizer(directory: Path) -> Tokenizer:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(directory) / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


def _ids_of(
    tokenizer: Tokenizer, texts: Sequence[str], add_special_tokens: bool
) -> list[list[int]]:
    encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    return [e.ids for e in encode(list(texts), add_special_tokens=add_special_tokens)]


def _flatten(ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Token id lists -> (flat int64 ids, int64 lengths)."""
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    flat = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
    return flat, lengths


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 0)
    return x


class StaticEncoder:
    """Static (model2vec-style) embeddings: mean of token rows, L2-normalised.

    Reproduces ``model2vec.StaticModel.encode`` for a distilled model: text cut
    to ``max_length * median_token_length`` characters, tokenised without
    special tokens and truncated to ``max_length`` tokens, ``[UNK]`` dropped,
    rows averaged, result L2-normalised. A text without known tokens (e.g.
    ``""``) gets a zero row.
    """

    def __init__(
        self, embeddings: np.ndarray, tokenizer: Tokenizer, config: dict[str, Any]
    ) -> None:
        self.config = dict(config)
        self.model_id: str = str(config.get("model_id", "static"))
        # Gather + reduce in float32: twice the memory of the float16 file
        # (~30 MB) but no per-call conversion.
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.dimension: int = int(self.embeddings.shape[1])
        if int(config.get("dimension", self.dimension)) != self.dimension:
            raise ValueError(
                f"{self.model_id}: config dimension {config['dimension']} != table {self.dimension}"
            )
        self.tokenizer = tokenizer
        # model2vec's defaults when the config does not say: 512 tokens, and the
        # median vocabulary token length for the character pre-cut.
        self.max_length: int | None = config.get("max_length", 512)
        median = config.get("median_token_length")
        if median is None:
            median = int(np.median([len(t) for t in tokenizer.get_vocab(with_added_tokens=True)]))
        self.median_token_length: int = int(median)
        unk = config.get("unk_token_id")
        self.unk_token_id: int | None = None if unk is None else int(unk)
        self.normalize: bool = bool(config.get("normalize", True))
        if self.max_length:
            self.tokenizer.enable_truncation(int(self.max_length))
        if tokenizer.get_vocab_size(with_added_tokens=True) > self.embeddings.shape[0]:
            raise ValueError(f"{self.model_id}: tokenizer has more tokens than embedding rows")

    @classmethod
    def load(cls, directory: Path) -> StaticEncoder:
        directory = Path(directory)
        config = _read_config(directory)
        embeddings = np.load(directory / "embeddings.npy", allow_pickle=False)
        return cls(embeddings, _load_tokenizer(directory), config)

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids as the model sees them (no special tokens, [UNK] kept)."""
        if self.max_length:
            limit = int(self.max_length) * self.median_token_length
            texts = [t[:limit] for t in texts]
        return _ids_of(self.tokenizer, texts, add_special_tokens=False)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not a single string")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), _STATIC_BATCH):
            batch = texts[start : start + _STATIC_BATCH]
            out[start : start + len(batch)] = self._encode_batch(batch)
        return out

    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        flat, lengths = _flatten(self.tokenize(texts))
        if self.unk_token_id is not None and flat.size:
            keep = flat != self.unk_token_id
            if not keep.all():
                row = np.repeat(np.arange(len(texts)), lengths)[keep]
                flat = flat[keep]
                lengths = np.bincount(row, minlength=len(texts)).astype(np.int64)
        ends = np.cumsum(lengths)
        starts = ends - lengths
        # Gather + reduceat over runs of ~_STATIC_CHUNK_TOKENS tokens: the
        # gathered (tokens x dim) buffer stays cache-sized (2-3x faster than
        # one big gather on long texts).
        i, n = 0, len(texts)
        while i < n:
            j = int(np.searchsorted(ends, starts[i] + _STATIC_CHUNK_TOKENS, side="right"))
            j = min(max(j, i + 1), n)
            rows = np.nonzero(lengths[i:j])[0] + i
            if rows.size:
                base = starts[i]
                gathered = self.embeddings[flat[base : ends[j - 1]]]
                sums = np.add.reduceat(gathered, starts[rows] - base, axis=0)
                out[rows] = sums / lengths[rows, None]
            i = j
        return _l2_normalise(out) if self.normalize else out


class OnnxEncoder:
    """Transformer sentence embeddings from an ONNX graph (``last_hidden_state``).

    Tokenised with [CLS]/[SEP] and truncated at ``max_length`` tokens, batched
    by length (least padding), mean-pooled over the attention mask and
    L2-normalised, as sentence-transformers does. Texts with no tokens besides
    the special ones (e.g. ``""``) get a zero row.

    The int8 graph quantises activations per batch tensor, so a text's vector
    moves slightly (cosine > 0.95, ~0.99 for similar lengths) with the batch it
    is encoded in; ``batch_size=1`` makes vectors batch-independent. Results
    for the same input list are always identical.
    """

    def __init__(self, session: Any, tokenizer: Tokenizer, config: dict[str, Any]) -> None:
        self.config = dict(config)
        self.model_id: str = str(config.get("model_id", "onnx"))
        self.dimension: int = int(config["dimension"])
        self.max_length: int = int(config.get("max_length", 256))
        self.pad_token_id: int = int(config.get("pad_token_id", 0))
        self.session = session
        self.tokenizer = tokenizer
        tokenizer.enable_truncation(self.max_length)
        self._input_names = {i.name for i in session.get_inputs()}
        self._output_name = config.get("output", session.get_outputs()[0].name)
        self._sep_id = tokenizer.token_to_id("[SEP]")
        self._n_special = int(tokenizer.num_special_tokens_to_add(False))

    @classmethod
    def load(cls, directory: Path, threads: int = 2) -> OnnxEncoder:
        import onnxruntime as ort

        directory = Path(directory)
        config = _read_config(directory)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # Worker threads sleep between operators instead of spinning: on a machine whose
        # cores are busy with other work, spinning threads took the cores from each other
        # (40 passages of 64 tokens and a query: 450 ms spinning, 310 ms not, one run).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # onnxruntime graph rewrites the model is faster without (config.json
        # "ort_disabled_optimizers"): on this runtime SkipLayerNormalization and
        # BiasGelu are slower than the LayerNormalization + Add / Gelu they replace.
        # (InferenceSession takes ``disabled_optimizers`` as a keyword in every onnxruntime
        # the project allows, >= 1.17.)
        session = ort.InferenceSession(
            str(directory / "model.onnx"),
            sess_options=opts,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=config.get("ort_disabled_optimizers") or None,
        )
        return cls(session, _load_tokenizer(directory), config)

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, max_length: int | None = None
    ) -> np.ndarray:
        """Embed ``texts``; ``max_length`` (<= the model's) truncates harder for speed."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not a single string")
        n = len(texts)
        out = np.zeros((n, self.dimension), dtype=np.float32)
        if n == 0:
            return out
        limit = (
            self.max_length if max_length is None else max(2, min(int(max_length), self.max_length))
        )
        ids = _ids_of(self.tokenizer, texts, add_special_tokens=True)
        flat, lengths = _flatten(ids)
        offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        # Texts that are only [CLS] [SEP] carry no content: leave them zero.
        content = lengths > self._n_special
        used = np.minimum(lengths, limit)
        order = np.argsort(used, kind="stable")
        order = order[content[order]]
        for rows in self._batches(order, used, max(1, int(batch_size))):
            out[rows] = self._run(flat, offsets[rows], lengths[rows], limit)
        return _l2_normalise(out)

    @staticmethod
    def _batches(order: np.ndarray, used: np.ndarray, batch_size: int):
        """Consecutive runs of the length-sorted rows, at most ``batch_size``
        long, never padding a row to more than twice (+8) its own length.

        Bounded padding saves work, and it matters for int8 models:
        dynamic quantisation scales activations per batch tensor, so a short
        text padded next to a long one would drift from its solo vector.
        """
        start = 0
        n = len(order)
        while start < n:
            cap = 2 * int(used[order[start]]) + 8
            end = min(start + batch_size, n)
            end = start + int(np.searchsorted(used[order[start:end]], cap, side="right"))
            end = max(end, start + 1)
            yield order[start:end]
            start = end

    def _run(
        self, flat: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, limit: int
    ) -> np.ndarray:
        used = np.minimum(lengths, limit)
        width = int(used.max())
        b = len(used)
        mask = (np.arange(width)[None, :] < used[:, None]).astype(np.int64)
        row, col = np.nonzero(mask)
        input_ids = np.full((b, width), self.pad_token_id, dtype=np.int64)
        input_ids[row, col] = flat[offsets[row] + col]
        cut = lengths > used
        if cut.any() and self._sep_id is not None:  # harder truncation: keep [SEP] last
            input_ids[np.nonzero(cut)[0], used[cut] - 1] = self._sep_id
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        hidden = self.session.run([self._output_name], feeds)[0]
        m = mask.astype(np.float32)[:, :, None]
        return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
