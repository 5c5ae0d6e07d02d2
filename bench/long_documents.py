"""Scale benchmark: query latency on collections of long real documents, 10k and ~150k chunks.

    python bench/long_documents.py [--workdir /tmp/analyzer-scale] [--chunks 150000 10000]
        [--queries 100] [--dump FILE] [--profile] [--cold 5] [--server 50]

1. Builds, once per size (kept in ``--workdir`` and reused by later runs), a folder of
   long documents from text already on this machine: the HTML, Markdown and text files
   under /usr/share/doc, the largest man pages rendered with ``man -P cat``, SciFact's
   abstracts as Markdown manuals of 240 ``## Title`` sections each (as
   ``bench/passages.py`` writes them), then the compressed changelogs and READMEs of
   /usr/share/doc, decompressed, until the folder holds about enough text for the
   wanted chunk count. Each folder is ingested through the ingest service into a data
   directory of its own (one FTS5 index per size), and the ingest time and chunk count
   are kept beside it.
2. Per size, in one warm process: p50/p95 latency per mode (keyword, semantic, hybrid)
   over ``--queries`` distinct SciFact train claims, the re-rank cache emptied before
   every query; ``--dump`` writes every query's top 10 (chunk ids) per mode, to compare
   two versions of the code on the same collection. Beside them, the floors: FTS5's
   ranking alone (sqlite3, no join) and one numpy product of a matrix of that many rows.
3. The re-rank and static models: size on disk and load time in a fresh process.
4. ``--profile``: where a warm hybrid query spends its time on the largest collection
   (each stage timed over the queries, then cProfile's top functions).
5. ``--cold N``: ``analyzer query`` as fresh processes without a server; ``--server N``:
   warm hybrid through a running ``analyzer serve`` (the ``seconds`` of ``query --json``),
   the server stopped afterwards whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gzip
import hashlib
import json
import os
import pstats
import random
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from passages import abstracts, write_manuals  # noqa: E402

from analyzer.app_context import AppContext  # noqa: E402
from analyzer.settings import Settings  # noqa: E402
from modules.semantic_core.ingest.service import IngestOptions  # noqa: E402
from modules.semantic_core.module import semantic_core  # noqa: E402
from modules.semantic_core.search.evaluation import load_qrels, load_queries  # noqa: E402
from modules.semantic_core.search.metrics import percentile  # noqa: E402
from modules.semantic_core.search.modes import MODES  # noqa: E402
from modules.semantic_core.search.service import SearchOptions  # noqa: E402

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "eval" / "scifact"
DOC = Path("/usr/share/doc")
MAN = Path("/usr/share/man")
# Characters of extracted text per chunk, measured on these sources (HTML counts its
# markup, about half of its bytes).
CHARS_PER_CHUNK = 820
MIN_DOCUMENT = 20_000  # bytes: long documents only
MAN_PAGES = 1000  # the largest, of sections 1 and 8
COLLECTION = "scale"


# --- the corpus -------------------------------------------------------------------


def doc_files() -> Iterator[tuple[Path, int]]:
    """Long HTML, Markdown and text files of /usr/share/doc, with their text weight."""
    for path in sorted(DOC.rglob("*")):
        if path.suffix in (".html", ".md", ".txt") and path.is_file() and not path.is_symlink():
            size = path.stat().st_size
            if size >= MIN_DOCUMENT:
                yield path, size // 2 if path.suffix == ".html" else size


def man_pages(limit: int) -> list[Path]:
    pages = [p for p in MAN.glob("man[18]/*.gz") if p.is_file() and not p.is_symlink()]
    pages.sort(key=lambda p: (-p.stat().st_size, p.name))
    return pages[:limit]


def render_man(page: Path, cache: Path) -> str:
    """``man -P cat PAGE``, kept in ``cache`` (rendering is the slow part of a build)."""
    kept = cache / (page.name.removesuffix(".gz") + ".txt")
    if kept.is_file():
        return kept.read_text(encoding="utf-8")
    done = subprocess.run(
        ["man", "-P", "cat", str(page)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MANWIDTH": "80", "MAN_KEEP_FORMATTING": ""},
    )
    cache.mkdir(exist_ok=True)
    kept.write_text(done.stdout, encoding="utf-8")
    return done.stdout


def compressed_texts() -> Iterator[tuple[Path, str]]:
    """Changelogs, READMEs and NEWS of /usr/share/doc, decompressed."""
    skip = (".pdf.gz", ".ps.gz", ".tar.gz", ".json.gz", ".svg.gz", ".png.gz")
    for path in sorted(DOC.rglob("*.gz")):
        if path.name.endswith(skip) or path.is_symlink() or not path.is_file():
            continue
        try:
            text = gzip.decompress(path.read_bytes()).decode("utf-8")
        except (OSError, UnicodeDecodeError, EOFError):
            continue
        if len(text) >= MIN_DOCUMENT and "\x00" not in text:
            yield path, text


def build_folder(folder: Path, chunks: int) -> dict[str, int]:
    """Long documents holding about ``chunks`` chunks of text; what each source gave."""
    budget = chunks * CHARS_PER_CHUNK
    used: dict[str, int] = defaultdict(int)
    seen: set[str] = set()

    def room() -> bool:
        return sum(used.values()) < budget

    def put(source: str, name: str, text: str) -> None:
        digest = hashlib.sha1(text.encode()).hexdigest()
        if digest in seen:
            return
        seen.add(digest)
        target = folder / source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        used[source] += len(text) // 2 if name.endswith(".html") else len(text)

    folder.mkdir(parents=True)
    # SciFact first: a small collection still holds judged text.
    texts = abstracts(SCIFACT / "corpus.jsonl")
    ids = sorted(texts)
    random.Random(7).shuffle(ids)
    per_manual = 240
    manuals = min(len(ids) // per_manual + 1, max(1, budget // 4 // (per_manual * 1500)))
    write_manuals(folder / "scifact", texts, ids[: manuals * per_manual], per_manual)
    used["scifact"] = sum(p.stat().st_size for p in (folder / "scifact").iterdir())
    for path, _ in doc_files():
        if not room():
            break
        text = path.read_text(encoding="utf-8", errors="replace")
        put("doc", str(path.relative_to(DOC)), text)
    for page in man_pages(MAN_PAGES):
        if not room():
            break
        text = render_man(page, folder.parent.parent / "man-cache")
        if len(text) >= MIN_DOCUMENT // 2:
            put("man", page.name.removesuffix(".gz") + ".txt", text)
    for path, text in compressed_texts():
        if not room():
            break
        put("changes", str(path.relative_to(DOC)).removesuffix(".gz") + ".txt", text)
    return dict(used)


async def ensure_collection(workdir: Path, chunks: int) -> tuple[Path, dict]:
    """The data directory of the ``chunks`` collection, built and ingested once."""
    base = workdir / f"c{chunks}"
    ready = base / "ingested.json"
    if ready.is_file():
        return base / "data", json.loads(ready.read_text())
    folder, data = base / "docs", base / "data"
    if folder.exists() or data.exists():
        raise SystemExit(f"{base} holds an unfinished build; remove it and run again")
    started = time.perf_counter()
    sources = build_folder(folder, chunks)
    built = time.perf_counter() - started
    files = sum(1 for p in folder.rglob("*") if p.is_file())
    print(f"  c{chunks}: {files} files written in {built:.0f} s ({sources})", flush=True)
    started = time.perf_counter()
    async with AppContext(Settings(data_dir=data)) as app:
        report = await semantic_core(app).ingest.ingest_paths(
            [folder], IngestOptions(collection=COLLECTION)
        )
    facts = {
        "files": files,
        "documents": report.new,
        "failed": report.failed,
        "chunks": report.chunks,
        "megabytes": round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6),
        "ingest_seconds": round(time.perf_counter() - started, 1),
        "sources": sources,
    }
    ready.write_text(json.dumps(facts, indent=1))
    return data, facts


# --- queries ----------------------------------------------------------------------


def claims(count: int) -> list[str]:
    """Distinct SciFact train claims (the ones with judgements), in a fixed order."""
    judged = load_qrels(SCIFACT / "qrels" / "train.tsv")
    texts = [t for q, t in load_queries(SCIFACT / "queries.jsonl") if q in judged]
    return list(dict.fromkeys(texts))[:count]


async def latencies(data: Path, queries: list[str]) -> tuple[dict, dict]:
    """Per mode: p50/p95 in ms, and every query's top-10 chunk ids."""
    figures, tops = {}, {}
    async with AppContext(Settings(data_dir=data)) as app:
        search = semantic_core(app).search
        for mode in MODES:
            options = SearchOptions(collection=COLLECTION, top_k=10, mode=mode)
            await search.search("warm up the models and vectors", options)
            times, top = [], {}
            for text in queries:
                search._rerank_cache.clear()  # every query pays its re-rank
                started = time.perf_counter()
                result = await search.search(text, options)
                times.append((time.perf_counter() - started) * 1000)
                top[text] = [hit.chunk_id for hit in result.hits]
            figures[mode] = (percentile(times, 50), percentile(times, 95))
            tops[mode] = top
    return figures, tops


