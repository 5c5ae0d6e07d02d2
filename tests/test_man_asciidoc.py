"""AsciiDoc saved as ``.txt`` (git's documentation) and man pages rendered to text
(``man -P cat tar > tar.1.txt``): their structure read as headings, block delimiters
never taken for heading underlines, running headers never a title, and every hit's
``line`` a line of the file as stored on disk."""

from __future__ import annotations

from pathlib import Path, PurePath

import pytest

from modules.semantic_core.ingest.chunking import chunk_document
from modules.semantic_core.ingest.extract import Extracted, extract
from tests.helpers import cli, cli_json

# --- documents shaped like the real ones --------------------------------------------------


def _listing(*commands: str) -> list[str]:
    return ["+", "------------", *commands, "------------", "+"]


def git_reset_page() -> str:
    """A page shaped like git's ``git-reset.txt``: a title over ``====``, sections over
    ``----``, labelled lists, ``+`` continuations, listing blocks delimited by twelve
    dashes under shell lines, and a ``....`` literal table whose header row sits over a
    row of dashes of its own length."""
    lines = [
        "git-reset(1)",
        "============",
        "",
        "NAME",
        "----",
        "git-reset - Reset current HEAD to the specified state",
        "",
        "SYNOPSIS",
        "--------",
        "[verse]",
        "'git reset' [-q] [<tree-ish>] [--] <pathspec>...",
        "'git reset' [--soft | --mixed [-N] | --hard | --merge | --keep] [-q] [<commit>]",
        "",
        "DESCRIPTION",
        "-----------",
        "In the first three forms, copy entries from `<tree-ish>` to the index.",
        "In the last form, set the current branch head (`HEAD`) to `<commit>`,",
        "optionally modifying index and working tree to match.",
        "",
        "--soft::",
        "\tDoes not touch the index file or the working tree at all (but",
        "\tresets the head to `<commit>`, just like all modes do). This leaves",
        '\tall your changed files "Changes to be committed", as `git status`',
        "\twould put it.",
        "",
        "--hard::",
        "\tResets the index and working tree. Any changes to tracked files in the",
        "\tworking tree since `<commit>` are discarded.",
        "",
        "OPTIONS",
        "-------",
        "",
        "-q::",
        "--quiet::",
        "\tBe quiet, only report errors.",
        "",
        "--pathspec-from-file=<file>::",
        "\tPathspec is passed in `<file>` instead of commandline args. If",
        "\t`<file>` is exactly `-` then standard input is used. Pathspec",
        "\telements are separated by LF or CR/LF. Pathspec elements can be",
        "\tquoted as explained for the configuration variable `core.quotePath`.",
        "",
        "\\--::",
        "\tDo not interpret any more arguments as options.",
        "",
        "EXAMPLES",
        "--------",
        "",
        "Undo add::",
        *_listing(
            "$ edit                                     <1>",
            "$ git add frotz.c filfre.c",
            "$ mailx                                    <2>",
            "$ git reset                                <3>",
            "$ git pull git://info.example.com/ nitfol  <4>",
        ),
        "<1> You are happily working on something, and find the changes",
        "    in these files are in good order.",
        "<4> Then you pull from the upstream repository.",
        "",
        "Undo a commit and redo::",
        *_listing(
            "$ git commit ...",
            "$ git reset --soft HEAD^      <1>",
            "$ edit                        <2>",
            "$ git commit -a -c ORIG_HEAD  <3>",
        ),
        "<1> This is most often done when you remembered what you",
        "    just committed is incomplete, or you misspelled your commit",
        '    message, or both. Leaves working tree as it was before "reset".',
        "<2> Make corrections to working tree files.",
        "",
        "Undo commits permanently::",
        *_listing("$ git commit ...", "$ git reset --hard HEAD~3   <1>"),
        "<1> The last three commits (`HEAD`, `HEAD^`, and `HEAD~2`) were bad",
        "    and you do not want to ever see them again.",
        "",
        "DISCUSSION",
        "----------",
        "",
        "The tables below show what happens when running:",
        "",
        "----------",
        "git reset --option target",
        "----------",
        "",
        "....",
        "working index HEAD target         working index HEAD",
        "----------------------------------------------------",
        " A       B     C    D     --soft   A       B     D",
        "\t\t\t  --hard   D       D     D",
        "....",
        "",
        "GIT",
        "---",
        "Part of the linkgit:git[1] suite",
        "",
    ]
    return "\n".join(lines)


