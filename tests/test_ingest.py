"""Ingest through the service: incremental behaviour, atomic documents, hostile input."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from analyzer.settings import Settings
from modules.semantic_core.collections import ModelMismatchError
from modules.semantic_core.ingest.report import IngestReport
from modules.semantic_core.ingest.service import Record
from tests import helpers
from tests.helpers import (
    SAMPLE_DOCS,
    FakeModels,
    before_extracting,
    fulltext_hits,
    indexed_chunks,
    stored_rows,
    three_notes,
)

# Most of these tests are about files and rows, not vectors: instant models will do.
FAKE_MODELS = FakeModels()


def ingest(
    settings: Settings, *paths: Path, models: Any = FAKE_MODELS, **options: Any
) -> IngestReport:
    return helpers.ingest_paths(settings, *paths, models=models, **options)


def ingest_records(settings: Settings, records: list[Record], **options: Any) -> IngestReport:
    return helpers.ingest_records(settings, records, models=FAKE_MODELS, **options)


def rows(settings: Settings, sql: str) -> list[tuple]:
    return stored_rows(settings.data_dir / "semantic_core.db", sql)


def problems(report: IngestReport) -> dict[str, tuple[str, str]]:
    return {Path(p.path).name: (p.status, p.reason) for p in report.problems}


def test_sample_docs_ingest_every_format(settings: Settings) -> None:
    report = ingest(settings, SAMPLE_DOCS)
    assert report.failed == 0 and report.skipped == 0
    assert report.new == len([p for p in SAMPLE_DOCS.rglob("*") if p.is_file()])
    formats = {f for (f,) in rows(settings, "SELECT DISTINCT format FROM documents")}
    assert formats == {"markdown", "text", "rst", "html", "pdf", "docx"}
    chunks = rows(settings, "SELECT count(*) FROM chunks")[0][0]
    indexed = indexed_chunks(settings.data_dir / "semantic_core.db")
    assert chunks == indexed == report.chunks > report.new


def test_unchanged_reingest_does_no_work_and_changes_nothing(settings: Settings) -> None:
    first = ingest(settings, SAMPLE_DOCS)
    before = rows(settings, "SELECT id, content_hash, updated_at FROM documents ORDER BY id")
    again = ingest(settings, SAMPLE_DOCS)
    assert (again.new, again.updated, again.unchanged, again.chunks) == (0, 0, first.new, 0)
    assert (
        rows(settings, "SELECT id, content_hash, updated_at FROM documents ORDER BY id") == before
    )


def test_a_changed_file_replaces_its_chunks(settings: Settings, tmp_path: Path) -> None:
    doc = tmp_path / "docs" / "note.md"
    doc.parent.mkdir()
    doc.write_text("# Note\n\nThe heron waits by the pond.\n")
    ingest(settings, doc.parent)
    doc.write_text("# Note\n\nThe kingfisher dives into the river.\n\nA second paragraph.\n")
    report = ingest(settings, doc.parent)
    assert (report.new, report.updated) == (0, 1)
    texts = " ".join(t for (t,) in rows(settings, "SELECT text FROM chunks"))
    assert "kingfisher" in texts and "heron" not in texts
    assert fulltext_hits(settings.data_dir / "semantic_core.db", "heron") == []
    assert fulltext_hits(settings.data_dir / "semantic_core.db", "kingfisher") != []


def test_touched_but_identical_file_is_unchanged(settings: Settings, tmp_path: Path) -> None:
    doc = tmp_path / "docs" / "same.txt"
    doc.parent.mkdir()
    doc.write_text("Same words as before.\n")
    ingest(settings, doc.parent)
    os.utime(doc, ns=(10**18, 10**18))
    report = ingest(settings, doc.parent)
    assert (report.unchanged, report.updated) == (1, 0)
    assert rows(settings, "SELECT mtime_ns FROM documents") == [(10**18,)]


def test_prune_removes_documents_whose_files_vanished(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "keep.txt").write_text("Keep this one.\n")
    (folder / "gone.txt").write_text("This one will vanish.\n")
    ingest(settings, folder)
    (folder / "gone.txt").unlink()
    assert ingest(settings, folder).pruned == 0  # without --prune nothing is removed
    report = ingest(settings, folder, prune=True)
    assert report.pruned == 1
    assert [Path(p).name for (p,) in rows(settings, "SELECT path FROM documents")] == ["keep.txt"]
    assert indexed_chunks(settings.data_dir / "semantic_core.db") == 1


def test_include_and_exclude_globs(settings: Settings) -> None:
    report = ingest(settings, SAMPLE_DOCS, include=["*.md"], exclude=["*copy*"])
    names = [Path(p).name for (p,) in rows(settings, "SELECT path FROM documents")]
    assert names and all(n.endswith(".md") for n in names)
    assert "bread-basics-copy.md" not in names
    assert report.new == len(names)


def test_hidden_and_junk_directories_are_skipped(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    for junk in (".git", "node_modules", "__pycache__", ".hidden"):
        (folder / junk).mkdir(parents=True)
        (folder / junk / "x.txt").write_text("junk\n")
    (folder / "real.txt").write_text("real text\n")
    report = ingest(settings, folder)
    assert report.new == 1


def test_records_keep_their_ids_and_are_incremental(settings: Settings) -> None:
    records = [Record("d1", "Cells divide by mitosis.", "Mitosis"), Record("d2", "Stars fuse.")]
    assert ingest_records(settings, records, collection="beir").new == 2
    assert ingest_records(settings, records, collection="beir").unchanged == 2
    assert sorted(rows(settings, "SELECT uid, path FROM documents")) == [
        ("d1", "d1"),
        ("d2", "d2"),
    ]


def test_a_different_model_is_refused_unless_forced(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Tides follow the moon.\n")
    ingest(settings, folder, models=None)
    with pytest.raises(ModelMismatchError, match="--force"):
        ingest(settings, folder, models=None, model="minilm-l6-int8")
    report = ingest(settings, folder, models=None, model="minilm-l6-int8", force=True)
    assert report.model_id == "analyzer/minilm-l6-int8"
    (dimension,) = rows(settings, "SELECT dimension FROM collections")[0]
    assert dimension == 384
    (blob,) = rows(settings, "SELECT embedding FROM chunks")[0]
    assert len(blob) == 384 * 2


def stored_vectors(settings: Settings, collection: str) -> dict[tuple[str, int], bytes]:
    """(path, chunk ordinal) -> chunk vector, and (path, -1) -> document vector."""
    found = rows(
        settings,
        "SELECT d.path, c.ordinal, c.embedding FROM chunks c "
        "JOIN documents d ON d.id = c.document_id JOIN collections k ON k.id = d.collection_id "
        f"WHERE k.name = '{collection}' "
        "UNION ALL SELECT d.path, -1, d.embedding FROM documents d "
        f"JOIN collections k ON k.id = d.collection_id WHERE k.name = '{collection}'",
    )
    return {(path, ordinal): blob for path, ordinal, blob in found}


def test_a_reembedded_collection_matches_a_fresh_ingest_with_that_model(
    settings: Settings, fake_models: FakeModels
) -> None:
    ingest(settings, SAMPLE_DOCS, models=fake_models)
    switched = ingest(
        settings, SAMPLE_DOCS / "kitchen", models=fake_models, model="other", force=True
    )
    ingest(settings, SAMPLE_DOCS, models=fake_models, model="other", collection="fresh")

    reembedded, fresh = stored_vectors(settings, "default"), stored_vectors(settings, "fresh")
    assert switched.reembedded > 0 and len(reembedded) == len(fresh)
    assert [key for key in fresh if reembedded[key] != fresh[key]] == []


def test_a_forced_model_change_embeds_each_chunk_once(
    settings: Settings, fake_models: FakeModels
) -> None:
    ingest(settings, SAMPLE_DOCS, models=fake_models)
    ingest(settings, SAMPLE_DOCS / "kitchen", models=fake_models, model="other", force=True)

    (chunks,) = rows(settings, "SELECT count(*) FROM chunks")[0]
    assert len(fake_models.embedder("other").encoded) == chunks
    assert rows(settings, "SELECT count(*) FROM chunks WHERE embedding IS NULL") == [(0,)]


def test_a_run_that_dies_after_the_model_switch_leaves_its_files_to_the_next_run(
    settings: Settings, fake_models: FakeModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modules.semantic_core.ingest.run as ingest_module

    ingest(settings, SAMPLE_DOCS / "kitchen", models=fake_models)

    def crash(*args: Any) -> bytes:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(ingest_module, "read_regular_file", crash)
        with pytest.raises(KeyboardInterrupt):
            ingest(settings, SAMPLE_DOCS / "kitchen", models=fake_models, model="other", force=True)
    # Switched, with the files of the run waiting: no vector of the old model is left.
    assert rows(settings, "SELECT model_id FROM collections") == [("test-hash:other",)]
    assert rows(settings, "SELECT count(*) FROM chunks WHERE embedding IS NOT NULL") == [(0,)]
    report = ingest(settings, SAMPLE_DOCS / "kitchen", models=fake_models)
    assert report.updated == report.new + report.updated + report.unchanged > 0
    assert rows(settings, "SELECT count(*) FROM chunks WHERE embedding IS NULL") == [(0,)]


# --- hostile input ---------------------------------------------------------------


def _minimal_pdf(encrypted: bool = False) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    if encrypted:
        writer.encrypt(user_password="secret", owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (300 * 1024 * 1024))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per module (the zip bomb takes a second); the tests only read it."""
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "good.md").write_text("# Good\n\nA perfectly fine document about rivers.\n")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "random.txt").write_bytes(os.urandom(4096))
    (folder / "invalid-utf8.txt").write_bytes(
        b"caf\xc3 au lait \xff\xfe broken but mostly text. " * 20
    )
    (folder / "latin1.txt").write_bytes(
        "Über den Apfelkuchen: Zucker, Mehl, Äpfel. ".encode("latin-1") * 5
    )
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage" * 10)
    (folder / "encrypted.pdf").write_bytes(_minimal_pdf(encrypted=True))
    (folder / "not-a-zip.docx").write_bytes(b"this is not a zip file at all")
    (folder / "bomb.docx").write_bytes(_zip_bomb())
    (folder / "huge.txt").write_bytes(b"big " * 300_000)
    os.mkfifo(folder / "pipe.txt")
    (folder / "loop").mkdir()
    os.symlink(folder / "loop", folder / "loop" / "again")
    os.symlink(folder / "missing-target", folder / "dangling.txt")
    return folder