def floors(data: Path, queries: list[str], limit: int = 300) -> None:
    """What the first stage cannot beat: FTS5's ranking alone (sqlite3, no join, no
    service), and one product of the whole vector matrix with a query vector (numpy)."""
    import sqlite3

    import numpy as np

    from modules.semantic_core.index.fulltext_sqlite import BM25_WEIGHTS, match_expression

    weights = ", ".join(str(w) for w in BM25_WEIGHTS)
    sql = (
        f"SELECT rowid, -bm25(chunks_fts, {weights}) AS s FROM chunks_fts "
        "WHERE chunks_fts MATCH ? ORDER BY s DESC LIMIT ?"
    )
    connection = sqlite3.connect(f"file:{data / 'semantic_core.db'}?mode=ro", uri=True)
    try:
        chunks = connection.execute("SELECT count(*) FROM chunks").fetchone()[0]
        fts, matches = [], []
        for text in queries:
            match = match_expression(text)
            if match is None:
                continue
            started = time.perf_counter()
            connection.execute(sql, (match, limit)).fetchall()
            fts.append((time.perf_counter() - started) * 1000)
            count = "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?"
            matches.append(connection.execute(count, (match,)).fetchone()[0])
    finally:
        connection.close()
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((chunks, 256), dtype=np.float32)
    vector = matrix[0] / np.linalg.norm(matrix[0])
    products = []
    for _ in queries:
        started = time.perf_counter()
        scores = matrix @ vector
        np.argpartition(-scores, limit)[:limit]
        products.append((time.perf_counter() - started) * 1000)
    print(
        f"    floors: bare FTS5 top {limit} p50 {percentile(fts, 50):6.1f} ms, "
        f"p95 {percentile(fts, 95):6.1f} ms (matches per query: median "
        f"{statistics.median(matches):,.0f}, max {max(matches):,}); numpy {chunks:,} x 256 "
        f"product + top {limit} p50 {percentile(products, 50):5.1f} ms"
    )


