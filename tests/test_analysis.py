"""Analysis through the service: similar, duplicates, keywords, topics and show.

Right answers are known: the sample corpus holds three planted near-copies, the
planted collection adds three more made here (words changed, a paragraph added,
reformatted) and a byte-for-byte copy, and the synthetic collection holds two
topics that share no vocabulary.
"""

from __future__ import annotations

import itertools
import random
import re
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analyzer.app_context import AppContext
from analyzer.errors import UsageError
from analyzer.settings import Settings, database_urls_from_env
from modules.core.module import core
from modules.semantic_core.analysis.corpus import (
    AmbiguousDocumentError,
    Corpus,
    DocumentNotFoundError,
    rebuild_texts,
)
from modules.semantic_core.analysis.duplicates import (
    DEFAULT_THRESHOLD,
    cluster_labels,
    exact_pairs,
    near_pairs,
    shingle_matrix,
)
from modules.semantic_core.analysis.keywords import term_table, terms, tfidf_weights, top_per_row
from modules.semantic_core.analysis.languages import detect_language
from modules.semantic_core.analysis.summary import central_sentences
from modules.semantic_core.analysis.topics import TooFewDocumentsError, kmeans, silhouette
from modules.semantic_core.collections import EmptyCollectionError
from modules.semantic_core.ingest.service import IngestOptions, Record
from modules.semantic_core.module import semantic_core
from tests.helpers import SAMPLE_DOCS, ingest_paths, ingest_records, run, within_app

KNOWN_COPIES = {
    ("kitchen/bread-basics-copy.md", "kitchen/bread-basics.md"),
    ("money/emergency-fund-updated.md", "money/emergency-fund.md"),
    ("outdoors/cycling/fixing-a-flat-tire.md", "outdoors/cycling/fixing-a-flat-tire.txt"),
}
COPY_SIDES = {
    "kitchen/bread-basics-copy.md",
    "money/emergency-fund-updated.md",
    "outdoors/cycling/fixing-a-flat-tire.txt",
}
TEXT_FORMATS = {".md", ".txt", ".rst", ".html"}


# --- helpers and fixtures -----------------------------------------------------------------


def ingest(settings: Settings, path: Path | None = None, **options: Any) -> None:
    if "records" in options:
        ingest_records(settings, options.pop("records"), **options)
    else:
        ingest_paths(settings, path, **options)


def analysis(settings: Settings, method: str, *args: Any, **kwargs: Any) -> Any:
    async def work(app: AppContext) -> Any:
        return await getattr(semantic_core(app).analysis, method)(*args, **kwargs)

    return within_app(settings, work)


def with_corpus(settings: Settings, work: Any) -> Any:
    async def run_on_corpus(app: AppContext) -> Any:
        return await work(Corpus(core(app).crud))

    return within_app(settings, run_on_corpus)


def relative(path: str, root: Path) -> str:
    return Path(path).relative_to(root).as_posix()


def change_words(text: str, count: int) -> str:
    """Replace ``count`` words, spread over the text, with words it does not use there."""
    spots = list(re.finditer(r"\b[a-z]{6,}\b", text))
    step = len(spots) // (count + 1)
    chosen = [spots[step * (i + 1)] for i in range(count)]
    substitutes = ["quietly", "bright", "modest", "careful", "gentle", "steady", "humble"]
    for match, word in zip(reversed(chosen), substitutes, strict=False):
        text = text[: match.start()] + word + text[match.end() :]
    return text


ADDED_PARAGRAPH = (
    "Historians still argue about how quickly the new craft spread beyond the Rhine. "
    "Surviving account books from several cities show printers borrowing heavily to buy "
    "paper and metal, and many workshops failed within a few years, yet the survivors "
    "trained apprentices who carried the methods to Italy, France and England within a "
    "single generation."
)


def add_paragraph(text: str) -> str:
    first, rest = text.split("\n\n", 2)[:2], text.split("\n\n", 2)[2]
    return "\n\n".join([*first, ADDED_PARAGRAPH, rest])


