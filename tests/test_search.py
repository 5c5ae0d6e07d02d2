"""Search over the sample corpus: modes, filters, hostile query text, errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from analyzer.app_context import AppContext
from analyzer.cli.app import app
from analyzer.settings import Settings
from modules.semantic_core.index.fulltext_sqlite import match_expression as fts_match_expression
from modules.semantic_core.ingest.service import IngestOptions
from modules.semantic_core.lexical import query_terms
from modules.semantic_core.module import semantic_core
from modules.semantic_core.search.service import SearchOptions
from modules.semantic_core.search.snippets import make_snippet
from tests.helpers import FakeModels, cli_json, one_line_error, run, runner


def search(data: Path, *args: str, models: Any = None) -> dict:
    return cli_json("--data-dir", str(data), "query", *args, models=models)


def top_names(report: dict, n: int = 3) -> list[str]:
    return [Path(r["document"]).name for r in report["results"][:n]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("how long to cool a burn under running water", "first-aid-for-burns.pdf"),
        ("Jikji metal type Korea", "movable-type-in-east-asia.rst"),
        ("blossom end rot", "growing-tomatoes.txt"),
        ("Fried Liver Attack", "italian-game.docx"),
    ],
)
@pytest.mark.parametrize("mode", ["hybrid", "keyword"])
def test_known_answers_come_first(
    sample_data_dir: Path, query: str, expected: str, mode: str
) -> None:
    assert top_names(search(sample_data_dir, query, "--mode", mode), 1) == [expected]


def test_semantic_mode_finds_a_paraphrase(sample_data_dir: Path) -> None:
    report = search(
        sample_data_dir, "keeping track of what I spend each month", "--mode", "semantic"
    )
    assert "budgeting-basics.md" in top_names(report, 3)


def test_results_point_to_path_and_line_with_highlights(sample_data_dir: Path) -> None:
    # Keyword mode: no re-ranker to choose a window, so the line with the most query terms.
    hit = search(sample_data_dir, "blossom end rot", "--top-k", "1", "-m", "keyword")["results"][0]
    source = Path(hit["document"]).read_text(encoding="utf-8").splitlines()
    first, last = hit["text_lines"]  # a Markdown file's text keeps the file's lines
    chunk = source[first - 1 : last]
    assert len(chunk) == last - first + 1  # the chunk's lines are lines of the file

    def terms(line: str) -> int:
        return sum(word in line.lower() for word in ("blossom", "end", "rot"))

    best = max(range(len(chunk)), key=lambda i: terms(chunk[i]))
    assert hit["line"] == first + best  # the chunk's line with the most query terms
    assert hit["page"] is None
    assert "blossom" in source[hit["line"] - 1].lower()
    spans = [hit["snippet"][s:e].lower() for s, e in hit["highlights"]]
    assert any(span.startswith("blossom") for span in spans)


def test_results_are_grouped_per_document_unless_chunks(sample_data_dir: Path) -> None:
    grouped = search(sample_data_dir, "bread dough flour", "--top-k", "10", "--mode", "keyword")
    paths = [r["document"] for r in grouped["results"]]
    assert len(paths) == len(set(paths))
    chunked = search(
        sample_data_dir, "bread dough flour", "--top-k", "10", "--mode", "keyword", "--chunks"
    )
    chunk_paths = [r["document"] for r in chunked["results"]]
    assert len(chunk_paths) > len(set(chunk_paths))


def test_path_filter_applies_before_top_k(sample_data_dir: Path) -> None:
    for mode in ("keyword", "semantic", "hybrid"):
        # "water" is in one tech document and a dozen others: without the filter first,
        # the tech one would not make the top 3.
        report = search(
            sample_data_dir, "water", "--path", "*/tech/*", "--mode", mode, "--top-k", "3"
        )
        assert report["results"], mode
        assert all("/tech/" in r["document"] for r in report["results"]), mode


def test_explain_shows_each_signal(sample_data_dir: Path) -> None:
    report = search(sample_data_dir, "sourdough starter feeding", "--mode", "hybrid")
    signals = report["results"][0]["signals"]
    assert "keyword" in signals and "rerank" in signals
    text = runner.invoke(
        app, ["--data-dir", str(sample_data_dir), "query", "sourdough starter", "--explain"]
    )
    assert text.exit_code == 0 and "keyword #" in text.stdout


HOSTILE_QUERIES = [
    '"unbalanced quote',
    "(((",
    "AND OR NOT",
    "NEAR(bread, 3)",
    "bread*",
    "title:bread",
    "-bread -coffee",
    "🍞🔥 emoji only",
    "Brot backen über Nacht",
    "面包",
    "'; DROP TABLE chunks; --",
    "*",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_any_user_text_is_safe(sample_data_dir: Path, query: str) -> None:
    # "--" ends the options, as in any CLI, so "-bread" is text, not a flag.
    args = ["--data-dir", str(sample_data_dir), "query", "--json", "--mode", "keyword", "--", query]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)


def test_fts_expression_quotes_every_term() -> None:
    assert fts_match_expression('bread AND "rye" NEAR(x)') == '"bread" OR "rye" OR "near" OR "x"'
    assert fts_match_expression("!!! ???") is None
    assert query_terms("the and of") == ["the", "and", "of"]  # all stopwords: keep them


def test_snippet_highlights_stemmed_terms() -> None:
    snippet, spans = make_snippet("Cells divide. Many cell types exist.", ["cells"])
    assert [snippet[s:e] for s, e in spans] == ["Cells", "cell"]


def test_batch_mode_writes_json_lines(sample_data_dir: Path, tmp_path: Path) -> None:
    queries = tmp_path / "queries.txt"
    queries.write_text("blossom end rot\n\nFried Liver Attack\n")
    result = runner.invoke(
        app, ["--data-dir", str(sample_data_dir), "query", "--batch", str(queries), "--top-k", "3"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query_id"] for line in lines] == ["1", "3"]
    assert set(lines[0]) == {"query_id", "query", "results"}
    assert set(lines[0]["results"][0]) == {"rank", "document", "document_id", "score"}
    assert Path(lines[1]["results"][0]["document"]).name == "italian-game.docx"


def test_batch_mode_reads_beir_queries(sample_data_dir: Path, tmp_path: Path) -> None:
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"_id": "q7", "text": "Jikji metal type"}\n')
    result = runner.invoke(
        app,
        ["--data-dir", str(sample_data_dir), "query", "--batch", str(queries), "--mode", "keyword"],
    )
    assert json.loads(result.stdout.splitlines()[0])["query_id"] == "q7"


def test_empty_query_is_a_usage_error(sample_data_dir: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(sample_data_dir), "query", "   "])
    one_line_error(result, 2, "empty")


def test_unknown_collection_names_the_known_ones(sample_data_dir: Path) -> None:
    result = runner.invoke(
        app, ["--data-dir", str(sample_data_dir), "query", "bread", "--collection", "nope"]
    )
    one_line_error(result, 1, "'nope'", "default")


def test_collection_without_documents(tmp_path: Path) -> None:
    data = tmp_path / "data"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runner.invoke(app, ["--data-dir", str(data), "ingest", str(empty)]).exit_code == 0
    result = runner.invoke(app, ["--data-dir", str(data), "query", "bread"])
    one_line_error(result, 1, "no documents yet", "analyzer ingest")


def test_fresh_data_dir_without_collections(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(tmp_path / "fresh"), "query", "bread"])
    one_line_error(result, 1, "no collection", "analyzer ingest")


def test_bad_mode_is_a_usage_error(sample_data_dir: Path) -> None:
    result = runner.invoke(
        app, ["--data-dir", str(sample_data_dir), "query", "x", "--mode", "fuzzy"]
    )
    assert result.exit_code == 2


def test_trigram_index_finds_chinese_text(tmp_path: Path) -> None:
    data, docs = tmp_path / "data", tmp_path / "docs"
    docs.mkdir()
    (docs / "tea.txt").write_text("绿茶的冲泡温度大约是八十度。\n", encoding="utf-8")
    (docs / "bread.txt").write_text("Bread needs flour, water, salt and yeast.\n")
    base = ["--data-dir", str(data)]
    plain = runner.invoke(app, [*base, "ingest", str(docs)])
    assert plain.exit_code == 0
    without = runner.invoke(app, [*base, "query", "冲泡温度", "--mode", "keyword", "--json"])
    assert json.loads(without.stdout)["results"] == []  # unicode61 sees one long token
    assert runner.invoke(app, [*base, "ingest", str(docs), "--trigram"]).exit_code == 0
    found = runner.invoke(app, [*base, "query", "冲泡温度", "--mode", "keyword", "--json"])
    assert [Path(r["document"]).name for r in json.loads(found.stdout)["results"]] == ["tea.txt"]


def test_hybrid_rereads_short_windows_around_the_query_terms(sample_data_dir: Path) -> None:
    import numpy as np

    from modules.semantic_core.embeddings.registry import process_models

    batches: list[tuple[list[str], int | None]] = []

    class Recorder:
        def encode(self, texts: list[str], max_length: int | None = None) -> np.ndarray:
            batches.append((list(texts), max_length))
            return np.ones((len(texts), 4), dtype=np.float32) / 2

    class RecordingModels:
        """The real static model, and a recorder in place of the re-ranker."""

        def embedder(self, spec: str | None = None) -> Any:
            return process_models().embedder(spec)

        def reranker(self) -> Recorder:
            return Recorder()

    query = "how long to cool a burn under running water"
    report = search(sample_data_dir, query, models=RecordingModels())

    # One batch of passages (the second look's among them), cut to the budget; then the
    # query, read whole. Then the line windows of the top documents, to point the hits.
    [(passages, passage_limit), (queries, query_limit), (windows, window_limit), again] = batches
    assert (queries, passage_limit, query_limit) == ([query], 64, None)
    assert window_limit == 64 and again == ([query], None)
    assert len(windows) >= 3 and all(p not in passages for p in windows[1:])
    assert len(passages) >= 10
    assert sum(len(p.split()) for p in passages) / len(passages) < 60  # chunks: ~95 words
    # The burns document's best window is not its start (its first lines are about scalds).
    burns = [p for p in passages if p.startswith("First Aid for Burns")]
    assert burns and "water" in burns[0].lower()  # its best chunk, read before the others
    assert all("rerank" in hit["signals"] for hit in report["results"])


def test_a_long_lived_context_sees_an_ingest_made_by_another(
    tmp_path: Path, fake_models: FakeModels, settings: Settings
) -> None:
    """What a resident server keeps in memory follows writes made by other processes."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tides.txt").write_text("The tide follows the moon.\n")
    overrides = fake_models.overrides()

    async def scenario() -> list[list[str]]:
        seen = []
        async with AppContext(settings, overrides=overrides) as writer:
            await semantic_core(writer).ingest.ingest_paths([docs], IngestOptions())
            async with AppContext(settings, overrides=overrides) as reader:
                search = semantic_core(reader).search
                for mode in ("semantic", "keyword"):
                    found = await search.search("heron pond", SearchOptions(mode=mode))
                    seen.append([Path(h.document.path).name for h in found.hits])
                (docs / "heron.txt").write_text("A heron waits by the pond.\n")
                await semantic_core(writer).ingest.ingest_paths([docs], IngestOptions())
                for mode in ("semantic", "keyword", "semantic"):
                    options = SearchOptions(mode=mode, path_glob="*heron*")
                    found = await search.search("heron pond", options)
                    seen.append([Path(h.document.path).name for h in found.hits])
        return seen

    before_semantic, before_keyword, *after = run(scenario())
    assert "heron.txt" not in before_semantic and before_keyword == []
    assert all(names[:1] == ["heron.txt"] for names in after)


