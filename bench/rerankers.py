"""Re-ranker benchmark: the bundled bi-encoder against other models on BM25's top 40.

    python bench/rerankers.py [--eval ../shared/eval] [--cache DIR] [--no-service] \
        [MODEL ...]
    python bench/rerankers.py --realdocs MODEL -- [bench/realdocs.py arguments]

A MODEL is ``bundled`` (the model hybrid search ships with), ``bi:DIR`` (a bi-encoder
directory laid out like ``minilm-l6-int8``: ``model.onnx`` returning
``last_hidden_state``, ``tokenizer.json``, ``config.json``) or ``cross:DIR`` (a
cross-encoder: ``model.onnx`` taking the pair ``[CLS] query [SEP] passage [SEP]`` and
returning one logit per pair, ``tokenizer.json``, ``config.json`` with ``max_length``);
``scripts/train_reranker.py`` builds both kinds.

For each judged collection (SciFact train, Cranfield test; Cranfield is held out: never
choose a setting by it) the corpus is ingested through the ingest service into a
temporary data directory, and every judged query runs through the search service in
keyword mode. Its top 40 documents are the head; each document's passage is its best
BM25 chunk cut as hybrid search cuts it (``focused_passage``: heading plus the 64-token
window holding the most query terms). Each model re-scores the 40 passages, and the head
is ordered

- ``mix``: 0.4 x min-max BM25 + 0.6 x min-max model score, as hybrid search mixes;
- ``pure``: the model score alone;

with BM25's order after the head. Printed per model: nDCG@10 of both orders and the mean
milliseconds to re-score one query's 40 passages (onnxruntime, int8, 2 threads). Unless
``--no-service``, hybrid search itself (``analyzer query`` with the defaults, which also
reads a second chunk of the top 10 documents) is scored first as the baseline.

``--cache DIR`` keeps each collection's heads as JSON there, so a later run with other
models neither ingests nor searches again.

``--realdocs MODEL`` runs ``bench/realdocs.py`` (arguments after ``--``) with hybrid
search's re-ranker swapped for MODEL: the hook replaces the function of the search
service that scores passages against the question (``service._cosines``), so the mix,
the second look and the line location all use the model's scores. Min-max scaling makes
the mix indifferent to a logit's range; shown scores and ``--min-score`` are not.

Measured (nDCG@10, SciFact train / Cranfield test; models from ``train_reranker.py`` on
3,566 pairs: 2,000 SciFact titles, 1,000 Python doc headings, 566 man page names):

| re-ranker | mix | pure |
| --- | --- | --- |
| hybrid search itself | 0.7352 / 0.4113 | |
| bundled bi-encoder | 0.7348 / 0.4122 | 0.6751 / 0.3765 |
| cross-encoder, 100 steps x 4 queries x (1 + 3 negatives) | 0.6755 / 0.3648 | 0.4382 / 0.2685 |
| bi-encoder fine-tuned, 40 steps x 16 queries | 0.7324 / 0.4103 | 0.6760 / 0.3784 |
| bi-encoder, SciFact titles only, 24 x 16, lr 1e-5 | 0.7318 / 0.4127 | 0.6800 / 0.3757 |

(BM25 alone 0.6977 / 0.3728.) Neither beats the bundled model; on the real documents the
fine-tuned bi-encoder kept doc@1 (0.629) and lost loc@1 (0.274 -> 0.242).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from judged import DEFAULT_EVAL, available

from analyzer.app_context import AppContext
from analyzer.settings import Settings
from modules.semantic_core.embeddings.encoders import OnnxEncoder, bundled_model_dir
from modules.semantic_core.lexical import query_terms
from modules.semantic_core.module import semantic_core
from modules.semantic_core.search.evaluation import load_corpus, load_qrels, load_queries
from modules.semantic_core.search.fusion import DEFAULT_FUSION, scaler
from modules.semantic_core.search.metrics import mean, ndcg_at_k
from modules.semantic_core.search.passages import focused_passage
from modules.semantic_core.search.service import SearchOptions

DEPTH = DEFAULT_FUSION.rerank_depth
SHARE = DEFAULT_FUSION.keyword_share
BUDGET = DEFAULT_FUSION.rerank_max_tokens
THREADS = 2


# --- models ------------------------------------------------------------------------


class BiEncoder:
    """Cosine of the query's vector and each passage's, as hybrid search computes it."""

    def __init__(self, directory: Path) -> None:
        self.encoder = OnnxEncoder.load(directory, threads=THREADS)

    def scores(self, query: str, passages: Sequence[str]) -> np.ndarray:
        vectors = self.encoder.encode(list(passages), max_length=BUDGET)
        return vectors @ self.encoder.encode([query], max_length=None)[0]


class CrossEncoder:
    """One logit per (query, passage) pair, read together by the transformer."""

    def __init__(self, directory: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(config.get("max_length", 160)))
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = THREADS
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(directory / "model.onnx"), opts, providers=["CPUExecutionProvider"]
        )

    def scores(self, query: str, passages: Sequence[str]) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        encoded = self.tokenizer.encode_batch([(query, p) for p in passages])
        feeds = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        return self.session.run(None, feeds)[0].reshape(-1)


def load_model(spec: str) -> BiEncoder | CrossEncoder:
    if spec == "bundled":
        return BiEncoder(bundled_model_dir("minilm-l6-int8"))
    kind, _, path = spec.partition(":")
    if kind == "bi":
        return BiEncoder(Path(path))
    if kind == "cross":
        return CrossEncoder(Path(path))
    raise SystemExit(f"unknown model {spec!r}: bundled, bi:DIR or cross:DIR")


# --- heads -------------------------------------------------------------------------


async def build_heads(beir: Path, qrels_name: str, service_baseline: bool) -> dict:
    """Each judged query's head (uid, BM25, passage) and tail, and hybrid's nDCG@10."""
    qrels = load_qrels(beir / "qrels" / qrels_name)
    queries = [(q, t) for q, t in load_queries(beir / "queries.jsonl") if q in qrels]
    out: dict = {"qrels": qrels, "queries": [], "hybrid": None}
    with tempfile.TemporaryDirectory(prefix="analyzer-rerankers-") as tmp:
        async with AppContext(Settings(data_dir=Path(tmp))) as app:
            core = semantic_core(app)
            from modules.semantic_core.ingest.service import IngestOptions

            await core.ingest.ingest_records(
                load_corpus(beir / "corpus.jsonl"), IngestOptions(collection="bench")
            )
            keyword = SearchOptions(collection="bench", top_k=100, mode="keyword", all_copies=True)
            for query_id, text in queries:
                hits = (await core.search.search(text, keyword)).hits
                head = hits[:DEPTH]
                chunks = await core.index.chunk_texts([h.chunk_id for h in head])
                terms = query_terms(text)
                out["queries"].append(
                    {
                        "id": query_id,
                        "text": text,
                        "head": [
                            [
                                h.document.uid,
                                h.signals["keyword"].score,
                                focused_passage(*chunks[h.chunk_id], terms, BUDGET),
                            ]
                            for h in head
                        ],
                        "tail": [h.document.uid for h in hits[DEPTH:]],
                    }
                )
            if service_baseline:
                hybrid = SearchOptions(collection="bench", top_k=100, all_copies=True)
                scores, times = [], []
                for query_id, text in queries:
                    started = time.perf_counter()
                    result = await core.search.search(text, hybrid)
                    times.append(time.perf_counter() - started)
                    ranking = [h.document.uid for h in result.hits]
                    scores.append(ndcg_at_k(ranking, qrels[query_id], 10))
                out["hybrid"] = {"ndcg": mean(scores), "ms": 1000 * float(np.median(times))}
    return out


async def heads_of(name: str, beir: Path, qrels_name: str, args: argparse.Namespace) -> dict:
    cached = args.cache / f"{name}.json" if args.cache else None
    if cached is not None and cached.is_file():
        return json.loads(cached.read_text(encoding="utf-8"))
    started = time.perf_counter()
    heads = await build_heads(beir, qrels_name, not args.no_service)
    print(f"{name}: heads built in {time.perf_counter() - started:.0f} s", flush=True)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(heads), encoding="utf-8")
    return heads


# --- scoring -----------------------------------------------------------------------


def ordered(head: list, scores: np.ndarray, share: float) -> list[str]:
    keyword = scaler(np.array([bm25 for _, bm25, _ in head], dtype=np.float64))
    model = scaler(np.asarray(scores, dtype=np.float64))
    pairs = zip(head, scores, strict=True)
    mixed = [share * keyword(b) + (1 - share) * model(s) for (_, b, _), s in pairs]
    order = np.argsort(-np.array(mixed), kind="stable")
    return [head[i][0] for i in order]


def score_model(model: BiEncoder | CrossEncoder, heads: dict) -> dict[str, float]:
    qrels = heads["qrels"]
    mix, pure, bm25, times = [], [], [], []
    model.scores("warm up", ["a passage"])
    for query in heads["queries"]:
        head, tail, judged = query["head"], query["tail"], qrels[query["id"]]
        started = time.perf_counter()
        scores = model.scores(query["text"], [p for _, _, p in head])
        times.append(time.perf_counter() - started)
        mix.append(ndcg_at_k(ordered(head, scores, SHARE) + tail, judged, 10))
        pure.append(ndcg_at_k(ordered(head, scores, 0.0) + tail, judged, 10))
        bm25.append(ndcg_at_k([u for u, _, _ in head] + tail, judged, 10))
    return {
        "mix": mean(mix),
        "pure": mean(pure),
        "bm25": mean(bm25),
        "ms": 1000 * mean(times),
    }


async def main(args: argparse.Namespace) -> None:
    models = {spec: load_model(spec) for spec in args.models or ["bundled"]}
    for name, beir, qrels_name in available(args.eval):
        heads = await heads_of(name, beir, qrels_name, args)
        print(f"{name} ({qrels_name}, {len(heads['queries'])} queries)", flush=True)
        if heads.get("hybrid"):
            h = heads["hybrid"]
            label = "hybrid search (service)"
            print(f"  {label:44s} nDCG@10 {h['ndcg']:.4f}  p50 {h['ms']:.0f} ms")
        for spec, model in models.items():
            s = score_model(model, heads)
            print(
                f"  {spec:44s} mix {s['mix']:.4f}  pure {s['pure']:.4f}  "
                f"(BM25 {s['bm25']:.4f})  {s['ms']:.0f} ms/query",
                flush=True,
            )


def run_realdocs(spec: str, rest: list[str]) -> None:
    """bench/realdocs.py with the re-ranker's scores taken from ``spec``."""
    import realdocs

    from modules.semantic_core.search import service

    model = load_model(spec)

    def scores(_model, query: str, passages: Sequence[str], _limit: int) -> np.ndarray:
        return model.scores(query, passages)

    service._cosines = scores
    parser = realdocs_parser(realdocs)
    asyncio.run(realdocs.main(parser.parse_args(rest)))


def realdocs_parser(realdocs) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--questions", type=Path, default=realdocs.DEFAULT_QUESTIONS)
    parser.add_argument("--modes", default="hybrid")
    parser.add_argument("--misses", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("configs", nargs="*")
    return parser


if __name__ == "__main__":
    argv = sys.argv[1:]
    rest = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--cache", type=Path, help="keep the heads here between runs")
    parser.add_argument("--no-service", action="store_true", help="skip hybrid search itself")
    parser.add_argument("--realdocs", metavar="MODEL", help="run bench/realdocs.py with MODEL")
    parser.add_argument("models", nargs="*", metavar="MODEL")
    parsed = parser.parse_args(argv)
    if parsed.realdocs:
        run_realdocs(parsed.realdocs, rest)
    else:
        asyncio.run(main(parsed))