def reformat_markdown_as_text(text: str) -> str:
    """Headings underlined, emphasis dropped, paragraphs re-wrapped to 56 columns."""
    blocks = []
    for block in text.split("\n\n"):
        heading = re.match(r"#+\s+(.*)", block)
        if heading:
            title = heading.group(1).upper()
            blocks.append(f"{title}\n{'=' * len(title)}")
        elif block.startswith("- "):
            items = [re.sub(r"\*\*", "", line[2:]) for line in block.splitlines()]
            blocks.append("\n".join(textwrap.fill(i, 56, initial_indent="  * ") for i in items))
        else:
            blocks.append(textwrap.fill(re.sub(r"\*\*", "", block), 56))
    return "\n\n".join(blocks) + "\n"


@pytest.fixture(scope="module")
def sample_settings(
    tmp_path_factory: pytest.TempPathFactory, new_databases: Callable[[str], dict[str, str]]
) -> Settings:
    """One data dir: sample_docs in "default", the planted corpus, the synthetic topics."""
    root = tmp_path_factory.mktemp("analysis")
    urls = database_urls_from_env(new_databases("analysis"))
    settings = Settings(data_dir=root / "data", busy_timeout_s=2.0, database_urls=urls)
    ingest(settings, SAMPLE_DOCS)
    return settings


