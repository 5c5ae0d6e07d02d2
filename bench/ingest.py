"""Ingest benchmark: the SciFact abstracts as files, first ingest versus unchanged re-ingest.

    python bench/ingest.py [--corpus ../shared/eval/scifact/corpus.jsonl] [--limit N]
    python bench/ingest.py --hostile [--size-mb 50] [--pages 500]
    python bench/ingest.py --folder DIR [--against CHECKOUT]

Writes one text file per abstract (title on the first line) into a temporary
directory, then times whole CLI runs (`analyzer ingest DIR --json`) in fresh
processes: the first ingest, then an unchanged re-ingest. Prints documents/s,
chunks/s, MB/s, peak RSS of each run, the ratio between them, and the floor
every command pays (`analyzer db-status` on the same data dir).

--folder ingests a folder of real documents as it is (manuals, man pages, HTML
references) instead of the abstracts; --against runs the same ingest first with the
code of another checkout (e.g. ``git worktree add /tmp/base REV``), in the same run,
and prints the ratio of the two.

--hostile ingests, each alone in a fresh process, one file that is hard on memory
and time: a single line of text, one HTML page, and a long PDF, all generated
here. It prints each run's wall time, peak RSS, and peak RSS above a baseline run
that ingests one small file, with what the report said about the file.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_CORPUS = (
    Path(__file__).resolve().parents[2] / "shared" / "eval" / "scifact" / "corpus.jsonl"
)


def write_corpus(corpus: Path, target: Path, limit: int | None) -> tuple[int, int]:
    count = size = 0
    with corpus.open(encoding="utf-8") as lines:
        for line in lines:
            if limit is not None and count >= limit:
                break
            record = json.loads(line)
            text = f"{record.get('title', '').strip()}\n\n{record.get('text', '').strip()}\n"
            path = target / f"{record['_id']}.txt"
            path.write_text(text, encoding="utf-8")
            size += path.stat().st_size
            count += 1
    return count, size


def timed_cli(args: list[str], code: Path | None = None) -> tuple[float, dict, int]:
    """Wall time, the --json report, and the child's peak RSS in KiB."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "analyzer", *args],
        capture_output=True,
        text=True,
        check=False,
        env=_code_env(code),
        cwd=code,  # python -m puts the working directory first on the path
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"analyzer failed ({done.returncode}): {done.stderr.strip()}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, json.loads(done.stdout), peak


def _code_env(code: Path | None) -> dict[str, str] | None:
    """The environment that runs analyzer from checkout ``code`` (None: this one)."""
    if code is None:
        return None
    return {**os.environ, "PYTHONPATH": str(code.resolve())}


def folder_runs(folder: Path, code: Path | None) -> dict[str, float]:
    """First ingest and unchanged re-ingest of ``folder`` with the code of ``code``."""
    with tempfile.TemporaryDirectory(prefix="analyzer-bench-") as tmp:
        base = ["--data-dir", str(Path(tmp) / "data"), "ingest", str(folder), "--json"]
        first_s, first, first_rss = timed_cli(base, code)
        again_s, again, _ = timed_cli(base, code)
    return {
        "first_s": first_s,
        "again_s": again_s,
        "chunks": first["chunks"],
        "new": first["new"],
        "skipped": first.get("skipped", 0),
        "failed": first.get("failed", 0),
        "rss_mib": first_rss / 1024,
    }


def compare_folder(folder: Path, against: Path | None) -> None:
    files = [p for p in folder.rglob("*") if p.is_file()]
    mb = sum(p.stat().st_size for p in files) / 1e6
    print(f"folder: {folder}, {len(files)} files, {mb:.1f} MB")
    runs = [("this checkout", None)] + ([(f"against {against}", against)] if against else [])
    measured = {}
    for label, code in reversed(runs):  # the other checkout first, then this one
        m = measured[label] = folder_runs(folder, code)
        print(
            f"{label:<28} first {m['first_s']:6.2f} s ({m['chunks'] / m['first_s']:5.0f} "
            f"chunks/s, {m['new']} stored, {m['skipped']} skipped, {m['failed']} failed, "
            f"{m['chunks']} chunks, peak RSS {m['rss_mib']:.0f} MiB); "
            f"unchanged again {m['again_s']:5.2f} s"
        )
        sys.stdout.flush()
    if against:
        this, other = measured["this checkout"], measured[f"against {against}"]
        print(
            f"ratio this/against: first ingest {this['first_s'] / other['first_s']:.2f}, "
            f"unchanged again {this['again_s'] / other['again_s']:.2f}"
        )