def asciidoc_guide() -> str:
    """An ``.adoc`` file with one-line section titles and a listing block whose last
    line is as long as its closing delimiter."""
    return "\n".join(
        [
            "= Building the Frobnicator",
            ":toc:",
            "",
            "== Installing",
            "",
            "The frobnicator builds with any C compiler and GNU make. It needs no",
            "libraries beyond the C library, and it installs a single program, its",
            "manual page and the default configuration file. Packages for most",
            "distributions exist; build it yourself when you need the newest release",
            "or want to change the compile-time limits described below.",
            "",
            "=== From source",
            "",
            "[source,shell]",
            "----",
            "./configure --prefix=/usr/local",
            "make",
            "----",
            "",
            "Run the test suite before installing the quaternion tables.",
            "",
            "== Configuring",
            "",
            "The configuration file lives in /etc/frob.conf.",
            "",
        ]
    )


MAN_HEADER = "TAR(1)                          GNU TAR Manual                          TAR(1)"
MAN_FOOTER = "TAR                              July 13, 2020                          TAR(1)"
_BODY = " " * 7
_ENTRY = " " * 14


def _option(flags: str, *text: str) -> list[str]:
    return [_BODY + flags, *(_ENTRY + line for line in text), ""]


def tar_man_page() -> str:
    """A page shaped like ``man -P cat tar``: running header and footer (repeated in the
    middle, as a paged rendering has them), section names at column 0, subsections
    indented by three, option entries by seven with their text by fourteen."""
    filler = [
        _option(f"--option-{n}", f"Adjust the frobnication level {n} of the archive members.")
        for n in range(40)
    ]
    lines = [
        MAN_HEADER,
        "",
        "NAME",
        _BODY + "tar - an archiving utility",
        "",
        "SYNOPSIS",
        "   Traditional usage",
        _BODY + "tar {A|c|d|r|t|u|x}[GnSkUWOmpsMBiajJzZhPlRvwo] [ARG...]",
        "",
        "   UNIX-style usage",
        _BODY + "tar -x [-f ARCHIVE] [OPTIONS] [MEMBER...]",
        "",
        "DESCRIPTION",
        _BODY + "GNU tar is an archiving program designed to store multiple files in a",
        _BODY + "single file (an archive), and to manipulate such archives.",
        "",
        "OPTIONS",
        "   Operation modifiers",
        *_option("--check-device", "Check device numbers when creating incremental archives."),
        *[line for entry in filler[:20] for line in entry],
        MAN_FOOTER,
        "",
        MAN_HEADER,
        "",
        "   Local file selection",
        *_option("--add-file=FILE", "Add FILE to the archive (useful if it starts with a dash)."),
        *_option(
            "-C, --directory=DIR",
            "Change to DIR before performing any opera\u2010",
            "tions.  This option is order-sensitive, i.e. it affects all options",
            "that follow.",
        ),
        *[line for entry in filler[20:] for line in entry],
        "RETURN VALUE",
        _BODY + "Tar exit code indicates whether it was able to successfully perform",
        _BODY + "the requested operation, and if not, what kind of error occurred.",
        "",
        MAN_FOOTER,
        "",
    ]
    return "\n".join(lines)


def _read(text: str, name: str) -> Extracted:
    return extract(text.encode("utf-8"), PurePath(name))


def _heading_paths(extracted: Extracted) -> set[str]:
    return {piece.heading for piece in chunk_document(extracted)}


# --- AsciiDoc -----------------------------------------------------------------------------


def test_asciidoc_txt_sections_are_headings_and_listing_lines_never_are() -> None:
    page = _read(git_reset_page(), "git-reset.txt")
    assert page.title == "git-reset(1)"
    assert [h.title for h in page.headings] == [
        "git-reset(1)",
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "EXAMPLES",
        "DISCUSSION",
        "GIT",
    ]
    paths = _heading_paths(page)
    assert "git-reset(1) > EXAMPLES" in paths
    assert "git-reset(1) > DISCUSSION" in paths
    # Neither a command in a listing block nor a table row in a literal block is a title.
    for path in paths:
        assert "$" not in path and "nitfol" not in path and "working index" not in path, path