MODEL_LOAD = """
import json, sys, time
started = time.perf_counter()
from modules.semantic_core.embeddings.registry import load_embedder
model = load_embedder(sys.argv[1])
loaded = time.perf_counter()
if sys.argv[1] == "minilm-l6-int8":
    model.encode(["a first passage to encode"], max_length=64)
else:
    model.encode(["a first passage to encode"])
print(json.dumps([loaded - started, time.perf_counter() - loaded]))
"""


def model_facts(runs: int = 3) -> None:
    from modules.semantic_core.embeddings.encoders import BUNDLED_DIR

    for name in ("minilm-l6-int8", "static-minilm"):
        size = sum(p.stat().st_size for p in (BUNDLED_DIR / name).iterdir()) / 1e6
        loads, firsts = [], []
        for _ in range(runs):
            done = subprocess.run(
                [sys.executable, "-c", MODEL_LOAD, name], capture_output=True, text=True, check=True
            )
            load, first = json.loads(done.stdout)
            loads.append(load)
            firsts.append(first)
        print(
            f"  {name:15s} {size:5.1f} MB on disk; fresh process: import + load median "
            f"{statistics.median(loads) * 1000:.0f} ms, first encode "
            f"{statistics.median(firsts) * 1000:.0f} ms ({runs} runs)"
        )


# --- where the time goes ----------------------------------------------------------


def timed_stage(owner: object, name: str, label: str, totals: dict[str, list[float]]) -> None:
    """Wrap ``owner.name`` (sync or async) so each call adds its time to ``totals[label]``."""
    original = getattr(owner, name)
    if asyncio.iscoroutinefunction(original):

        async def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                totals[label].append(time.perf_counter() - started)

    else:

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                totals[label].append(time.perf_counter() - started)

    setattr(owner, name, wrapper)


async def profile(data: Path, queries: list[str], top: int = 30) -> None:
    from modules.semantic_core.embeddings import encoders
    from modules.semantic_core.search import service as search_module

    totals: dict[str, list[float]] = defaultdict(list)
    async with AppContext(Settings(data_dir=data)) as app:
        search = semantic_core(app).search
        options = SearchOptions(collection=COLLECTION, top_k=10)
        await search.search("warm up the models and vectors", options)
        service = getattr(search, "_target", None) or search  # the service behind its proxy
        stages: list[tuple[object, str, str]] = [
            (service, "search", "whole search"),
            (service, "_first_stage", "first stage"),
            (service._index, "keyword", "  FTS5 BM25 query (SearchIndex.keyword)"),
            (search_module, "grouped", "  grouping per document"),
            (service, "_semantic", "  static vectors (fill when < 40 documents)"),
            (service, "_rerank", "re-rank"),
            (service._index, "chunk_texts", "  chunk_texts fetch"),
            (search_module, "focused_passage", "  passage cutting"),
            (encoders.OnnxEncoder, "encode", "  ONNX encode (tokenize + run + pool)"),
            (encoders, "_ids_of", "    tokenizer"),
            (encoders.OnnxEncoder, "_run", "    session runs"),
            (service, "_hits", "hits: rows, snippets, lines"),
        ]
        for owner, name, label in stages:
            timed_stage(owner, name, label, totals)
        for text in queries:
            search._rerank_cache.clear()
            await search.search(text, options)
        print(f"  stage times per query, mean over {len(queries)} hybrid queries (ms):")
        for _, _, label in stages:
            calls = totals[label]
            print(
                f"    {label:40s} {sum(calls) / len(queries) * 1000:7.1f}   "
                f"({len(calls) / len(queries):.1f} calls/query)"
            )
        profiler = cProfile.Profile()
        profiler.enable()
        for text in queries:
            search._rerank_cache.clear()
            await search.search(text, options)
        profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)


