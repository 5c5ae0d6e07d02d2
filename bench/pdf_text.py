"""PDF text benchmark: pypdf against PDFium (pypdfium2) on the same files, in one run.

    python bench/pdf_text.py [PDF_OR_FOLDER ...] [--repeat N] [--json OUT]

Each (file, reader) pair runs in a fresh process, the two readers taking turns on each
file (which one goes first alternates), so that both see the same machine load and
each one's peak RSS is its own. A reader returns the text of every page, the outline
(bookmarks) and the title; the bench then puts both through the same assembly as
``extract_pdf`` (running headers dropped, bookmarks placed as headings) and prints,
per file:

- seconds and ms per page of each reader (the fastest of --repeat runs), and the ratio;
- pages found, bookmarks found, headings placed, and how many bookmarks agree
  (same page, level and title);
- agreement of the two texts (see ``agreement``): words in order, words order aside,
  and 8-letter runs with spaces and hyphens aside;
- peak RSS of the process, and above its RSS before the file was read.

With ``pdftotext`` (poppler-utils) on PATH, its time is printed too, as a floor.
Comparing the texts is the slow part: about three minutes for the whole folder.
pypdf is no longer a runtime dependency; it comes with the test extras.

The PDFs measured come from Debian documentation packages (``apt-get download
r-doc-pdf gnuplot-doc octave-doc ...`` then ``dpkg -x``): real manuals, up to R's
2,415-page reference manual. Defaults to every *.pdf under /tmp/pdf/x.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READERS = ("pypdf", "pdfium")
SHINGLE = 8
DEFAULT_FOLDER = Path("/tmp/pdf/x")


# --- the readers, each run in a child process ---------------------------------------------------


def read_with_pypdf(data: bytes) -> tuple[list[str], list[tuple[int, int, str]], str]:
    """What the extractor read before PDFium: pypdf's text per page and its outline."""
    import io
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    reader = PdfReader(io.BytesIO(data))
    pages = [page.extract_text() or "" for page in reader.pages]
    info = reader.metadata
    title = " ".join(str((info.title or "") if info else "").split())
    outline: list[tuple[int, int, str]] = []
    stack = [(iter(reader.outline), 1)]
    while stack:
        children, level = stack[-1]
        item = next(children, None)
        if item is None:
            stack.pop()
        elif isinstance(item, list):
            stack.append((iter(item), level + 1))
        else:
            page = reader.get_destination_page_number(item)
            name = " ".join(str(item.title or "").split())
            if page is not None and page >= 0 and name:
                outline.append((page, level, name))
    return pages, outline, title


def read_with_pdfium(data: bytes) -> tuple[list[str], list[tuple[int, int, str]], str]:
    from modules.semantic_core.ingest.extract import pdf

    read = pdf.read_pdf(data)
    outline = [(entry.page, entry.level, entry.title) for entry in read.outline]
    return read.pages, outline, read.title


def child(reader: str, path: Path, out: Path) -> None:
    """Read one file with one reader; write what was read and what it cost."""
    sys.path.insert(0, str(ROOT))
    from modules.semantic_core.ingest.extract import pdf

    read = read_with_pypdf if reader == "pypdf" else read_with_pdfium
    if reader == "pypdf":
        import pypdf  # noqa: F401 - imported before the baseline, like pypdfium2 below
    else:
        import pypdfium2  # noqa: F401
    data = path.read_bytes()
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    pages, outline, title = read(data)
    read_seconds = time.perf_counter() - started
    entries = [pdf._OutlineEntry(page, level, name) for page, level, name in outline]
    lines = pdf.without_running_lines([pdf._page_lines(page) for page in pages])
    extracted = pdf._assembled(lines, entries, title)
    total_seconds = time.perf_counter() - started
    result = {
        "read_seconds": read_seconds,
        "total_seconds": total_seconds,
        "pages": len(pages),
        "outline": outline,
        "headings": len(extracted.headings),
        "texts": pages,
        "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "before_kb": before_kb,
    }
    out.write_text(json.dumps(result))