def test_hostile_files_never_stop_the_run_and_each_is_reported(
    settings: Settings, hostile_folder: Path
) -> None:
    report = ingest(settings, hostile_folder, max_file_size=1024 * 1024)
    seen = problems(report)
    assert seen["empty.txt"] == ("skipped", "empty file")
    assert seen["random.txt"][0] == "skipped" and "binary" in seen["random.txt"][1]
    assert seen["corrupt.pdf"][0] == "failed" and "PDF" in seen["corrupt.pdf"][1]
    assert seen["encrypted.pdf"][0] == "failed" and "encrypted" in seen["encrypted.pdf"][1]
    assert seen["not-a-zip.docx"] == ("failed", "not a valid .docx (not a zip archive)")
    assert seen["bomb.docx"][0] == "failed" and "zip bomb" in seen["bomb.docx"][1]
    assert seen["huge.txt"][0] == "skipped" and "--max-file-size" in seen["huge.txt"][1]
    assert seen["pipe.txt"] == ("skipped", "not a regular file (named pipe)")
    assert seen["again"][0] == "skipped" and "symlink loop" in seen["again"][1]
    assert seen["dangling.txt"] == ("skipped", "broken symlink")
    stored = {Path(p).name for (p,) in rows(settings, "SELECT path FROM documents")}
    assert stored == {"good.md", "invalid-utf8.txt", "latin1.txt"}
    # No partial rows: every stored document has chunks, every chunk is indexed.
    orphans = rows(
        settings,
        "SELECT count(*) FROM documents d WHERE NOT EXISTS "
        "(SELECT 1 FROM chunks c WHERE c.document_id = d.id)",
    )
    assert orphans == [(0,)]


