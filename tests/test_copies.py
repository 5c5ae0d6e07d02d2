"""One hit per content: a page stored under several paths (the same file twice, or the
same manual page as AsciiDoc source and as rendered HTML, as git-doc installs it) shows
once, naming its other copies; ``--all-copies`` shows each."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from modules.semantic_core.copies import COPY_JACCARD, SeenContent, jaccard, sketch
from tests.helpers import cli, cli_json

STASH = {
    "NAME": ["git-stash - Stash the changes in a dirty working directory away"],
    "DESCRIPTION": [
        "Use git stash when you want to record the current state of the working directory "
        "and the index, but want to go back to a clean working directory. The command saves "
        "your local modifications away and reverts the working directory to match the HEAD "
        "commit.",
        "The modifications stashed away by this command can be listed with git stash list, "
        "inspected with git stash show, and restored (potentially on top of a different "
        "commit) with git stash apply.",
    ],
    "OPTIONS": [
        "push [-p|--patch] [-k|--[no-]keep-index] [-u|--include-untracked] [-a|--all]",
        "Save your local modifications to a new stash entry and roll them back to HEAD (in "
        "the working tree and in the index). The message part is optional and gives the "
        "description along with the stashed state.",
        "pop [--index] [-q|--quiet] [<stash>]",
        "Remove a single stashed state from the stash list and apply it on top of the "
        "current working tree state, i.e., do the inverse operation of git stash push. The "
        "working directory must match the index.",
    ],
}

REVERT = {
    "NAME": ["git-revert - Revert some existing commits"],
    "DESCRIPTION": [
        "Given one or more existing commits, revert the changes that the related patches "
        "introduce, and record some new commits that record them. This requires your working "
        "tree to be clean (no modifications from the HEAD commit).",
        "Note: git revert is used to record some new commits to reverse the effect of some "
        "earlier commits (often only a faulty one). If you want to throw away all uncommitted "
        "changes in your working directory, you should see git-reset, particularly the --hard "
        "option. If you want to set aside your local modifications, see git stash.",
    ],
}


def asciidoc(name: str, sections: dict[str, list[str]]) -> str:
    lines = [f"{name}(1)", "=" * (len(name) + 3), ""]
    for title, paragraphs in sections.items():
        lines += [title, "-" * len(title)]
        for paragraph in paragraphs:
            lines += [paragraph, ""]
    return "\n".join(lines)


def rendered(name: str, sections: dict[str, list[str]]) -> str:
    """The page as git's documentation renders it: a header, the sections, a footer."""
    body = [f'<div id="header"><h1>{name}(1) Manual Page</h1></div>', '<div id="content">']
    for title, paragraphs in sections.items():
        body.append(f'<div class="sect1"><h2 id="_{title.lower()}">{title}</h2>')
        body += [f'<div class="paragraph"><p>{html.escape(p)}</p></div>' for p in paragraphs]
        body.append("</div>")
    body += ["</div>", '<div id="footer"><div id="footer-text">Last updated 2023-02-14</div></div>']
    page = "\n".join(body)
    head = f"<!DOCTYPE html>\n<html><head><title>{name}(1)</title></head><body>"
    return f"{head}\n{page}\n</body></html>\n"


@pytest.fixture
def manuals(data_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "doc"
    (folder / "git" / "html").mkdir(parents=True)
    (folder / "git" / "git-stash.txt").write_text(asciidoc("git-stash", STASH), encoding="utf-8")
    (folder / "git" / "html" / "git-stash.html").write_text(
        rendered("git-stash", STASH), encoding="utf-8"
    )
    (folder / "git" / "git-revert.txt").write_text(asciidoc("git-revert", REVERT), encoding="utf-8")
    (folder / "notes.md").write_text("# Stash notes\n\nStash local modifications away.\n")
    (folder / "backup").mkdir()
    (folder / "backup" / "notes.md").write_text((folder / "notes.md").read_text())
    report = cli_json("--data-dir", str(data_dir), "ingest", str(folder))
    assert report["new"] == 5, report
    return folder


def search(data_dir: Path, question: str, *extra: str) -> list[dict]:
    found = cli_json("--data-dir", str(data_dir), "query", question, "-k", "10", *extra)
    return found["results"]


def names(results: list[dict]) -> list[str]:
    return [Path(r["document"]).name for r in results]


QUESTION = "save local modifications away and go back to a clean tree"


def test_a_page_in_two_formats_shows_once_naming_its_copy(data_dir: Path, manuals: Path) -> None:
    results = search(data_dir, QUESTION)
    stash = [r for r in results if r["document"].endswith(("git-stash.txt", "git-stash.html"))]
    assert len(stash) == 1, names(results)
    other = {"git-stash.txt": "git-stash.html", "git-stash.html": "git-stash.txt"}
    copies = [Path(c["document"]).name for c in stash[0]["copies"]]
    assert copies == [other[Path(stash[0]["document"]).name]]
    assert "git-revert.txt" in names(results)  # a page on a neighbouring topic stays
    assert [r["rank"] for r in results] == list(range(1, len(results) + 1))

    every = search(data_dir, QUESTION, "--all-copies")
    assert {"git-stash.txt", "git-stash.html"} <= set(names(every))
    assert all(r["copies"] == [] for r in every)


def test_the_same_file_under_two_paths_shows_once(data_dir: Path, manuals: Path) -> None:
    results = search(data_dir, "stash notes", "--mode", "keyword")
    notes = [r for r in results if r["document"].endswith("notes.md")]
    assert len(notes) == 1
    assert len(notes[0]["copies"]) == 1 and notes[0]["copies"][0]["document"].endswith("notes.md")
    shown = cli("--data-dir", str(data_dir), "query", "stash notes", "--mode", "keyword")
    assert "also: " in shown.output and "notes.md" in shown.output.split("also: ")[1]


def test_chunks_are_listed_from_every_copy(data_dir: Path, manuals: Path) -> None:
    results = search(data_dir, "stash notes", "--mode", "keyword", "--chunks")
    assert names(results).count("notes.md") == 2


def test_sketches_tell_a_rendering_from_a_neighbouring_page() -> None:
    from pathlib import PurePath

    from modules.semantic_core.ingest.extract import extract

    def text(data: str, name: str) -> str:
        return extract(data.encode(), PurePath(name)).text

    source = sketch(text(asciidoc("git-stash", STASH), "git-stash.txt"))
    page = sketch(text(rendered("git-stash", STASH), "git-stash.html"))
    neighbour = sketch(text(asciidoc("git-revert", REVERT), "git-revert.txt"))
    assert source and page and neighbour
    assert jaccard(source, page) >= COPY_JACCARD > jaccard(source, neighbour)
    seen = SeenContent()
    assert seen.add("a", source) == 0
    assert seen.copy_of("b", page) == 0
    assert seen.copy_of("c", neighbour) is None
    assert seen.copy_of("a", None) == 0  # the same bytes, whatever the sketch
