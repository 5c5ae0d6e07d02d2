"""Topics benchmark: automatic k on mixed corpora whose sources are known.

    python bench/topics.py [--eval ../shared/eval] [--keep DIR]

Builds several mixed corpora as files in a temporary folder, each document labelled
by the source it came from: sample_docs (one source), SciFact abstracts and Cranfield
abstracts (from ``--eval``; left out when absent), and generated documentation pages
of three kinds (a language reference as HTML, a build system as reStructuredText, a
package manager as Markdown) that share much of their vocabulary, as real manuals do.
Each corpus is ingested through the ingest service into its own collection of one
temporary data dir. Then, on each collection's stored vectors, k is chosen
automatically twice, by the earlier method (mean silhouette over k = 2..12, kept here
only, to compare) and by the product's (``topics.choose_k``), and the clustering at
that k is scored against the sources: purity (share of documents in their cluster's
majority source) and the adjusted Rand index (1 = the sources exactly, 0 = chance).
The service's own ``topics`` call is made too, to show it picks the same k.
Keywords: how many sources own a term (80% of the documents that hold it are theirs)
among the collection's top 10, scored over the whole collection (before) and
balanced over its topics (after, the product's ``collection_top``).

Large collections are clustered and their keywords counted on samples
(``topics.KMEANS_SAMPLE``, ``topics.TERMS_SAMPLE``, ``keywords.SAMPLE_DOCUMENTS``);
these corpora are smaller than the samples, so the "sampled" columns force samples
of a third of each corpus (``--share``) to show what sampling costs in quality:
the clustering at the chosen k, and the keywords counted on the sample alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from analyzer.app_context import AppContext
from analyzer.settings import Settings
from modules.core.module import core
from modules.semantic_core.analysis import keywords, topics
from modules.semantic_core.analysis.corpus import Corpus
from modules.semantic_core.analysis.keywords import (
    TermTable,
    collection_top,
    sample_ids,
    term_table,
    tfidf_weights,
    titled_text,
)
from modules.semantic_core.ingest.service import IngestOptions
from modules.semantic_core.module import semantic_core

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DOCS = REPO / "sample_docs"
DEFAULT_EVAL = REPO.parent / "shared" / "eval"

# --- generated documentation pages --------------------------------------------------------

SHARED = (
    "option default value file directory example section version note following "
    "configuration command output input path name list support error warning system "
    "user release documentation reference set environment variable run change"
).split()
FUNCTION = (
    "the a of to is in for when that with by an on be it this as are can from "
    "which not or if each at all its only then"
).split()
GROUPS = {
    "language": (
        "function module class method argument keyword return exception raise import "
        "object attribute iterator generator decorator dictionary tuple string bytes "
        "interpreter coroutine thread lambda docstring subclass instance namespace "
        "pickle unicode encoding socket integer float slice comprehension"
    ).split(),
    "build": (
        "target build project compiler linker executable library install cache "
        "generator toolchain property source include package policy configure "
        "ctest cpack flags platform makefile ninja cmake subdirectory imported "
        "interface static shared archive runtime"
    ).split(),
    "packages": (
        "package dependency registry install script module node npm publish semver "
        "lockfile workspace scope tarball config token audit cache peer manifest "
        "json version range tag deprecate organization login funding shrinkwrap"
    ).split(),
}
FORMATS = {"language": ".html", "build": ".rst", "packages": ".md"}


def generated_page(group: str, rng: random.Random) -> tuple[str, str]:
    """A title and a body: sentences mixing the group's terms, shared manual words and
    function words, around a few terms the page is mostly about."""
    words = GROUPS[group]
    focus = rng.sample(words, 4)
    title = f"{focus[0]} {focus[1]}".capitalize()
    paragraphs = []
    for _ in range(rng.randint(3, 7)):
        sentences = []
        for _ in range(rng.randint(2, 5)):
            sentence = []
            for _ in range(rng.randint(8, 16)):
                draw = rng.random()
                if draw < 0.2:
                    sentence.append(rng.choice(focus))
                elif draw < 0.45:
                    sentence.append(rng.choice(words))
                elif draw < 0.65:
                    sentence.append(rng.choice(SHARED))
                else:
                    sentence.append(rng.choice(FUNCTION))
            sentences.append(" ".join(sentence).capitalize() + ".")
        paragraphs.append(" ".join(sentences))
    return title, "\n\n".join(paragraphs)


def as_file(title: str, body: str, suffix: str) -> str:
    if suffix == ".html":
        paragraphs = "".join(f"<p>{p}</p>\n" for p in body.split("\n\n"))
        return f"<html><head><title>{title}</title></head><body><h1>{title}</h1>\n{paragraphs}"
    if suffix == ".rst":
        return f"{title}\n{'=' * len(title)}\n\n{body}\n"
    return f"# {title}\n\n{body}\n"


# --- sources ------------------------------------------------------------------------------


Source = Callable[[Path, int, random.Random], int]  # writes up to N files, returns how many


def generated(group: str) -> Source:
    def write(folder: Path, count: int, rng: random.Random) -> int:
        for i in range(count):
            title, body = generated_page(group, rng)
            (folder / f"{group}-{i:04d}{FORMATS[group]}").write_text(
                as_file(title, body, FORMATS[group]), encoding="utf-8"
            )
        return count

    return write


def beir(corpus: Path) -> Source:
    def write(folder: Path, count: int, rng: random.Random) -> int:
        rows = [json.loads(line) for line in corpus.open(encoding="utf-8")]
        rows = [row for row in rows if len(row["text"].split()) >= 30]
        for row in rng.sample(rows, min(count, len(rows))):
            title = " ".join(row.get("title", "").split()) or row["_id"]
            (folder / f"{row['_id']}.md").write_text(f"# {title}\n\n{row['text']}\n", "utf-8")
        return min(count, len(rows))

    return write


def local_files(root: str, pattern: str) -> Source:
    """Up to N files found under ``root`` (manuals installed on this machine), copied."""

    def write(folder: Path, count: int, rng: random.Random) -> int:
        found = sorted(p for p in Path(root).rglob(pattern) if p.stat().st_size > 1500)
        for i, path in enumerate(rng.sample(found, min(count, len(found)))):
            (folder / f"{i:04d}-{path.name}").write_bytes(path.read_bytes())
        return min(count, len(found))

    return write


RUST = Path.home() / ".rustup/toolchains/stable-x86_64-unknown-linux-gnu"
# Manuals installed here, when present: the shape of the corpus the issue reports.
LOCAL = {
    "cmake": ("/usr/share/cmake-3.25/Help", "*.rst"),
    "npm": ("/usr/lib/node_modules/npm", "*.md"),
    "node-api": ("/usr/share/doc/nodejs/api", "*.html"),
    "rust-book": (f"{RUST}/share/doc/rust/html/book", "*.html"),
}


def sample_docs(folder: Path, count: int, rng: random.Random) -> int:
    written = 0
    for path in sorted(SAMPLE_DOCS.rglob("*")):
        if path.is_file():
            target = folder / path.relative_to(SAMPLE_DOCS)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
            written += 1
    return written


def corpora(eval_dir: Path) -> dict[str, dict[str, tuple[Source, int]]]:
    """Corpus name -> source name -> (writer, documents)."""
    docs = {
        "language": (generated("language"), 120),
        "build": (generated("build"), 120),
        "packages": (generated("packages"), 120),
    }
    found = {
        "manuals+notes": {**docs, "sample_docs": (sample_docs, 47)},
    }
    scifact, cranfield = eval_dir / "scifact/corpus.jsonl", eval_dir / "cranfield/corpus.jsonl"
    if scifact.is_file() and cranfield.is_file():
        papers = {"scifact": (beir(scifact), 150), "cranfield": (beir(cranfield), 150)}
        found["papers"] = {"scifact": (beir(scifact), 200), "cranfield": (beir(cranfield), 200)}
        found["papers+build"] = {**papers, "build": (generated("build"), 150)}
        found["four-equal"] = {**papers, "language": docs["language"], "build": docs["build"]}
        found["manuals+papers"] = {
            "language": (generated("language"), 180),
            "build": docs["build"],
            "packages": docs["packages"],
            "cranfield": (beir(cranfield), 60),
        }
        found["six-one-3x"] = {
            "scifact": (beir(scifact), 240),
            "cranfield": (beir(cranfield), 80),
            "language": (generated("language"), 80),
            "build": (generated("build"), 80),
            "packages": (generated("packages"), 80),
            "sample_docs": (sample_docs, 47),
        }
    local = {name: local_files(*where) for name, where in LOCAL.items() if Path(where[0]).is_dir()}
    if len(local) == len(LOCAL):
        found["local-manuals"] = {name: (source, 100) for name, source in local.items()}
        if "papers+build" in found:
            found["local+papers"] = {
                **{name: (source, 80) for name, source in local.items()},
                "cmake": (local["cmake"], 240),
                "scifact": (beir(scifact), 80),
                "cranfield": (beir(cranfield), 80),
            }
    return found


# --- scores -------------------------------------------------------------------------------


def contingency(truth: np.ndarray, found: np.ndarray) -> np.ndarray:
    _, t = np.unique(truth, return_inverse=True)
    _, f = np.unique(found, return_inverse=True)
    table = np.zeros((t.max() + 1, f.max() + 1))
    np.add.at(table, (t, f), 1)
    return table


def purity(truth: np.ndarray, found: np.ndarray) -> float:
    return float(contingency(truth, found).max(axis=0).sum() / len(truth))


def adjusted_rand(truth: np.ndarray, found: np.ndarray) -> float:
    table = contingency(truth, found)

    def pairs(x: np.ndarray) -> float:
        return float((x * (x - 1) / 2).sum())

    index, rows, cols = pairs(table), pairs(table.sum(1)), pairs(table.sum(0))
    total = len(truth) * (len(truth) - 1) / 2
    expected = rows * cols / total
    best = (rows + cols) / 2
    return (index - expected) / (best - expected) if best != expected else 1.0


# --- the earlier method, kept here to compare -----------------------------------------------


def silhouette_k(points: np.ndarray) -> int:
    """k of best mean silhouette over 2..min(12, n // 3), as ``topics`` chose before."""
    sample = points
    if len(points) > topics.AUTO_K_SAMPLE:
        rows = np.random.default_rng(topics.SEED).choice(len(points), topics.AUTO_K_SAMPLE, False)
        sample = points[np.sort(rows)]
    candidates = range(2, max(2, min(12, len(points) // 3)) + 1)
    tried = {
        k: topics.silhouette(sample, topics.kmeans(sample, k, n_init=2)[0], k) for k in candidates
    }
    return max(tried, key=lambda k: (round(tried[k], 6), -k))


def product_k(points: np.ndarray) -> int:
    return topics.choose_k(points, topics.auto_k_range(len(points)))[0]


METHODS = {"before": silhouette_k, "after": product_k}


# --- keywords -----------------------------------------------------------------------------


def sources_in_top(table: TermTable, truth: np.ndarray, terms: list[str]) -> int:
    """How many sources own at least one of ``terms``: a term is a source's when 80% or
    more of the documents that contain it come from that source."""
    index = {term: i for i, term in enumerate(table.vocabulary)}
    owners = set()
    for term in terms:
        rows = table.documents[table.terms == index[term]]
        names, counts = np.unique(truth[rows], return_counts=True)
        if counts.max() >= 0.8 * counts.sum():
            owners.add(str(names[counts.argmax()]))
    return len(owners)


def keyword_coverage(texts: list[str], truth: np.ndarray, vectors: np.ndarray) -> dict[str, str]:
    """Sources with a term of their own in the collection's top 10, before and after."""
    table = term_table(texts)
    weights = tfidf_weights(table)
    found = {}
    for method, groups in (("before", None), ("after", topics.document_groups(vectors))):
        top = [k.term for k in collection_top(table, weights, 10, groups)]
        found[method] = f"{sources_in_top(table, truth, top)}/{len(set(truth))}"
    return found


@contextmanager
def samples_of(size: int) -> Iterator[None]:
    """The product's sample sizes set to ``size`` for a while."""
    names = [(topics, "KMEANS_SAMPLE"), (topics, "TERMS_SAMPLE"), (keywords, "SAMPLE_DOCUMENTS")]
    before = [getattr(module, name) for module, name in names]
    for module, name in names:
        setattr(module, name, size)
    try:
        yield
    finally:
        for (module, name), value in zip(names, before, strict=True):
            setattr(module, name, value)


def sampled_scores(
    ids: np.ndarray, vectors: np.ndarray, texts: list[str], truth: np.ndarray, size: int
) -> dict[str, str]:
    """The clustering (``topics.cluster``) and the collection's keywords (counted on a
    sample of ``size`` documents, as ``keywords`` does) with samples of ``size``."""
    with samples_of(size):
        found = topics.cluster(vectors, None)
        rows = np.flatnonzero(np.isin(ids, sample_ids(ids, size)))
        table = term_table([texts[row] for row in rows])
        groups = topics.document_groups(vectors[rows])
        top = [k.term for k in collection_top(table, tfidf_weights(table), 10, groups)]
    labels = found.labels
    return {
        "sampled": f"k={found.k:<2} purity {purity(truth, labels):.2f} "
        f"ARI {adjusted_rand(truth, labels):.2f}",
        "keywords sampled": f"{sources_in_top(term_table(texts), truth, top)}/{len(set(truth))}",
    }


# --- running ------------------------------------------------------------------------------


def write_corpus(folder: Path, sources: dict[str, tuple[Source, int]], seed: int) -> None:
    for name, (writer, count) in sources.items():
        (folder / name).mkdir(parents=True)
        writer(folder / name, count, random.Random(f"{seed}:{name}"))


async def evaluate(
    app: AppContext, name: str, root: Path, sources: list[str], share: int
) -> dict[str, str]:
    corpus = Corpus(core(app).crud)
    collection = await corpus.collection(name)
    ids, vectors = await corpus.vectors(collection)
    paths = {ref.id: ref.path for ref in await corpus.documents(collection.id)}
    truth = np.array([Path(paths[int(i)]).relative_to(root / name).parts[0] for i in ids])
    points = topics.centred(vectors)
    row = {"corpus": name, "docs": str(len(ids)), "sources": str(len(sources))}
    for method, choose in METHODS.items():
        k = choose(points)
        labels = topics.kmeans(points, k)[0]
        row[method] = (
            f"k={k:<2} purity {purity(truth, labels):.2f} ARI {adjusted_rand(truth, labels):.2f}"
        )
    served = await semantic_core(app).analysis.topics(name)
    row["service k"] = str(served.k)
    refs = {ref.id: ref for ref in await corpus.documents(collection.id)}
    texts = await corpus.texts(collection.id)
    titled = [titled_text(refs[int(i)].title, texts.get(int(i), "")) for i in ids]
    coverage = keyword_coverage(titled, truth, vectors)
    row["keywords before"], row["keywords after"] = coverage["before"], coverage["after"]
    row.update(
        sampled_scores(ids, vectors, titled, truth, max(topics.MIN_DOCUMENTS, len(ids) // share))
    )
    return row


async def run(root: Path, built: dict[str, dict[str, tuple[Source, int]]], share: int) -> None:
    rows = []
    async with AppContext(Settings(data_dir=root / "data")) as app:
        for name in built:
            await semantic_core(app).ingest.ingest_paths(
                [root / name], IngestOptions(collection=name)
            )
            rows.append(await evaluate(app, name, root, list(built[name]), share))
    columns = ["corpus", "docs", "sources", "before", "after", "sampled", "service k"]
    columns += ["keywords before", "keywords after", "keywords sampled"]
    widths = [max(len(c), *(len(r[c]) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(row[c].ljust(w) for c, w in zip(columns, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL, help="BEIR corpora folder")
    parser.add_argument("--keep", type=Path, default=None, help="build in DIR and keep it")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--share", type=int, default=3, help="sampled columns: samples of 1/SHARE of a corpus"
    )
    args = parser.parse_args()
    if not (args.eval / "scifact").is_dir():
        print(f"no SciFact/Cranfield under {args.eval}: sample_docs and generated pages only")
    built = corpora(args.eval)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        for name, sources in built.items():
            write_corpus(root / name, sources, args.seed)
        asyncio.run(run(root, built, args.share))


if __name__ == "__main__":
    main()
