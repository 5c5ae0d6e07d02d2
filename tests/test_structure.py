"""Structure read right: Markdown as CommonMark, RST roles as text, HTML without its
boilerplate, PDF outlines as headings without running headers; and every line's place
in the file, so a hit's ``path:line`` opens where its text is."""

from __future__ import annotations

from pathlib import PurePath

from modules.semantic_core.ingest.chunking import chunk_document
from modules.semantic_core.ingest.extract import extract
from modules.semantic_core.ingest.extract.pdf import without_running_lines
from tests.fixtures_documents import (
    CMAKE_PAGE,
    MANUAL_SECTIONS,
    NPM_PAGE,
    SPHINX_PAGE,
    manual_pdf,
)


def headings_of(text: str, name: str) -> list[tuple[int, str]]:
    extracted = extract(text.encode(), PurePath(name))
    return [(h.level, h.title) for h in extracted.headings]


# --- Markdown ------------------------------------------------------------------------------


def test_a_closing_code_fence_is_not_a_setext_underline() -> None:
    headings = headings_of(NPM_PAGE, "npm-install.md")
    assert headings == [(3, "Synopsis"), (3, "Description"), (2, "Setext section")]
    titles = [title for _, title in headings]
    assert not any("appendFileSync" in t or "const fs" in t for t in titles)


def test_front_matter_gives_the_title_and_is_not_text() -> None:
    extracted = extract(NPM_PAGE.encode(), PurePath("npm-install.md"))
    assert extracted.title == "npm-install"
    assert "description:" not in extracted.text
    # Blanked, not removed: the text keeps the file's lines one for one.
    assert extracted.text.split("\n")[6] == NPM_PAGE.split("\n")[6] == "### Synopsis"
    assert extracted.text.count("\n") == NPM_PAGE.count("\n")


def test_a_markdown_title_without_front_matter_is_its_first_heading() -> None:
    page = "Intro words are not a title.\n\n# Real title\n\ntext\n"
    assert extract(page.encode(), PurePath("a.md")).title == "Real title"
    assert extract(b"# Top *emphasis* and [link](x)\n\nbody\n", PurePath("b.md")).title == (
        "Top emphasis and link"
    )


def test_headings_inside_indented_or_tilde_fences_are_code() -> None:
    page = "# Title\n\n~~~\n# not a heading\n~~~\n\n    # indented code\n\n## Real\n"
    assert headings_of(page, "a.md") == [(1, "Title"), (2, "Real")]


def test_a_setext_underline_is_not_chunk_text() -> None:
    page = "Title\n=====\n\nSection\n-------\n\nThe body of the section.\n"
    chunks = chunk_document(extract(page.encode(), PurePath("a.md")))
    assert [c.text for c in chunks] == ["The body of the section."]
    assert chunks[0].heading == "Title > Section"


# --- reStructuredText -------------------------------------------------------------------------


def test_rst_roles_and_directives_read_as_text() -> None:
    extracted = extract(CMAKE_PAGE.encode(), PurePath("add_executable.rst"))
    text = extracted.text
    assert "See the RUNTIME_OUTPUT_DIRECTORY target property" in text
    assert "target_sources() to add sources later" in text
    assert "or cmake-buildsystem(7)." in text
    assert "An IMPORTED executable target references a file." in text
    assert "Note:" in text and "New in version 3.11" in text
    for markup in (":prop_tgt:", ":command:", ":ref:", "``", ".. ", ":manual:"):
        assert markup not in text, markup
    assert "add_executable(<name> [WIN32]" in text  # code stays
    assert extracted.title == "add_executable"
    assert [h.title for h in extracted.headings] == ["add_executable", "Imported Executables"]
    assert text.count("\n") == CMAKE_PAGE.count("\n")


# --- HTML -------------------------------------------------------------------------------------


def test_sphinx_boilerplate_is_dropped() -> None:
    extracted = extract(SPHINX_PAGE.encode(), PurePath("argparse.html"))
    assert extracted.title == "argparse — Parser for command-line options"
    assert [h.title for h in extracted.headings] == [
        "argparse — Parser for command-line options",
        "Example",
        "Creating a parser",
    ]
    for chrome in ("¶", "This Page", "Show Source", "Copyright", "Navigation", "searchindex"):
        assert chrome not in extracted.text, chrome


def test_an_html_line_knows_its_line_in_the_source() -> None:
    extracted = extract(SPHINX_PAGE.encode(), PurePath("argparse.html"))
    source = SPHINX_PAGE.split("\n")
    assert extracted.source_lines is not None
    for number, line in enumerate(extracted.text.split("\n")):
        if line.strip():
            first_word = line.split()[0].strip("<>")
            in_source = source[extracted.source_lines[number] - 1]
            assert first_word in in_source, (line, in_source)


def test_a_title_without_a_matching_heading_is_kept_whole() -> None:
    page = "<html><head><title>Release notes | Example</title></head><body><h1>2.0</h1>"
    page += "<p>What changed.</p></body></html>"
    assert extract(page.encode(), PurePath("a.html")).title == "Release notes | Example"


# --- PDF --------------------------------------------------------------------------------------


def test_pdf_outline_gives_heading_paths_and_pages() -> None:
    extracted = extract(manual_pdf(), PurePath("manual.pdf"))
    assert [(h.level, h.title) for h in extracted.headings] == [
        (level, title) for title, level, _, _ in MANUAL_SECTIONS
    ]
    chunks = chunk_document(extracted)
    by_heading = {c.heading: c for c in chunks}
    logscale = by_heading["Plotting > set logscale"]
    assert "Log scaling" in logscale.text
    assert logscale.page == 3 and logscale.source_line is None
    assert [c.page for c in chunks] == [start + 1 for _, _, start, _ in MANUAL_SECTIONS]


def test_pdf_running_headers_and_footers_are_removed() -> None:
    extracted = extract(manual_pdf(), PurePath("manual.pdf"))
    assert "gnuplot 5.4" not in extracted.text
    assert "Copyright 2023" not in extracted.text
    assert "The last page lists every command." in extracted.text


def test_running_lines_need_to_repeat_on_many_pages() -> None:
    topics = ["rivers", "deltas", "glaciers", "deserts", "forests", "coasts"]
    pages = [[f"{n} Manual title", f"All about {t}.", "Footer"] for n, t in enumerate(topics)]
    pages.append(["A closing page with one unique first line", "and more"])
    kept = without_running_lines(pages)
    assert kept[0] == ["All about rivers."]
    assert kept[-1] == pages[-1]
    few = [["Same line", "text a"], ["Same line", "text b"], ["Same line", "text c"]]
    assert without_running_lines(few) == few  # three pages prove nothing
