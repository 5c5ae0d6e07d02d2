"""Duplicates benchmark: the sketch scan against the exact all-pairs scan, then at scale.

    python bench/duplicates.py [--documents 10000 100000 300000] [--thresholds 0.9 0.5]
                               [--plant 0.01] [--workdir /tmp/duplicates] [--skip-ingest]
                               [--exact-limit 20000]

The corpus: N documents, each the interleaved sentences of three SciFact abstracts
(seeded, about 390 words, as ``bench/scale.py`` makes them), plus ``--plant`` x N near
copies of documents spread over the corpus with 1 to 25 words replaced (a third of
them also a fifth longer), so their scores spread from 1.0 to below 0.9.

1. At the first size: the documents are ingested as records into a temporary data
   dir, and at each threshold the analysis service's scan runs (time per stage, peak
   traced memory), then the old algorithm on the same stored texts: every document's
   shingle vector and the blocked all-pairs product (``near_pairs``). Recall of the
   scan against that exact result, and how many planted copies each found.
2. At every size: the scan's own code on the corpus held in memory (sketches made
   with ``copies.sketch`` as ingest makes them, kept in ``--workdir`` for later runs;
   texts served from memory in place of the database): time per stage, candidates,
   pairs, peak traced memory; up to ``--exact-limit`` documents the exact all-pairs
   time and the recall beside it. Later sizes run the first threshold only.

Exits quietly when the SciFact corpus is absent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analyzer.app_context import AppContext
from analyzer.settings import Settings
from modules.core.module import core
from modules.semantic_core import copies
from modules.semantic_core.analysis import duplicates
from modules.semantic_core.analysis.corpus import Corpus
from modules.semantic_core.ingest.service import IngestOptions, Record
from modules.semantic_core.module import semantic_core

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "eval" / "scifact" / "corpus.jsonl"
COLLECTION = "dups"
SEED = 22
WORDS_PER_DOCUMENT = 390
MIB = 2**20
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


# --- the corpus ---------------------------------------------------------------------------


def abstracts() -> list[list[str]]:
    found = []
    with SCIFACT.open(encoding="utf-8") as lines:
        for line in lines:
            sentences = [s for s in _SENTENCE.split(json.loads(line)["text"]) if s.strip()]
            if sentences:
                found.append(sentences)
    return found


def document(rng: random.Random, pool: list[list[str]]) -> str:
    queues = [list(sentences) for sentences in rng.sample(pool, 3)]
    body: list[str] = []
    words = 0
    while words < WORDS_PER_DOCUMENT and any(queues):
        sentence = rng.choice([q for q in queues if q]).pop(0)
        body.append(sentence)
        words += len(sentence.split())
    return "\n\n".join(" ".join(body[i : i + 4]) for i in range(0, len(body), 4))


def corpus(count: int, plant: float) -> tuple[list[str], list[tuple[int, int]]]:
    """``count`` documents plus their planted copies, and (source, copy) index pairs."""
    pool, rng = abstracts(), random.Random(SEED)
    texts = [document(rng, pool) for _ in range(count)]
    planted = []
    for source in rng.sample(range(count), int(count * plant)):
        words = texts[source].split()
        for _ in range(rng.randint(1, 25)):
            words[rng.randrange(len(words))] = rng.choice(["changed", "altered", "edited"])
        if rng.random() < 1 / 3:
            words += document(rng, pool).split()[: len(words) // 5]
        planted.append((source, len(texts)))
        texts.append(" ".join(words))
    return texts, planted


def sketches(texts: list[str], workdir: Path, label: str) -> list[bytes | None]:
    """Every text's sketch as ingest makes it, kept in ``workdir`` for the next run."""
    cached = workdir / f"sketches-{label}.npy"
    if cached.exists():
        rows = np.load(cached)
        return [row[row != 0].astype("<u8").tobytes() or None for row in rows]
    words = duplicates.WordHashes()
    blobs = [copies.sketch(text, words) for text in texts]
    rows = np.zeros((len(blobs), copies.SKETCH_SIZE), dtype=np.uint64)
    for index, blob in enumerate(blobs):
        if blob:
            values = np.frombuffer(blob, dtype="<u8")
            rows[index, : len(values)] = values
    workdir.mkdir(parents=True, exist_ok=True)
    np.save(cached, rows)
    return blobs


# --- the scans ------------------------------------------------------------------------------


class MemoryTexts:
    """Stands in for ``Corpus.texts``: the texts held in memory, by index."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._texts = texts

    async def texts(self, collection_id: int, ids: Sequence[int] = ()) -> dict[int, str]:
        return {i: self._texts[i] for i in ids}


def sketch_scan(
    texts: list[str], blobs: list[bytes | None], threshold: float
) -> tuple[set[tuple[int, int]], dict[str, float], int, float]:
    """The scan's code on texts in memory: pairs, seconds per stage, candidates, peak MiB."""
    tracemalloc.start()
    laps: dict[str, float] = {}
    started = time.perf_counter()
    matrix, lengths = duplicates.sketch_rows(blobs)
    laps["sketch rows"] = time.perf_counter() - started
    firsts, seconds = duplicates.candidate_pairs(matrix, lengths, threshold)
    laps["candidates"] = time.perf_counter() - started - sum(laps.values())
    ids = list(range(len(texts)))
    a, b, _ = asyncio.run(
        duplicates.score_candidates(
            MemoryTexts(texts),  # type: ignore[arg-type]
            0,
            ids,
            firsts,
            seconds,
            threshold,
        )
    )
    laps["verify"] = time.perf_counter() - started - sum(laps.values())
    peak = tracemalloc.get_traced_memory()[1] / MIB
    tracemalloc.stop()
    return set(zip(a.tolist(), b.tolist(), strict=True)), laps, len(firsts), peak