def test_asciidoc_lines_stay_the_lines_of_the_file() -> None:
    source = git_reset_page()
    page = _read(source, "git-reset.txt")
    assert page.source_lines is None  # one for one
    assert len(page.text.split("\n")) == len(source.split("\n"))
    assert "$ git reset --soft HEAD^      <1>" in page.text.split("\n")
    for piece in chunk_document(page):
        first = piece.text.split("\n")[0].strip()
        assert source.split("\n")[piece.source_line - 1].strip() == first


def test_adoc_one_line_titles_and_code_blocks() -> None:
    guide = _read(asciidoc_guide(), "frobnicator.adoc")
    assert guide.title == "Building the Frobnicator"
    assert [(h.level, h.title) for h in guide.headings] == [
        (1, "Building the Frobnicator"),
        (2, "Installing"),
        (3, "From source"),
        (2, "Configuring"),
    ]
    assert "make" in guide.text.split("\n")  # code is text, never a title


def test_a_plain_text_file_with_an_underlined_title_stays_plain_text() -> None:
    notes = "Release notes\n=============\n\nThis release fixes bugs.\n\n----\n\nThanks.\n"
    assert _read(notes, "NOTES.txt").format == "text"


# --- man pages ------------------------------------------------------------------------------


def test_man_page_title_is_its_name_line_not_the_running_header() -> None:
    page = _read(tar_man_page(), "tar.1.txt")
    assert page.format == "man"
    assert page.title == "tar - an archiving utility"
    assert [(h.level, h.title) for h in page.headings] == [
        (1, "NAME"),
        (1, "SYNOPSIS"),
        (2, "Traditional usage"),
        (2, "UNIX-style usage"),
        (1, "DESCRIPTION"),
        (1, "OPTIONS"),
        (2, "Operation modifiers"),
        (2, "Local file selection"),
        (1, "RETURN VALUE"),
    ]
    assert "OPTIONS > Local file selection" in _heading_paths(page)
    # Running headers and footers are not text, wherever they recur.
    assert "GNU TAR Manual" not in page.text and "July 13, 2020" not in page.text


def test_man_page_lines_stay_the_lines_of_the_file() -> None:
    source = tar_man_page().split("\n")
    page = _read(tar_man_page(), "tar.1.txt")
    text = page.text.split("\n")
    assert len(text) == len(source)
    # A word hyphenated across two lines is made whole on the first of them.
    changed = source.index(_ENTRY + "Change to DIR before performing any opera\u2010")
    assert text[changed].endswith("performing any operations.")
    assert text[changed + 1].strip().startswith("This option is order-sensitive")
    pieces = chunk_document(page)
    assert len(pieces) > 3
    for piece in pieces:
        words = piece.text.split("\n")[0].split()
        # The first line of a chunk is the line of the file it names (less a moved
        # word fragment at its start, plus one at its end).
        assert words and set(words[:-1]) <= set(source[piece.source_line - 1].split())
        assert words[0] in source[piece.source_line - 1]


def test_a_man_page_without_a_header_is_still_a_man_page() -> None:
    body = tar_man_page().split("\n")
    stripped = "\n".join(line for line in body if line not in (MAN_HEADER, MAN_FOOTER))
    page = _read(stripped, "tar.1")
    assert page.format == "man"
    assert page.title == "tar - an archiving utility"


def _bold(line: str) -> str:
    return "".join(f"{c}\b{c}" if c.strip() else c for c in line)


def test_a_man_page_saved_with_its_bold_overstrikes_reads_as_text() -> None:
    """``nroff -man`` (or ``MAN_KEEP_FORMATTING=1 man tar > tar.txt``) draws bold as
    character, backspace, character: once taken for a binary file and skipped."""
    lines = tar_man_page().split("\n")
    drawn = [_bold(line) if line and not line[0].isspace() else line for line in lines]
    drawn[3] = drawn[3].replace("tar", "_\bt_\ba_\br")  # underlined, as nroff does
    page = _read("\n".join(drawn), "tar.1.txt")
    assert page.format == "man"
    assert page.title == "tar - an archiving utility"
    assert "\b" not in page.text
    assert len(page.text.split("\n")) == len(lines)
    assert [h.title for h in page.headings if h.level == 1][:3] == [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
    ]