@pytest.fixture(scope="module")
def planted(sample_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The text-format sample documents without the known copies, plus planted copies."""
    root = tmp_path_factory.mktemp("planted")
    for source in SAMPLE_DOCS.rglob("*"):
        name = source.relative_to(SAMPLE_DOCS).as_posix()
        if source.suffix in TEXT_FORMATS and name not in COPY_SIDES:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, root / name)
    read = lambda name: (SAMPLE_DOCS / name).read_text(encoding="utf-8")  # noqa: E731
    (root / "planted").mkdir()
    (root / "planted/composting-edited.md").write_text(
        change_words(read("garden/composting-at-home.md"), 7)
    )
    (root / "planted/gutenberg-extended.md").write_text(
        add_paragraph(read("history/gutenberg-and-the-press.md"))
    )
    (root / "planted/observing-the-moon.txt").write_text(
        reformat_markdown_as_text(read("science/astronomy/observing-the-moon.md"))
    )
    shutil.copyfile(root / "tech/sqlite/sqlite-indexes.md", root / "planted/indexes-backup.md")
    ingest(sample_settings, root, collection="planted")
    return root


PLANTED_PAIRS = {
    ("garden/composting-at-home.md", "planted/composting-edited.md", "near"),
    ("history/gutenberg-and-the-press.md", "planted/gutenberg-extended.md", "near"),
    ("planted/observing-the-moon.txt", "science/astronomy/observing-the-moon.md", "near"),
    ("planted/indexes-backup.md", "tech/sqlite/sqlite-indexes.md", "exact"),
}


# --- duplicates ---------------------------------------------------------------------------


def test_planted_copies_are_found_and_distinct_documents_are_not(
    sample_settings: Settings, planted: Path
) -> None:
    report = analysis(sample_settings, "duplicates", "planted")
    found = {
        (*sorted((relative(p.first.path, planted), relative(p.second.path, planted))), p.kind)
        for p in report.pairs
    }
    assert report.threshold == DEFAULT_THRESHOLD
    assert found == PLANTED_PAIRS
    assert len(report.clusters) == 4 and all(len(c) == 2 for c in report.clusters)
    assert all(p.score >= DEFAULT_THRESHOLD for p in report.pairs)


def test_the_lexical_signal_leaves_a_wide_margin_on_both_sides(
    sample_settings: Settings, planted: Path
) -> None:
    async def texts(corpus: Corpus) -> tuple[list[str], list[str]]:
        collection = await corpus.collection("planted")
        docs = await corpus.documents(collection.id)
        by_id = await corpus.texts(collection.id)
        return [relative(d.path, planted) for d in docs], [by_id[d.id] for d in docs]

    names, bodies = with_corpus(sample_settings, texts)
    scores = shingle_matrix(bodies) @ shingle_matrix(bodies).T
    planted_pairs = {(a, b) for a, b, _ in PLANTED_PAIRS}
    copies, others = [], []
    for i, j in itertools.combinations(range(len(names)), 2):
        pair = tuple(sorted((names[i], names[j])))
        (copies if pair in planted_pairs else others).append(float(scores[i, j]))
    assert min(copies) >= 0.92
    assert max(others) < 0.3


def test_embedding_means_cannot_tell_copies_from_siblings(sample_settings: Settings) -> None:
    """Why duplicates use word shingles: two different money guides score above 0.9."""

    async def scores(corpus: Corpus) -> dict[str, float]:
        collection = await corpus.collection("default")
        docs = {relative(d.path, SAMPLE_DOCS): d.id for d in await corpus.documents(collection.id)}
        ids, matrix = await corpus.vectors(collection)
        row = {int(i): n for n, i in enumerate(ids)}
        budget = matrix[row[docs["money/budgeting-basics.md"]]]
        return {
            "sibling": float(budget @ matrix[row[docs["money/emergency-fund.md"]]]),
            "copy": float(
                matrix[row[docs["money/emergency-fund.md"]]]
                @ matrix[row[docs["money/emergency-fund-updated.md"]]]
            ),
        }

    measured = with_corpus(sample_settings, scores)
    assert measured["sibling"] > DEFAULT_THRESHOLD and measured["copy"] > measured["sibling"]


def test_sample_docs_duplicates_are_the_three_known_groups(sample_settings: Settings) -> None:
    report = analysis(sample_settings, "duplicates")
    found = {
        tuple(sorted((relative(p.first.path, SAMPLE_DOCS), relative(p.second.path, SAMPLE_DOCS))))
        for p in report.pairs
    }
    assert found == KNOWN_COPIES
    assert {p.kind for p in report.pairs} == {"near"}
    assert set(report.timings) == {"sketches", "candidates", "verify", "store"}


def test_show_lists_stored_duplicates_and_notices_a_changed_collection(
    sample_settings: Settings, planted: Path, tmp_path: Path
) -> None:
    analysis(sample_settings, "duplicates", "planted")
    profile = analysis(sample_settings, "show", "planted/gutenberg-extended.md", "planted")
    assert profile.duplicates is not None and not profile.duplicates.stale
    (other,) = profile.duplicates.duplicates
    assert relative(other.other.path, planted) == "history/gutenberg-and-the-press.md"
    assert other.kind == "near" and other.score >= DEFAULT_THRESHOLD
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "new.md").write_text("# New\n\nA document that arrived after the scan.\n")
    ingest(sample_settings, extra, collection="planted")
    later = analysis(sample_settings, "show", "planted/gutenberg-extended.md", "planted")
    assert later.duplicates is not None and later.duplicates.stale


def test_a_collection_without_a_scan_shows_none(sample_settings: Settings) -> None:
    ingest(sample_settings, records=[Record("r1", "Only one record here.")], collection="unscanned")
    assert analysis(sample_settings, "show", "r1", "unscanned").duplicates is None


def test_threshold_out_of_range_is_a_usage_error(sample_settings: Settings) -> None:
    with pytest.raises(UsageError, match="--threshold"):
        analysis(sample_settings, "duplicates", "default", 0.1)


def test_blocked_scan_equals_the_full_product_across_block_edges() -> None:
    rng = np.random.default_rng(7)
    base = rng.standard_normal((23, 16)).astype(np.float32)
    base[[4, 11, 20]] = base[0] + 0.05 * rng.standard_normal(16).astype(np.float32)
    matrix = base / np.linalg.norm(base, axis=1, keepdims=True)
    firsts, seconds, scores = near_pairs(matrix, 0.9, block=5)
    full = matrix @ matrix.T
    expected = {(i, j) for i in range(23) for j in range(i + 1, 23) if full[i, j] >= 0.9}
    assert set(zip(firsts.tolist(), seconds.tolist(), strict=True)) == expected
    assert expected >= {(0, 4), (0, 11), (0, 20), (4, 11)}
    assert np.allclose(scores, full[firsts, seconds], atol=1e-5)


def test_shingles_ignore_case_punctuation_and_layout() -> None:
    text = "The quick brown fox jumps over the lazy dog near the river bank."
    wrapped = "THE QUICK brown fox -\njumps over the\n\n  lazy dog, near the river bank!"
    other = "A slow green turtle swims under the busy bridge past the old mill."
    matrix = shingle_matrix([text, wrapped, other, ""])
    assert matrix[0] @ matrix[1] == pytest.approx(1.0, abs=1e-6)
    assert matrix[0] @ matrix[2] < 0.3
    assert not matrix[3].any()


def test_pairs_group_into_clusters_and_exact_copies_pair_up() -> None:
    labels = cluster_labels([(5, 6), (1, 2), (2, 3)])
    assert labels == {1: 1, 2: 1, 3: 1, 5: 2, 6: 2}
    assert exact_pairs(["a", "b", "a", "a"]) == [(0, 2), (0, 3), (2, 3)]


def test_overlapping_chunks_rebuild_each_character_once() -> None:
    text = "One two. Three four. Five six."
    rows = [(1, 0, 20, text[0:20]), (1, 9, 30, text[9:30]), (2, 0, 3, "abc")]
    assert rebuild_texts(rows) == {1: text, 2: "abc"}


# --- similar and resolving documents ------------------------------------------------------


def test_similar_puts_the_copy_first_and_leaves_the_document_out(sample_settings: Settings) -> None:
    result = analysis(sample_settings, "similar", "kitchen/bread-basics.md", top_k=5)
    names = [relative(h.document.path, SAMPLE_DOCS) for h in result.hits]
    assert names[0] == "kitchen/bread-basics-copy.md" and result.hits[0].score > 0.99
    assert "kitchen/bread-basics.md" not in names and len(names) == 5
    assert [h.rank for h in result.hits] == [1, 2, 3, 4, 5]
    assert all(a.score >= b.score for a, b in itertools.pairwise(result.hits))


def test_documents_resolve_by_path_relative_path_uid_and_suffix(
    sample_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    absolute = str(SAMPLE_DOCS / "kitchen/bread-basics.md")
    by_path = analysis(sample_settings, "similar", absolute, top_k=1).document
    monkeypatch.chdir(SAMPLE_DOCS / "kitchen")
    assert analysis(sample_settings, "similar", "./bread-basics.md", top_k=1).document == by_path
    assert (
        analysis(sample_settings, "similar", "../kitchen/bread-basics.md", top_k=1).document
        == by_path
    )
    assert analysis(sample_settings, "similar", by_path.uid, top_k=1).document == by_path
    assert (
        analysis(sample_settings, "similar", "kitchen/bread-basics.md", top_k=1).document == by_path
    )


def test_unknown_document_suggests_close_matches(sample_settings: Settings) -> None:
    with pytest.raises(DocumentNotFoundError) as caught:
        analysis(sample_settings, "similar", "bred-basics.md")
    message = caught.value.message
    assert "did you mean" in message and "bread-basics.md" in message
    assert "\n" not in message


def test_a_suffix_shared_by_several_documents_is_ambiguous(
    sample_settings: Settings, tmp_path: Path
) -> None:
    for folder, words in (("a", "Red apples ripen in autumn."), ("b", "Blue boats sail at dawn.")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "notes.md").write_text(f"# Notes\n\n{words}\n")
    ingest(sample_settings, tmp_path, collection="twins")
    with pytest.raises(AmbiguousDocumentError, match="matches 2 documents"):
        analysis(sample_settings, "show", "notes.md", "twins")
    assert analysis(sample_settings, "show", "a/notes.md", "twins").document.path.endswith(
        "a/notes.md"
    )


def test_an_empty_collection_is_reported(sample_settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    ingest(sample_settings, tmp_path, collection="hollow")
    for method in ("duplicates", "topics", "keywords"):
        with pytest.raises(EmptyCollectionError, match="analyzer ingest"):
            analysis(sample_settings, method, collection="hollow")


# --- keywords -----------------------------------------------------------------------------


def test_document_keywords_name_its_subject(sample_settings: Settings) -> None:
    bread = analysis(sample_settings, "keywords", "kitchen/bread-basics.md", top=10)
    assert {"dough", "flour"} <= {k.term for k in bread.keywords}
    fund = analysis(sample_settings, "keywords", "money/emergency-fund.md", top=10)
    assert "emergency fund" in [k.term for k in fund.keywords]
    german = analysis(sample_settings, "keywords", "kitchen/apfelkuchen.txt", top=5)
    assert not {"und", "die", "der", "mit"} & {k.term for k in german.keywords}


def test_collection_keywords_are_subjects_not_common_words(sample_settings: Settings) -> None:
    result = analysis(sample_settings, "keywords", top=15)
    assert result.document is None and len(result.keywords) == 15
    found = {k.term for k in result.keywords}
    assert {"coffee", "dough"} <= found
    assert not {"water", "time", "small"} & found


def test_keywords_are_cached_until_the_collection_changes(sample_settings: Settings) -> None:
    records = [Record(f"k{i}", f"Note {i} about herons and kingfishers.") for i in range(3)]
    ingest(sample_settings, records=records, collection="cache")
    assert analysis(sample_settings, "keywords", collection="cache").cached is False
    assert analysis(sample_settings, "keywords", "k1", "cache").cached is True
    ingest(sample_settings, records=[Record("k9", "A note about otters.")], collection="cache")
    changed = analysis(sample_settings, "keywords", collection="cache")
    assert changed.cached is False and "otters" in {k.term for k in changed.keywords}


def test_tfidf_ranks_a_documents_own_repeated_term_first() -> None:
    texts = [
        "Zebra stripes. The zebra grazes. Savanna grass and a zebra foal.",
        "Savanna grass grows tall. Rain feeds the savanna grass.",
        "Grass fires cross the savanna in the dry season.",
    ]
    table = term_table(texts)
    top = top_per_row(table, tfidf_weights(table), 2)
    assert top[0][0].term == "zebra"
    assert top[1][0].term == "savanna grass"
    assert terms("The sourdough starter, fed daily.") == [
        "sourdough",
        "starter",
        "sourdough starter",
        "fed",
        "daily",
        "fed daily",
    ]


# --- topics -------------------------------------------------------------------------------

SPACE = "planet orbit telescope comet galaxy nebula asteroid moon crater star eclipse".split()
KITCHEN = "flour dough oven yeast butter sugar knead loaf crust whisk recipe bake".split()


def synthetic_records(seed: int = 3) -> list[Record]:
    rng = random.Random(seed)
    records = []
    for group, words in (("space", SPACE), ("kitchen", KITCHEN)):
        for i in range(6):
            body = " ".join(rng.choice(words) for _ in range(40))
            records.append(Record(f"{group}-{i}", f"{body.capitalize()}."))
    return records


def test_topics_split_two_separated_groups(sample_settings: Settings) -> None:
    ingest(sample_settings, records=synthetic_records(), collection="synthetic")
    result = analysis(sample_settings, "topics", "synthetic")
    assert result.automatic and result.k == 2 and result.documents == 12
    groups = [{r.document.uid.split("-")[0] for r in t.representatives} for t in result.topics]
    assert sorted(t.size for t in result.topics) == [6, 6]
    assert sorted(map(sorted, groups)) == [["kitchen"], ["space"]]
    for topic in result.topics:
        vocabulary = SPACE if "space" in topic.representatives[0].document.uid else KITCHEN
        assert all(w in vocabulary for t in topic.terms[:3] for w in t.term.split())
        assert len(topic.representatives) == 3


def test_topics_on_sample_docs_with_a_fixed_k(sample_settings: Settings) -> None:
    result = analysis(sample_settings, "topics", k=5)
    assert not result.automatic and result.k == 5 and len(result.topics) == 5
    assert sum(t.size for t in result.topics) == 47
    assert [t.number for t in result.topics] == [1, 2, 3, 4, 5]
    assert all(t.label and t.representatives for t in result.topics)
    with pytest.raises(UsageError, match="--k must be between 2 and 23 for 47 documents"):
        analysis(sample_settings, "topics", k=24)


def test_topics_need_four_documents(sample_settings: Settings) -> None:
    records = [Record(f"t{i}", f"Short note number {i} about tides.") for i in range(3)]
    ingest(sample_settings, records=records, collection="tiny")
    with pytest.raises(TooFewDocumentsError, match="at least 4"):
        analysis(sample_settings, "topics", "tiny")


def test_kmeans_recovers_blobs_and_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    centres = np.eye(3, 8) * 5
    points = np.vstack([c + rng.standard_normal((10, 8)) * 0.3 for c in centres])
    labels, _, _ = kmeans(points, 3)
    assert all(len(set(labels[i * 10 : (i + 1) * 10])) == 1 for i in range(3))
    assert len(set(labels)) == 3
    assert np.array_equal(kmeans(points, 3)[0], labels)


def test_silhouette_matches_the_definition() -> None:
    rng = np.random.default_rng(2)
    points = rng.standard_normal((15, 5))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    labels = np.array([0] * 6 + [1] * 5 + [2] * 3 + [3])
    distance = 1.0 - points @ points.T
    expected = []
    for i in range(15):
        own = [j for j in range(15) if labels[j] == labels[i] and j != i]
        if not own:
            expected.append(0.0)
            continue
        a = distance[i, own].mean()
        b = min(distance[i, labels == c].mean() for c in set(labels) - {labels[i]})
        expected.append((b - a) / max(a, b))
    assert silhouette(points, labels, 4) == pytest.approx(np.mean(expected), abs=1e-9)


# --- show ---------------------------------------------------------------------------------


def test_show_profiles_a_document(sample_settings: Settings) -> None:
    profile = analysis(sample_settings, "show", "kitchen/bread-basics.md")
    source = (SAMPLE_DOCS / "kitchen/bread-basics.md").read_text(encoding="utf-8")
    flat = " ".join(re.sub(r"\*\*", "", source).split())
    stats = profile.statistics
    assert profile.format == "markdown" and profile.size_bytes == len(source.encode())
    assert stats.language == "en" and stats.chunks >= 2
    assert 0.8 * len(source.split()) < stats.words < 1.1 * len(source.split())
    assert len(profile.summary) == 3 and all(s in flat for s in profile.summary)
    assert "dough" in {k.term for k in profile.keywords}
    assert relative(profile.similar[0].document.path, SAMPLE_DOCS) == "kitchen/bread-basics-copy.md"


@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("kitchen/apfelkuchen.txt", "de"),
        ("kitchen/pain-de-campagne.md", "fr"),
        ("kitchen/cafe-de-olla.txt", "es"),
        ("tech/sqlite/sqlite-indexes.md", "en"),
    ],
)
def test_show_detects_the_language(sample_settings: Settings, name: str, language: str) -> None:
    assert analysis(sample_settings, "show", name).statistics.language == language


def test_language_detector_on_short_texts() -> None:
    assert detect_language("Il gatto è sul tavolo e non vuole scendere per la cena.") == "it"
    assert detect_language("O gato está em cima da mesa e não quer descer para o jantar.") == "pt"
    assert detect_language("De kat zit op de tafel en wil niet naar beneden voor het eten.") == "nl"
    assert detect_language("12345 67890") == "unknown"


def test_summary_sentences_are_central_and_in_order() -> None:
    text = (
        "Bees make honey from nectar. Honey bees store honey in wax combs. "
        "The weather was cold on Tuesday morning. Bees guard the honey combs from wasps."
    )
    chosen = central_sentences(text, 2)
    assert "The weather was cold on Tuesday morning." not in chosen
    assert chosen == sorted(chosen, key=text.index)


def test_a_long_lived_analysis_service_follows_writes_of_another_context(
    tmp_path: Path, fake_models: Any, settings: Settings
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in [("a.txt", "Herons wait by the pond."), ("b.txt", "Otters swim.")]:
        (docs / name).write_text(text + "\n")
    overrides = fake_models.overrides()

    async def scenario() -> tuple[list[str], list[str], bool]:
        async with AppContext(settings, overrides=overrides) as writer:
            ingest_service = semantic_core(writer).ingest
            await ingest_service.ingest_paths([docs], IngestOptions())
            async with AppContext(settings, overrides=overrides) as reader:
                analysis = semantic_core(reader).analysis
                before = await analysis.similar("a.txt", top_k=5)
                await analysis.keywords()
                (docs / "c.txt").write_text("Herons and egrets wait by the pond.\n")
                await ingest_service.ingest_paths([docs], IngestOptions())
                after = await analysis.similar("a.txt", top_k=5)
                keywords = await analysis.keywords()
        names = [Path(h.document.path).name for h in before.hits]
        return names, [Path(h.document.path).name for h in after.hits], keywords.cached

    before, after, cached = run(scenario())
    assert "c.txt" not in before and after[0] == "c.txt"
    assert cached is False  # recomputed: the collection changed