def test_latin1_text_is_decoded(settings: Settings, hostile_folder: Path) -> None:
    ingest(settings, hostile_folder, max_file_size=1024 * 1024)
    texts = " ".join(t for (t,) in rows(settings, "SELECT text FROM chunks"))
    assert "Über den Apfelkuchen" in texts and "Äpfel" in texts


def test_sample_latin1_recipe_is_decoded(settings: Settings) -> None:
    ingest(settings, SAMPLE_DOCS / "kitchen")
    texts = " ".join(t for (t,) in rows(settings, "SELECT text FROM chunks"))
    assert "Äpfel" in texts or "äpfel" in texts.lower()


def test_a_file_vanishing_between_listing_and_reading(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modules.semantic_core.ingest.run as ingest_module

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "stays.txt").write_text("I stay.\n")
    (folder / "goes.txt").write_text("I go.\n")
    real_read = ingest_module.read_regular_file

    def read_after_deleting(path: str, limit: int) -> bytes:
        if Path(path).name == "goes.txt":
            Path(path).unlink()
        return real_read(path, limit)

    monkeypatch.setattr(ingest_module, "read_regular_file", read_after_deleting)
    report = ingest(settings, folder)
    assert problems(report)["goes.txt"] == ("failed", "vanished before it could be read")
    assert report.new == 1


