"""Small documents shaped like real ones: a Sphinx page, an npm Markdown page, a CMake
reStructuredText page and a manual as a PDF with bookmarks and running headers."""

from __future__ import annotations

SPHINX_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <title>argparse &#8212; Parser for command-line options &#8212; Python 3.11 documentation</title>
  <script>var searchindex = "argparse parser options";</script>
</head>
<body>
  <div class="related" role="navigation" aria-label="related navigation">
    <h3>Navigation</h3>
    <ul><li><a href="index.html">index</a></li><li>modules |</li></ul>
  </div>
  <div class="document">
    <div class="body" role="main">
  <section id="module-argparse">
<h1>argparse &#8212; Parser for command-line options<a class="headerlink" href="#x">&#182;</a></h1>
<p>The <code>argparse</code> module makes it easy to write user-friendly
command-line interfaces. The program defines what arguments it requires, and argparse
will figure out how to parse those out of <code>sys.argv</code>. The module also
generates help and usage messages, and issues errors when users give the program
invalid arguments. It supports positional arguments, optional arguments, flags and
sub-commands, each with a help text of its own.</p>
<section id="example">
<h2>Example<a class="headerlink" href="#example" title="Permalink">&#182;</a></h2>
<p>The following code is a Python program that takes a list of integers
and produces either the sum or the max. Assuming the code is saved into a file
called prog.py, it can be run at the command line and provides useful help
messages. When run with the appropriate arguments, it prints either the sum or
the max of the command-line integers, and with invalid arguments it reports
an error.</p>
<section id="creating-a-parser">
<h3>Creating a parser<a class="headerlink" href="#creating" title="Permalink">&#182;</a></h3>
<p>The first step in using the argparse module is creating an ArgumentParser object.
The ArgumentParser object will hold all the information necessary to parse the
command line into Python data types. Its constructor takes keyword arguments
such as the program name, a description shown in the help, an epilog shown
after the arguments, and the prefix characters of optional arguments.</p>
</section>
</section>
</section>
    </div>
    <div class="sphinxsidebar" role="navigation" aria-label="main navigation">
      <h3>This Page</h3>
      <ul><li><a href="_sources/argparse.rst.txt">Show Source</a></li></ul>
    </div>
  </div>
  <div class="footer">&#169; Copyright 2001-2023, Python Software Foundation.
    Last updated on Jun 06, 2023.</div>
</body>
</html>
"""

NPM_PAGE = """---
title: npm-install
section: 1
description: Install a package
---

### Synopsis

```bash
npm install [<package-spec> ...]
```

### Description

This command installs a package and any packages that it depends on.

Setext section
--------------

```js
const fs = require('fs')
fs.appendFileSync('message.txt', 'data to append')
```
---

* `npm install` (in a package directory, no arguments): install the
  dependencies to the local `node_modules` folder.

  ~~~
  indented fence
  still code
  ~~~
"""

CMAKE_PAGE = """add_executable
--------------

.. only:: html

   .. contents::

Add an executable to the project using the specified source files.

.. code-block:: cmake

  add_executable(<name> [WIN32] [MACOSX_BUNDLE]
                 [EXCLUDE_FROM_ALL]
                 [source1] [source2 ...])

.. versionadded:: 3.11
  The source files can be omitted.

See the :prop_tgt:`RUNTIME_OUTPUT_DIRECTORY` target property and
:command:`target_sources() <target_sources>` to add sources later,
or :manual:`cmake-buildsystem(7)`.

.. note::
   It is also possible to set ``EXCLUDE_FROM_ALL`` on the target.

.. _`Imported Executables`:

Imported Executables
^^^^^^^^^^^^^^^^^^^^

An :ref:`IMPORTED executable target <Imported Targets>` references a file.
"""

# Sections of the manual: (title, level, page it starts on (0-based), body lines).
MANUAL_SECTIONS = [
    ("Introduction", 1, 0, ["gnuplot is a portable command-line driven graphing utility."]),
    ("Plotting", 1, 1, ["The plot command draws curves of functions and data."]),
    ("set logscale", 2, 2, ["Log scaling may be set on the x, y, z axes with set logscale."]),
    ("set object ellipse", 2, 3, ["The ellipse object has a center, a width and a height."]),
    ("set pm3d", 2, 4, ["pm3d draws palette-mapped three dimensional surfaces."]),
    ("Terminals", 1, 5, ["A terminal is an output device such as png or svg."]),
]
MANUAL_PAGES = 7


def manual_pdf() -> bytes:
    """A 7-page manual with bookmarks, a running header that names the page and its
    section ("86 gnuplot 5.4 set pm3d") and a running footer."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("gnuplot 5.4 manual")
    pdf.set_auto_page_break(False)  # the footer sits low on the page, not on a page of its own
    pdf.set_font("helvetica", size=11)
    section_of_page = {}
    current = "Introduction"
    for page in range(MANUAL_PAGES):
        for title, _, start, _ in MANUAL_SECTIONS:
            if start == page:
                current = title
        section_of_page[page] = current
    for page in range(MANUAL_PAGES):
        pdf.add_page()
        header = f"{page + 80} gnuplot 5.4 {section_of_page[page]}"
        pdf.cell(0, 8, header, new_x="LMARGIN", new_y="NEXT")
        for title, level, start, body in MANUAL_SECTIONS:
            if start == page:
                pdf.start_section(title, level=level - 1)
                pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
                for line in body:  # enough words that each section is a chunk of its own
                    pdf.multi_cell(0, 6, " ".join([line] * 6), new_x="LMARGIN", new_y="NEXT")
        if page == MANUAL_PAGES - 1:
            last = "The last page lists every command."
            pdf.multi_cell(0, 6, last, new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(-20)
        pdf.cell(0, 8, "Copyright 2023 the gnuplot team", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