def run_child(reader: str, path: Path, scratch: Path) -> dict:
    out = scratch / f"{reader}.json"
    command = [sys.executable, __file__, "--child", reader, str(path), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": last.split(": ", 1)[-1][:200]}  # the reason, not the class's path
    return json.loads(out.read_text())


def pdftotext_seconds(path: Path) -> float | None:
    if shutil.which("pdftotext") is None:
        return None
    started = time.perf_counter()
    subprocess.run(["pdftotext", str(path), os.devnull], capture_output=True, check=False)
    return time.perf_counter() - started


# --- agreement ----------------------------------------------------------------------------------


def agreement(left: list[str], right: list[str]) -> tuple[float, float, float]:
    """(order, words, letters), each weighted by the size of the pages:

    - order: difflib's ratio over each page's words;
    - words: the share of each page's words both texts have, order set aside;
    - letters: the share of each page's 8-character runs both texts have, spaces and
      hyphens left out, so that words run together ("Thebugtrackingsystem") or split
      at a line's end ("ver- sion") count as the same text.

    A page missing on one side counts as disagreeing."""
    order = bag = words = letters = characters = 0.0
    for number in range(max(len(left), len(right))):
        a = left[number] if number < len(left) else ""
        b = right[number] if number < len(right) else ""
        a_words, b_words = a.split(), b.split()
        size = max(len(a_words), len(b_words))
        if size and a_words == b_words:
            order += size
            bag += size
            words += size
        elif size:
            matcher = difflib.SequenceMatcher(None, a_words, b_words, autojunk=False)
            order += sum(block.size for block in matcher.get_matching_blocks())
            bag += sum((Counter(a_words) & Counter(b_words)).values())
            words += size
        a_letters, b_letters = _shingles(a), _shingles(b)
        letters += sum((a_letters & b_letters).values())
        characters += max(sum(a_letters.values()), sum(b_letters.values()))
    return order / max(words, 1), bag / max(words, 1), letters / max(characters, 1)


def _shingles(text: str) -> Counter[str]:
    """The text's runs of SHINGLE characters, spaces and hyphens left out: local order
    counts, and the cost stays linear where difflib over characters is quadratic."""
    letters = "".join(text.split()).replace("-", "")
    return Counter(letters[i : i + SHINGLE] for i in range(max(1, len(letters) - SHINGLE + 1)))


def outline_agreement(left: list, right: list) -> str:
    common = sum((Counter(map(tuple, left)) & Counter(map(tuple, right))).values())
    return f"{common}/{max(len(left), len(right))}"


# --- the run ------------------------------------------------------------------------------------


def pdf_files(arguments: list[str]) -> list[Path]:
    found: list[Path] = []
    for argument in arguments or [str(DEFAULT_FOLDER)]:
        path = Path(argument)
        found.extend(sorted(path.rglob("*.pdf")) if path.is_dir() else [path])
    # The same manual under two names (R ships refman.pdf and fullrefman.pdf) counts once.
    unique = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in found if p.is_file()}
    return sorted(unique.values(), key=lambda p: p.stat().st_size)


def measure(path: Path, order: tuple[str, ...], repeat: int) -> dict:
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="pdf-bench-") as scratch:
        for _ in range(repeat):
            for reader in order:
                run = run_child(reader, path, Path(scratch))
                best = results.get(reader)
                if best is None or run.get("total_seconds", 1e9) < best.get("total_seconds", 1e9):
                    results[reader] = run
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pdfs", nargs="*", help=f"PDF files or folders (default {DEFAULT_FOLDER})")
    parser.add_argument("--repeat", type=int, default=1, help="runs per reader; the fastest counts")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        reader, path, out = args.child
        child(reader, Path(path), Path(out))
        return
    files = pdf_files(args.pdfs)
    if not files:
        sys.exit(f"no PDF found in {args.pdfs or DEFAULT_FOLDER}; see the docstring for where")
    header = (
        "| file | pages pypdf / pdfium | pypdf s (ms/page) | pdfium s (ms/page) | speed-up "
        "| pdftotext s | bookmarks agree | headings pypdf / pdfium "
        "| agree: order / words / letters "
        "| peak RSS MB pypdf / pdfium (above start) |"
    )
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    rows = []
    for index, path in enumerate(files):
        order = READERS if index % 2 == 0 else READERS[::-1]
        results = measure(path, order, args.repeat)
        old, new = results["pypdf"], results["pdfium"]
        if "error" in old or "error" in new:
            print(f"| {path.name} | {old.get('error', 'ok')} / {new.get('error', 'ok')} |")
            continue
        order_agree, words_agree, letters_agree = agreement(old["texts"], new["texts"])
        floor = pdftotext_seconds(path)
        row = {
            "file": path.name,
            "pages": [old["pages"], new["pages"]],
            "seconds": [old["total_seconds"], new["total_seconds"]],
            "read_seconds": [old["read_seconds"], new["read_seconds"]],
            "speedup": old["total_seconds"] / new["total_seconds"],
            "pdftotext_seconds": floor,
            "bookmarks": outline_agreement(old["outline"], new["outline"]),
            "headings": [old["headings"], new["headings"]],
            "agreement": [order_agree, words_agree, letters_agree],
            "peak_mb": [old["peak_kb"] / 1024, new["peak_kb"] / 1024],
            "above_mb": [
                (old["peak_kb"] - old["before_kb"]) / 1024,
                (new["peak_kb"] - new["before_kb"]) / 1024,
            ],
        }
        rows.append(row)
        ms = [1000 * s / max(1, p) for s, p in zip(row["seconds"], row["pages"], strict=True)]
        print(
            f"| {path.name} | {old['pages']} / {new['pages']} "
            f"| {row['seconds'][0]:.2f} ({ms[0]:.1f}) | {row['seconds'][1]:.2f} ({ms[1]:.1f}) "
            f"| {row['speedup']:.1f}x | {'-' if floor is None else f'{floor:.2f}'} "
            f"| {row['bookmarks']} | {old['headings']} / {new['headings']} "
            f"| {order_agree:.3f} / {words_agree:.3f} / {letters_agree:.3f} "
            f"| {row['peak_mb'][0]:.0f} / {row['peak_mb'][1]:.0f} "
            f"({row['above_mb'][0]:.0f} / {row['above_mb'][1]:.0f}) |",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