def test_html_chrome_is_dropped(settings: Settings) -> None:
    ingest(settings, SAMPLE_DOCS / "kitchen" / "espresso-dialing-in.html")
    ingest(settings, SAMPLE_DOCS / "tech" / "networking" / "router-security-checklist.html")
    texts = " ".join(t for (t,) in rows(settings, "SELECT text FROM chunks"))
    assert "channeling" in texts.lower()
    for junk in (
        "This site uses cookies",
        "Sign up for our newsletter",
        "gtag",
        "enable JavaScript",
    ):
        assert junk not in texts


# --- no single input ends a run ------------------------------------------------------------


def test_an_unexpected_error_in_one_file_fails_that_file_only(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash() -> None:
        raise ValueError("a bug in an extractor\nwith a second line")

    folder = three_notes(tmp_path / "docs", "cursed.txt")
    before_extracting(monkeypatch, "cursed.txt", crash)
    report = ingest(settings, folder)
    assert report.new == 2 and report.failed == 1
    status, reason = problems(report)["cursed.txt"]
    assert status == "failed"
    assert (
        reason
        == "unexpected ValueError: a bug in an extractor (run with --debug for the traceback)"
    )
    with pytest.raises(ValueError, match="a bug in an extractor"):
        ingest(settings, folder, force=True, debug=True)


def test_a_document_the_model_chokes_on_fails_alone(
    settings: Settings, tmp_path: Path, fake_models: FakeModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in [("a.txt", "Herons."), ("poison.txt", "poison pill"), ("c.txt", "Otters.")]:
        (folder / name).write_text(text + "\n")
    embedder = fake_models.embedder()
    real_encode = embedder.encode

    def encode(texts: Any, max_length: int | None = None) -> Any:
        if any("poison" in t for t in texts):
            raise RuntimeError("the tokenizer fell over")
        return real_encode(texts, max_length)

    monkeypatch.setattr(embedder, "encode", encode)
    report = ingest(settings, folder, models=fake_models)
    assert report.new == 2
    assert problems(report)["poison.txt"][1].startswith("unexpected RuntimeError: the tokenizer")
    stored = {Path(p).name for (p,) in rows(settings, "SELECT path FROM documents")}
    assert stored == {"a.txt", "c.txt"}


def test_deeply_nested_html_is_read_without_recursion(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    depth = 5_000  # five times Python's recursion limit
    page = "<html><body>" + "<div>" * depth + "Deep in the page." + "</div>" * depth
    (folder / "deep.html").write_text(page + "<p>After it.</p></body></html>")
    (folder / "plain.txt").write_text("A plain file beside it.\n")
    report = ingest(settings, folder)
    assert (report.new, report.failed) == (2, 0)
    texts = " ".join(t for (t,) in rows(settings, "SELECT text FROM chunks"))
    assert "Deep in the page." in texts and "After it." in texts


def test_a_file_name_that_is_not_utf8_is_stored_and_found_byte_for_byte(
    settings: Settings, tmp_path: Path
) -> None:
    from analyzer.paths import display_path

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_text("Good text.\n")
    raw_name = os.path.join(os.fsencode(folder), b"caf\xe9-latin1.txt")
    with open(raw_name, "wb") as handle:
        handle.write(b"Notes about coffee beans.\n")

    report = ingest(settings, folder)
    assert (report.new, report.failed) == (2, 0)
    again = ingest(settings, folder)
    assert (again.new, again.unchanged) == (0, 2)  # the stored name matches the file's
    stored = [p for (p,) in rows(settings, "SELECT path FROM documents") if "coffee" not in p]
    latin = next(p for p in stored if "latin1" in p)
    assert display_path(latin).endswith("caf\\xe9-latin1.txt")
    os.remove(raw_name)
    assert ingest(settings, folder, prune=True).pruned == 1


def test_symlinks_out_of_the_given_paths_are_not_followed_unless_asked(
    settings: Settings, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    (outside / "secrets").mkdir(parents=True)
    (outside / "passwd.txt").write_text("root:x:0:0\n")
    (outside / "secrets" / "key.txt").write_text("hunter2\n")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "note.txt").write_text("A note.\n")
    (folder / "inner").mkdir()
    (folder / "inner" / "kept.txt").write_text("Kept.\n")
    os.symlink(outside / "passwd.txt", folder / "passwd-link.txt")
    os.symlink(outside / "secrets", folder / "secrets-link")
    os.symlink(folder / "inner" / "kept.txt", folder / "kept-link.txt")

    report = ingest(settings, folder)
    seen = problems(report)
    assert (
        seen["passwd-link.txt"][0] == "skipped"
        and "--follow-symlinks" in seen["passwd-link.txt"][1]
    )
    assert seen["secrets-link"][0] == "skipped"
    stored = {Path(p).name for (p,) in rows(settings, "SELECT path FROM documents")}
    assert stored == {"note.txt", "kept.txt", "kept-link.txt"}  # links inside are followed

    followed = ingest(settings, folder, follow_symlinks=True)
    assert followed.new == 2 and followed.skipped == 0
    stored = {Path(p).name for (p,) in rows(settings, "SELECT path FROM documents")}
    assert {"passwd-link.txt", "key.txt"} <= stored


def test_a_tree_deeper_than_the_recursion_limit_is_walked(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    deep = str(folder)
    for _ in range(1_200):  # deeper than Python's recursion limit (os.makedirs recurses too)
        deep = os.path.join(deep, "d")
        os.mkdir(deep)
    with open(os.path.join(deep, "bottom.txt"), "w") as handle:
        handle.write("At the bottom of the tree.\n")
    try:
        assert ingest(settings, folder).new == 1
    finally:  # shutil.rmtree recurses too: leave pytest's clean-up a shallow tree
        os.remove(os.path.join(deep, "bottom.txt"))
        while deep != str(folder):
            os.rmdir(deep)
            deep = os.path.dirname(deep)


def test_text_right_below_a_heading_is_kept(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "tight.md").write_text("# Tides\nThe moon pulls the sea twice a day.\n")
    (folder / "tight.rst").write_text("Herons\n======\nHerons wait by the pond.\n")
    ingest(settings, folder)
    texts = " ".join(t for (t,) in rows(settings, "SELECT text FROM chunks"))
    assert "The moon pulls the sea" in texts and "Herons wait by the pond" in texts