def framework_floor(data_dir: Path) -> float:
    """Median wall time of `analyzer db-status` on the same data dir."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "analyzer", "--data-dir", str(data_dir), "db-status"],
            capture_output=True,
            check=True,
        )
        times.append(time.perf_counter() - started)
    return sorted(times)[1]


# --- hostile files -------------------------------------------------------------------

_WORDS = (
    "river delta sediment flow basin erosion channel flood plain current tide estuary "
    "salinity gradient transport deposition meander bank levee discharge hydrology"
).split()


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(count))


def write_single_line(path: Path, size: int) -> None:
    """``size`` bytes of words with no line break, written in pieces."""
    rng = random.Random(1)
    with path.open("w", encoding="ascii") as out:
        written = 0
        while written < size:
            piece = _words(rng, 2000) + ". "
            out.write(piece)
            written += len(piece)


def write_html_page(path: Path, size: int) -> None:
    """One page of ``size`` bytes: navigation, sections with headings, paragraphs,
    lists, tables and links, the shape of a large generated manual."""
    rng = random.Random(2)
    with path.open("w", encoding="ascii") as out:
        out.write("<!doctype html><html><head><title>Hydrology manual</title>")
        out.write("<style>p{margin:0}</style></head><body><nav><a href='/'>Home</a></nav><main>")
        written, section = 0, 0
        while written < size:
            section += 1
            parts = [f"<section id='s{section}'><h2>Section {section}: {_words(rng, 4)}</h2>"]
            for _ in range(6):
                link = f"<a href='#s{section}'>{_words(rng, 2)}</a>"
                parts.append(f"<p>{_words(rng, 60)} {link}.</p>")
            items = "".join(f"<li>{_words(rng, 8)}</li>" for _ in range(5))
            cells = "".join(f"<td>{_words(rng, 3)}</td>" for _ in range(4))
            parts.append(f"<ul>{items}</ul><table><tr>{cells}</tr></table></section>")
            piece = "".join(parts)
            out.write(piece)
            written += len(piece)
        out.write("</main><footer>Generated</footer></body></html>")


def write_pdf(path: Path, pages: int) -> None:
    """A text PDF of ``pages`` pages of 45 lines each, written with the PDF syntax
    itself (one Helvetica font, one content stream per page)."""
    rng = random.Random(3)
    objects: list[bytes] = [b"", b""]  # 1: catalog, 2: page tree, filled in below
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")  # 3
    kids = []
    for number in range(1, pages + 1):
        lines = [f"Chapter {number}: {_words(rng, 5)}"] + [_words(rng, 12) for _ in range(44)]
        shown = " T* ".join(f"({line}) Tj" for line in lines)
        stream = f"BT /F1 10 Tf 14 TL 50 780 Td {shown} ET".encode("ascii")
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        content = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content
        )
        kids.append(len(objects))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    refs = b" ".join(b"%d 0 R" % k for k in kids)
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, len(kids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))


def measured_ingest(data_dir: Path, folder: Path) -> tuple[float, dict, int]:
    """Wall time, the --json report and peak RSS in KiB of this one child process
    (os.wait4 reads the rusage of that child alone, not the maximum over all children)."""
    args = ["--data-dir", str(data_dir), "ingest", str(folder), "--json"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "analyzer", *args], stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            message = err.read().decode(errors="replace").strip()
            raise SystemExit(f"analyzer failed ({child.returncode}): {message}")
        return elapsed, json.loads(out.read()), usage.ru_maxrss


def write_small(path: Path) -> None:
    path.write_text(_words(random.Random(0), 300), encoding="ascii")


def hostile(size_mb: float, pages: int) -> None:
    size = int(size_mb * 1_000_000)
    cases = [
        ("baseline: one small text file", "small.txt", write_small),
        (f"{size_mb:g} MB text, one line", "one-line.txt", lambda p: write_single_line(p, size)),
        (f"{size_mb:g} MB HTML page", "manual.html", lambda p: write_html_page(p, size)),
        (f"{pages}-page PDF", "manual.pdf", lambda p: write_pdf(p, pages)),
    ]
    baseline = None
    print(f"{'case':<32} {'file':>9} {'wall':>8} {'peak RSS':>9} {'above base':>10}  result")
    for label, name, make in cases:
        with tempfile.TemporaryDirectory(prefix="analyzer-hostile-") as tmp:
            folder = Path(tmp) / "docs"
            folder.mkdir()
            make(folder / name)
            file_mb = (folder / name).stat().st_size / 1e6
            elapsed, report, peak = measured_ingest(Path(tmp) / "data", folder)
        peak_mib = peak / 1024
        baseline = peak_mib if baseline is None else baseline
        problems = report.get("problems") or []
        result = (
            f"{problems[0]['status']}: {problems[0]['reason']}"
            if problems
            else f"stored, {report['chunks']} chunks"
        )
        print(
            f"{label:<32} {file_mb:7.1f}MB {elapsed:7.1f}s {peak_mib:7.0f}MiB "
            f"{peak_mib - baseline:8.0f}MiB  {result}"
        )
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--hostile", action="store_true", help="the hard-file section only")
    parser.add_argument("--size-mb", type=float, default=50.0)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--folder", type=Path, default=None, help="real documents to ingest")
    parser.add_argument("--against", type=Path, default=None, help="another checkout's code")
    args = parser.parse_args()
    if args.folder is not None:
        compare_folder(args.folder, args.against)
        return
    if args.hostile:
        hostile(args.size_mb, args.pages)
        return
    if not args.corpus.is_file():
        raise SystemExit(f"no corpus at {args.corpus}; pass --corpus")
    with tempfile.TemporaryDirectory(prefix="analyzer-bench-") as tmp:
        docs_dir, data_dir = Path(tmp) / "docs", Path(tmp) / "data"
        docs_dir.mkdir()
        count, size = write_corpus(args.corpus, docs_dir, args.limit)
        base = ["--data-dir", str(data_dir), "ingest", str(docs_dir), "--json"]
        first_s, first, first_rss = timed_cli(base)
        again_s, again, again_rss = timed_cli(base)
        floor_s = framework_floor(data_dir)
    mb = size / 1e6
    print(f"corpus: {count} files, {mb:.1f} MB, {first['chunks']} chunks, model {first['model']}")
    print(
        f"first ingest:     {first_s:6.2f} s  {count / first_s:7.0f} docs/s  "
        f"{first['chunks'] / first_s:7.0f} chunks/s  {mb / first_s:5.2f} MB/s  "
        f"peak RSS {first_rss / 1024:.0f} MiB"
    )
    print(
        f"unchanged again:  {again_s:6.2f} s  {count / again_s:7.0f} docs/s  "
        f"(unchanged {again['unchanged']}, new {again['new']})  "
        f"peak RSS {max(first_rss, again_rss) / 1024:.0f} MiB (max of both runs)"
    )
    print(
        f"re-ingest speed-up: {first_s / again_s:.1f}x whole CLI runs; "
        f"{first['seconds'] / again['seconds']:.1f}x for the ingest work alone "
        f"({first['seconds']:.2f} s vs {again['seconds']:.2f} s, process start excluded)"
    )
    print(
        f"framework floor:  {floor_s:6.2f} s  (`analyzer db-status`, median of 3: interpreter, "
        f"imports and database start-up that every command pays)"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