def exact_scan(texts: list[str], threshold: float) -> tuple[set[tuple[int, int]], float, float]:
    """The old algorithm: every shingle vector, every pair: pairs, seconds, peak MiB."""
    tracemalloc.start()
    started = time.perf_counter()
    firsts, seconds, _ = duplicates.near_pairs(duplicates.shingle_matrix(texts), threshold)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / MIB
    tracemalloc.stop()
    return set(zip(firsts.tolist(), seconds.tolist(), strict=True)), elapsed, peak


def recall(found: set[tuple[int, int]], exact: set[tuple[int, int]]) -> str:
    if not exact:
        return "recall n/a (no exact pairs)"
    return f"recall {len(found & exact) / len(exact):.4f} ({len(found & exact)}/{len(exact)})"


def planted_found(found: set[tuple[int, int]], planted: list[tuple[int, int]]) -> str:
    return f"planted copies found {sum(p in found for p in planted)}/{len(planted)}"


def laps_text(laps: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in laps.items())


# --- through the service ----------------------------------------------------------------------


async def service_scans(
    data_dir: Path, texts: list[str], planted: list[tuple[int, int]], thresholds: list[float]
) -> None:
    records = [Record(f"d{index:07d}", text) for index, text in enumerate(texts)]
    async with AppContext(Settings(data_dir=data_dir)) as app:
        started = time.perf_counter()
        report = await semantic_core(app).ingest.ingest_records(
            records, IngestOptions(collection=COLLECTION)
        )
        print(f"  ingested {report.new} records in {time.perf_counter() - started:.0f} s")
        corpus = Corpus(core(app).crud)
        collection = await corpus.collection(COLLECTION)
        documents = await corpus.documents(collection.id)
        stored = await corpus.texts(collection.id)
        index = {d.uid: int(d.uid[1:]) for d in documents}
        ordered = [stored.get(d.id, "") for d in documents]
        position = [index[d.uid] for d in documents]
        for threshold in thresholds:
            tracemalloc.start()
            started = time.perf_counter()
            scan = await semantic_core(app).analysis.duplicates(COLLECTION, threshold)
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] / MIB
            tracemalloc.stop()
            found = {
                tuple(sorted((index[p.first.uid], index[p.second.uid]))) for p in scan.pairs
            }
            exact_rows, exact_seconds, exact_peak = exact_scan(ordered, threshold)
            exact = {tuple(sorted((position[a], position[b]))) for a, b in exact_rows}
            print(
                f"  service scan at {threshold}: {elapsed:.2f} s ({laps_text(scan.timings)}), "
                f"peak {peak:.0f} MiB; {len(found)} pairs; {recall(found, exact)}; "
                f"{planted_found(found, planted)}"
            )
            print(
                f"  exact all-pairs on the stored texts: {exact_seconds:.2f} s, peak "
                f"{exact_peak:.0f} MiB; {len(exact)} pairs; "
                f"ratio exact/scan {exact_seconds / elapsed:.1f}"
            )


# --- the run ------------------------------------------------------------------------------


def at_size(count: int, args: argparse.Namespace, first: bool) -> None:
    started = time.perf_counter()
    texts, planted = corpus(count, args.plant)
    blobs = sketches(texts, args.workdir, f"{count}-{args.plant}")
    print(
        f"{count:,} documents + {len(planted):,} planted copies "
        f"(made and sketched in {time.perf_counter() - started:.0f} s)"
    )
    if first and not args.skip_ingest:
        with tempfile.TemporaryDirectory(prefix="duplicates-", dir=args.workdir) as tmp:
            asyncio.run(service_scans(Path(tmp) / "data", texts, planted, args.thresholds))
    for threshold in args.thresholds if first else args.thresholds[:1]:
        started = time.perf_counter()
        found, laps, candidates, peak = sketch_scan(texts, blobs, threshold)
        elapsed = time.perf_counter() - started
        bands, rows = duplicates.plan_bands(threshold)
        line = (
            f"  sketch scan in memory at {threshold} ({bands} bands of {rows}): {elapsed:.2f} s "
            f"({laps_text(laps)}), peak {peak:.0f} MiB; {candidates:,} candidates, "
            f"{len(found):,} pairs; {planted_found(found, planted)}"
        )
        if count <= args.exact_limit:
            exact, exact_seconds, exact_peak = exact_scan(texts, threshold)
            line += (
                f"\n  exact all-pairs: {exact_seconds:.2f} s, peak {exact_peak:.0f} MiB, "
                f"{len(exact):,} pairs; {recall(found, exact)}; "
                f"ratio exact/scan {exact_seconds / elapsed:.1f}"
            )
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, nargs="+", default=[10_000, 100_000, 300_000])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.9, 0.5])
    parser.add_argument("--plant", type=float, default=0.01, help="near copies per document")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/duplicates"))
    parser.add_argument("--skip-ingest", action="store_true", help="no service scan")
    parser.add_argument(
        "--exact-limit", type=int, default=20_000, help="run the exact scan up to this size"
    )
    args = parser.parse_args()
    if not SCIFACT.is_file():
        print(f"skipped: no corpus at {SCIFACT}")
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    for position, count in enumerate(args.documents):
        at_size(count, args, first=position == 0)


if __name__ == "__main__":
    main()
