"""Lines that point into the file, for HTML pages of any size.

The page here is shaped like a Texinfo manual (the Bash Reference Manual, 850 KB and
16,000 lines): hundreds of sections, each with a navigation line, words split by tags
(``<code>blank</code>s``), character references and a definition list, then an index
at the end naming the same words again. It is bigger than the piece the HTML reader
parses at a time, so it is read in several pieces."""

from __future__ import annotations

import re
from pathlib import Path, PurePath

from modules.semantic_core.ingest.extract import extract
from modules.semantic_core.ingest.extract.html import PIECE_CHARS
from tests.helpers import FakeModels, cli_json

SECTIONS = 900
SAMPLED = range(3, SECTIONS, 41)  # early, middle and late sections


def section_word(number: int) -> str:
    """A made-up word found in one section's heading and nowhere else."""
    letters = ""
    while True:
        number, digit = divmod(number, 26)
        letters += "abcdefghijklmnopqrstuvwxyz"[digit]
        if number == 0:
            return f"zorb{letters}k"


def _section(number: int) -> str:
    # Every few sections the word "blanks" appears whole, as it does in the index.
    plain = "Blanks and tabs are both blanks here." if number % 25 == 0 else ""
    return f"""<div class="section" id="Section-{number}">
<div class="header">
<p>
Next: <a href="#Section-{number + 1}" accesskey="n" rel="next">Section {number + 1}</a>, \
Previous: <a href="#Section-{number - 1}" rel="prev">Section {number - 1}</a>, \
Up: <a href="#Top" accesskey="u" rel="up">Top</a> &nbsp; \
[<a href="#SEC_Contents" title="Table of contents" rel="contents">Contents</a>]\
[<a href="#Indexes" title="Index" rel="index">Index</a>]</p>
</div>
<hr>
<h3 class="section">{number}.1 The {section_word(number)} setting</h3>

<p>In addition to the creation of a subshell, there is a subtle difference
between these two constructs due to historical reasons.  The braces
are reserved words, so they must be separated from the <var>list</var>
by <code>blank</code>s or other shell metacharacters. {plain}
The parentheses are operators, and are
recognized as separate tokens by the shell even if they are not separated
from the <var>list</var> by whitespace.
</p>
<dl class="vtable">
<dt id='index-HISTCONTROL-{number}'><span><code>HISTCONTROL</code>\
<a href='#index-HISTCONTROL-{number}' class='copiable-anchor'> &para;</a></span></dt>
<dd><p>A colon-separated list of values controlling how commands are saved on
the history list.  If the list of values includes &lsquo;<samp>ignorespace</samp>&rsquo;,
lines which begin with a <code>space</code> character are not saved.
</p></dd>
</dl>
<pre class="example">coproc [<var>NAME</var>] command [redirections]
</pre>
</div>
"""


def manual_page() -> str:
    head = """<!DOCTYPE html>
<html>
<!-- This text is a brief description of the features that are present in the Bash shell -->
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>Bash Reference Manual</title>
<style type="text/css">
a.copiable-anchor {visibility: hidden; text-decoration: none; line-height: 0em}
pre.example {font-family: serif}
</style>
</head>
<body lang="en">
<h1 class="settitle">Bash Reference Manual</h1>
"""
    index_rows = "".join(
        f'<tr><td></td><td valign="top"><a href="#index-{word}"><code>{word}</code></a>:</td>'
        f'<td>&nbsp;</td><td valign="top"><a href="#Section-{n}">Section {n}</a></td></tr>\n'
        for n in range(1, SECTIONS)
        for word in ("blanks", "HISTCONTROL", "coproc")
    )
    index = f'<div class="appendix" id="Indexes">\n<h2>Index</h2>\n<table>\n{index_rows}</table>\n'
    sections = "".join(_section(n) for n in range(1, SECTIONS))
    return f"{head}{sections}{index}</div>\n</body>\n</html>\n"


def lines_around(source: list[str], line: int) -> str:
    """The text of the source lines within two of ``line`` (1-based), tags left out."""
    return re.sub(r"<[^>]*>", "", "\n".join(source[max(0, line - 3) : line + 2]))


def test_the_page_is_real_shaped() -> None:
    page = manual_page()
    assert len(page) > PIECE_CHARS
    assert page.count("\n") > 20_000


def test_every_line_of_a_large_page_points_at_its_text() -> None:
    page = manual_page()
    source = page.split("\n")
    extracted = extract(page.encode(), PurePath("bashref.html"))
    assert extracted.source_lines is not None
    wrong = []
    checked = 0
    for number, line in enumerate(extracted.text.split("\n")):
        words = [w for w in line.replace("’", " ").split() if len(w) >= 4 and w.isalpha()]
        if not words:
            continue
        checked += 1
        if words[0] not in lines_around(source, extracted.source_lines[number]):
            wrong.append((number, line, extracted.source_lines[number]))
    assert checked > 10_000
    assert wrong == []


def keyword_top_hit(data_dir: Path, word: str, models: FakeModels) -> dict:
    base = ("--data-dir", str(data_dir))
    found = cli_json(*base, "query", word, "--mode", "keyword", "-k", "1", models=models)
    return found["results"][0]


def test_hits_across_a_large_page_name_the_line_of_their_text(
    data_dir: Path, tmp_path: Path
) -> None:
    page = manual_page()
    (tmp_path / "bashref.html").write_text(page, encoding="utf-8")
    models = FakeModels()
    cli_json("--data-dir", str(data_dir), "ingest", str(tmp_path / "bashref.html"), models=models)
    source = page.split("\n")
    wrong = []
    for number in SAMPLED:
        word = section_word(number)
        hit = keyword_top_hit(data_dir, word, models)
        if word not in lines_around(source, hit["line"]):
            wrong.append((word, hit["line"], source.index(next(s for s in source if word in s))))
    assert len(SAMPLED) >= 20
    assert wrong == []


