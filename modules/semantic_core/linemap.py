"""Where each line of a chunk is in the file on disk.

Most formats keep the file's lines one for one (text, Markdown, RST, AsciiDoc, man
pages), so a chunk's first file line is all a hit needs: line ``k`` of its text is
file line ``source_line + k``. An HTML page's text lines are not the file's (a tag
may span lines, a line may hold a whole paragraph), so its chunks also store a line
map: for each text line, its file line minus the chunk's ``source_line``, packed as
little-endian 32-bit integers (about 4 bytes a line).
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence


def pack(file_lines: Sequence[int], first: int) -> bytes:
    """The map of a chunk whose text lines start at ``file_lines`` (1-based file lines,
    one per text line) and whose ``source_line`` is ``first``."""
    offsets = array("i", (line - first for line in file_lines))
    if sys.byteorder != "little":
        offsets.byteswap()
    return offsets.tobytes()


def file_line(source_line: int, line_start: int, line_map: bytes | None, offset: int) -> int:
    """The file line of line ``offset`` (0-based) of a chunk's text.

    Without a map, the text's lines are the file's when the chunk starts on the same
    line in both; otherwise (a chunk stored before maps were kept) its first line is
    the best there is."""
    if line_map:
        offsets = array("i")
        offsets.frombytes(line_map[: len(line_map) - len(line_map) % 4])
        if sys.byteorder != "little":
            offsets.byteswap()
        if offsets:
            return source_line + offsets[min(max(offset, 0), len(offsets) - 1)]
    if source_line == line_start:
        return source_line + max(offset, 0)
    return source_line