# --- through the command line -------------------------------------------------------------


@pytest.fixture
def manuals(data_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "manuals"
    folder.mkdir()
    (folder / "git-reset.txt").write_text(git_reset_page(), encoding="utf-8")
    (folder / "frobnicator.adoc").write_text(asciidoc_guide(), encoding="utf-8")
    (folder / "tar.1.txt").write_text(tar_man_page(), encoding="utf-8")
    report = cli_json("--data-dir", str(data_dir), "ingest", str(folder), "--json")
    assert report["new"] == 3, report
    return folder


def _top(data_dir: Path, question: str, name: str) -> dict:
    found = cli_json(
        "--data-dir", str(data_dir), "query", question, "--top-k", "5", "--mode", "keyword"
    )
    hits = [hit for hit in found["results"] if hit["document"].endswith(name)]
    assert hits, found
    return hits[0]


def test_query_lines_point_into_man_pages_and_asciidoc(data_dir: Path, manuals: Path) -> None:
    hit = _top(data_dir, "change to DIR before performing any operations", "tar.1.txt")
    assert hit["title"] == "tar - an archiving utility"
    assert hit["heading"].endswith("OPTIONS > Local file selection")
    assert "TAR(1)" not in hit["heading"]
    source = tar_man_page().split("\n")
    assert source[hit["line"] - 1].strip() in {
        "--add-file=FILE",
        "-C, --directory=DIR",
        "Change to DIR before performing any opera\u2010",
    }

    line = source.index(_BODY + "-C, --directory=DIR") + 1
    shown = cli("--data-dir", str(data_dir), "show", "tar.1.txt", "--lines", str(line))
    assert shown.exit_code == 0, shown.output
    assert "-C, --directory=DIR" in shown.output and "--add-file" not in shown.output

    hit = _top(data_dir, "remembered what you just committed is incomplete", "git-reset.txt")
    assert hit["title"] == "git-reset(1)"
    assert hit["heading"].endswith("git-reset(1) > EXAMPLES")
    source = git_reset_page().split("\n")
    answer = source.index("Undo a commit and redo::") + 1
    assert answer <= hit["line"] <= source.index("<2> Make corrections to working tree files.") + 1
    assert source[hit["line"] - 1].strip()

    hit = _top(data_dir, "quaternion tables test suite", "frobnicator.adoc")
    assert hit["title"] == "Building the Frobnicator"
    assert hit["heading"].endswith("Building the Frobnicator > Installing > From source")
    source = asciidoc_guide().split("\n")
    section = source.index("=== From source") + 1, source.index("== Configuring") + 1
    assert section[0] < hit["line"] < section[1] and source[hit["line"] - 1].strip()


def test_an_index_of_revision_6_reads_its_text_and_html_pages_again(
    data_dir: Path, manuals: Path
) -> None:
    """Text files read before AsciiDoc and man pages were told apart (stored as plain
    ``text``), and HTML pages, are read again by the next ingest after the upgrade."""
    from modules.semantic_core.db_models import SCHEMA_REVISION
    from tests.helpers import stored_rows

    page = "<html><head><title>Herons</title></head><body><h1>Herons</h1><p>Herons wade.</p>"
    (manuals / "herons.html").write_text(page + "</body></html>\n", encoding="utf-8")
    assert cli_json("--data-dir", str(data_dir), "ingest", str(manuals))["new"] == 1
    database = data_dir / "semantic_core.db"
    stored_rows(database, "UPDATE documents SET format = 'text' WHERE path LIKE '%.txt'")
    stored_rows(database, "ALTER TABLE chunks DROP COLUMN line_map")
    stored_rows(database, "ALTER TABLE documents DROP COLUMN sketch")
    stored_rows(database, "UPDATE analyzer_schema SET revision = 6")

    report = cli_json("--data-dir", str(data_dir), "ingest", str(manuals))

    assert (report["updated"], report["unchanged"]) == (3, 1), report  # .txt x2, .html; .adoc
    assert stored_rows(database, "SELECT revision FROM analyzer_schema") == [(SCHEMA_REVISION,)]
    formats = stored_rows(database, "SELECT format FROM documents ORDER BY path")
    assert sorted(f for (f,) in formats) == ["asciidoc", "asciidoc", "html", "man"]