# --- whole processes ---------------------------------------------------------------


def analyzer_command() -> list[str]:
    script = Path(sys.executable).with_name("analyzer")
    return [str(script)] if script.exists() else [sys.executable, "-m", "analyzer"]


def run_cli(args: list[str], server: bool) -> tuple[float, str]:
    environ = {**os.environ, "ANALYZER_SERVER": "on" if server else "off"}
    started = time.perf_counter()
    done = subprocess.run(
        [*analyzer_command(), *args], capture_output=True, text=True, env=environ, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"analyzer {' '.join(args[:4])} ... failed: {done.stderr.strip()}")
    return elapsed, done.stdout


def cold(data: Path, queries: list[str]) -> None:
    base = ["--data-dir", str(data), "query", "--collection", COLLECTION, "--json"]
    for mode in MODES:
        times = [run_cli([*base, "--mode", mode, text], server=False)[0] for text in queries]
        print(
            f"    cold {mode:8s} median {statistics.median(times):.2f} s "
            f"(min {min(times):.2f}, max {max(times):.2f}; {len(times)} fresh processes)"
        )


def through_server(data: Path, queries: list[str]) -> None:
    base = ["--data-dir", str(data)]
    run_cli([*base, "serve", "--idle-timeout", "30m"], server=False)
    try:
        run_cli([*base, "query", "--collection", COLLECTION, "warm up the server"], server=True)
        for mode in MODES:
            seconds, walls = [], []
            for text in queries:
                wall, out = run_cli(
                    [*base, "query", "--collection", COLLECTION, "--json", "--mode", mode, text],
                    server=True,
                )
                seconds.append(json.loads(out)["seconds"] * 1000)
                walls.append(wall * 1000)
            print(
                f"    server {mode:8s} in-server p50 {percentile(seconds, 50):6.1f} ms, "
                f"p95 {percentile(seconds, 95):6.1f} ms; whole client command p50 "
                f"{percentile(walls, 50):6.1f} ms ({len(queries)} distinct claims)"
            )
    finally:
        subprocess.run(
            [*analyzer_command(), *base, "serve", "--stop"],
            capture_output=True,
            env={**os.environ, "ANALYZER_SERVER": "off"},
            check=False,
        )


# --- main --------------------------------------------------------------------------


def print_facts(chunks: int, facts: dict) -> None:
    print(
        f"collection c{chunks}: {facts['files']} files, {facts['megabytes']} MB, "
        f"{facts['documents']} documents ({facts['failed']} failed), {facts['chunks']:,} chunks, "
        f"{facts['chunks'] / max(1, facts['documents']):.0f} chunks per document; "
        f"ingested in {facts['ingest_seconds']:.0f} s "
        f"({facts['chunks'] / facts['ingest_seconds']:.0f} chunks/s)",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    if not (SCIFACT / "corpus.jsonl").is_file():
        raise SystemExit(f"no SciFact data at {SCIFACT}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    queries = claims(args.queries)
    dumped: dict[str, dict] = {}
    built = {}
    for chunks in args.chunks:
        built[chunks] = await ensure_collection(args.workdir, chunks)
    for chunks in args.chunks:
        data, facts = built[chunks]
        print_facts(chunks, facts)
        if args.queries:
            figures, tops = await latencies(data, queries)
            for mode, (p50, p95) in figures.items():
                print(f"    {mode:8s} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   (warm, in-process)")
            dumped[str(chunks)] = tops
            floors(data, queries)
        if args.cold:
            cold(data, queries[: args.cold])
        if args.server:
            through_server(data, queries[: args.server])
        sys.stdout.flush()
    if args.dump:
        args.dump.write_text(json.dumps(dumped, indent=0))
    if args.models:
        print("models:")
        model_facts()
    if args.profile:
        largest = max(args.chunks)
        print(f"profile, hybrid, c{largest}:")
        await profile(built[largest][0], queries[: args.profile])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/analyzer-scale"))
    parser.add_argument("--chunks", type=int, nargs="+", default=[150_000, 10_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--dump", type=Path, help="write every query's top 10 here (JSON)")
    parser.add_argument("--models", action="store_true", help="model sizes and load times")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="profile N queries")
    parser.add_argument("--cold", type=int, default=0, metavar="N")
    parser.add_argument("--server", type=int, default=0, metavar="N")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