def test_a_line_joined_across_dropped_markup_does_not_drag_the_next_ones() -> None:
    """Markup dropped from the middle of a line (a button) joins its two sides into
    text found nowhere in the page: such a line must not match the same words further
    on ("273" inside "2273") and take every later line there."""
    rows = [
        f'<p><a id="{n}">{n}</a><button>Copy line {n}</button>stable release</p>\n'
        if n % 100 == 73
        else f'<p><a id="{n}">{n}</a>let value_{n} = compute({n});</p>\n'
        for n in range(1, 2400)
    ]
    page = "<html><body>" + "".join(rows) + "</body></html>\n"
    origin = _origins(page)
    assert origin["273stable release"] == 1 + 273 - 1
    assert origin["274let value_274 = compute(274);"] == 274
    assert origin["2399let value_2399 = compute(2399);"] == 2399


def test_a_joined_line_is_not_placed_where_an_example_repeats() -> None:
    """The same example further down the page, whole: the joined line and the lines
    after it stay where they are."""
    filler = "".join(f"<p>Filler paragraph number {n} with some words.</p>\n" for n in range(400))
    example = (
        "<pre>let idxs = Simd::from_array([9, 3, 0, 0]);\n"
        "let vals = Simd::from_array([-27, 82, -41, 124]);\n"
        "vals.scatter(&amp;mut vec, idxs);\n</pre>\n"
    )
    joined_example = example.replace("[9, 3,", "[9, <button>Copy</button>3,")
    page = f"<html><body>\n<h1>Scatter</h1>\n{joined_example}{filler}{example}</body></html>\n"
    source = page.split("\n")
    origin = _origins(page, first=True)
    joined = "let idxs = Simd::from_array([9, 3, 0, 0]);"
    assert source[origin[joined] - 1].startswith("<pre>let idxs")
    assert origin["let vals = Simd::from_array([-27, 82, -41, 124]);"] == origin[joined] + 1
    assert origin["Filler paragraph number 0 with some words."] == origin[joined] + 4


def _origins(page: str, first: bool = False) -> dict[str, int]:
    """Each line of the page's text, with the source line it is placed at (the first
    time it occurs when ``first``, else the last)."""
    extracted = extract(page.encode(), PurePath("page.html"))
    assert extracted.source_lines is not None
    text = extracted.text.split("\n")
    assert len(extracted.source_lines) == len(text)
    placed: dict[str, int] = {}
    for number, line in enumerate(text):
        if not (first and line in placed):
            placed[line] = extracted.source_lines[number]
    return placed


def test_a_heading_broken_over_lines_in_the_markup_is_one_line_of_text() -> None:
    """A heading's text is one line: with its markup's line break kept, the page's text
    had more lines than places for them, and every later line was placed one early."""
    page = (
        '<html><body>\n<h3 class="code-header">impl&lt;T&gt; Any for T<span>where\n'
        "    T: 'static + ?Sized,</span></h3>\n<p>Gets the TypeId of self.</p>\n"
        "</body></html>\n"
    )
    extracted = extract(page.encode(), PurePath("any.html"))
    assert extracted.text.split("\n")[0] == "impl<T> Any for Twhere T: 'static + ?Sized,"
    assert _origins(page)["Gets the TypeId of self."] == 4


def test_a_comment_in_code_is_text_not_page_furniture() -> None:
    """A class of "comment" marks a comment section of a blog page, but inside code it
    marks a code comment (rustdoc, highlight.js), which is part of the example."""
    page = (
        '<html><body><h1>Scatter</h1>\n<pre class="rust"><code>let idxs = [9, 3, 0, 0];'
        ' <span class="comment">// Includes an out-of-bounds index</span>\n</code></pre>\n'
        '<div class="comments">Leave a reply</div>\n</body></html>\n'
    )
    text = extract(page.encode(), PurePath("scatter.html")).text
    assert "// Includes an out-of-bounds index" in text
    assert "Leave a reply" not in text


def _entry_page(entries: int) -> str:
    """A reference page: one section of option entries, each a <dt>/<dd> pair on lines
    of its own, the way man2html and Texinfo write them."""
    rows = []
    for number in range(entries):
        rows.append(f'<dt id="opt-{number}"><code>--{section_word(number)}</code></dt>')
        rows.append(
            f"<dd><p>Sets the {section_word(number)} behaviour of the archive reader,\n"
            "which decides how members are\nwritten back to the disk.</p></dd>"
        )
    body = "\n".join(rows)
    return (
        "<html><head><title>Reader options</title></head><body>\n"
        f"<h1>Reader options</h1>\n<dl>\n{body}\n</dl>\n</body></html>\n"
    )


def test_a_hit_inside_an_html_chunk_names_the_line_of_its_entry(
    data_dir: Path, tmp_path: Path
) -> None:
    """A chunk of an HTML page holds many entries; the hit must name the line of the one
    that matches, not the line where the chunk starts."""
    page = _entry_page(120)
    (tmp_path / "reader.html").write_text(page, encoding="utf-8")
    models = FakeModels()
    cli_json("--data-dir", str(data_dir), "ingest", str(tmp_path), models=models)
    source = page.split("\n")
    inside = 0
    for number in range(2, 120, 9):
        word = section_word(number)
        hit = keyword_top_hit(data_dir, word, models)
        entry = next(i for i, line in enumerate(source, start=1) if f"--{word}<" in line)
        assert hit["line"] in (entry, entry + 1), (word, hit["line"], entry)
        inside += hit["text_lines"][0] < hit["text_line"]
    assert inside >= 5  # most of those entries are not the first line of their chunk