def test_queries_during_a_forced_reingest_and_a_prune_never_fail(
    tmp_path: Path, fake_models: FakeModels, settings: Settings
) -> None:
    """Each query reads one snapshot, so a writer committing between its reads is harmless."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(200):
        (docs / f"n{i:03d}.txt").write_text(f"Note {i}: the tide, the moon and the heron {i}.\n")
    overrides = fake_models.overrides()

    async def scenario() -> tuple[int, int]:
        async with AppContext(settings, overrides=overrides) as writer:
            ingest = semantic_core(writer).ingest
            await ingest.ingest_paths([docs], IngestOptions())
            async with AppContext(settings, overrides=overrides) as reader:
                search = semantic_core(reader).search
                analysis = semantic_core(reader).analysis
                done = asyncio.Event()

                async def write() -> None:
                    for round_ in range(10):
                        if round_ == 5:
                            for i in range(0, 200, 2):
                                (docs / f"n{i:03d}.txt").unlink()
                        await ingest.ingest_paths([docs], IngestOptions(force=True, prune=True))
                    done.set()

                async def read() -> int:
                    answered = 0
                    while not done.is_set():
                        for mode in ("keyword", "hybrid", "semantic"):
                            await search.search("tide heron", SearchOptions(mode=mode))
                            answered += 1
                        await analysis.similar("n001.txt")
                        await asyncio.sleep(0)
                    return answered

                answered, _ = await asyncio.gather(read(), write())
                final = await search.search("tide heron", SearchOptions(top_k=100))
        return answered, len(final.hits)

    answered, found = run(scenario())
    assert answered > 10 and found == 100
