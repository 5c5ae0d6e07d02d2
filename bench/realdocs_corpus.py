"""Build the real-documents corpus of ``bench/realdocs.py`` from Debian packages.

    python bench/realdocs_corpus.py OUT

Downloads a fixed list of Debian documentation and tool packages with ``apt-get
download`` (run ``apt-get update`` first), unpacks them with ``dpkg -x`` and lays the
documents out in OUT:

- ``sqlite/``: SQLite's HTML documentation (one page per topic, C API, syntax, release log);
- ``vim/``: Vim's help as HTML pages;
- ``debian-reference/``: the Debian Reference, one HTML page per chapter;
- ``developers-reference/``: the Developer's Reference as one HTML page and as a PDF;
- ``maint-guide/``: the New Maintainers' Guide as a PDF;
- ``policy/``: the Debian Policy Manual's reStructuredText sources and single-page HTML
  side documents (FHS, copyright format, menu and Perl policies);
- ``man/``: the manual pages of command-line tools rendered with ``man -l`` at 80 columns;
- ``text/PACKAGE/``: those tools' READMEs, FAQs and Markdown notes, uncompressed.

The packages and the files they unpacked are kept under ``OUT/.cache`` (a hidden folder,
which ``analyzer ingest`` skips), so a second run downloads nothing; every run rebuilds the
tree from them, so the result depends only on the package versions, which are written to
``OUT/VERSIONS.txt``. The questions in ``bench/realdocs_questions.jsonl`` give line numbers
for the versions in ``EXPECTED_VERSIONS``; a run that gets others says so.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

DOC_PACKAGES = [
    "sqlite3-doc",
    "vim-doc",
    "debian-reference-en",
    "developers-reference",
    "maint-guide",
    "debian-policy",
]
TOOL_PACKAGES = [
    "apt", "coreutils", "cron", "curl", "diffutils", "findutils", "gpg", "grep", "gzip",
    "iptables", "less", "logrotate", "nftables", "openssh-client", "rsync", "screen", "sed",
    "sudo", "systemd", "tar", "tmux", "wget", "zstd",
]  # fmt: skip
EXPECTED_VERSIONS = {
    "apt": "2.6.2",
    "coreutils": "9.1-1",
    "cron": "3.0pl1-162",
    "curl": "7.88.1-10+deb12u15",
    "debian-policy": "4.6.2.0",
    "debian-reference-en": "2.100",
    "developers-reference": "12.18",
    "diffutils": "1:3.8-4",
    "findutils": "4.9.0-4",
    "gpg": "2.2.40-1.1+deb12u2",
    "grep": "3.8-5",
    "gzip": "1.12-1",
    "iptables": "1.8.9-2",
    "less": "590-2.1~deb12u2",
    "logrotate": "3.21.0-1",
    "maint-guide": "1.2.53",
    "nftables": "1.0.6-2+deb12u2",
    "openssh-client": "1:9.2p1-2+deb12u10",
    "rsync": "3.5.0+ds1-0+deb12u1",
    "screen": "4.9.0-4",
    "sed": "4.9-1+deb12u1",
    "sqlite3-doc": "3.40.1-2+deb12u2",
    "sudo": "1.9.13p3-1+deb12u4",
    "systemd": "252.39-1~deb12u2",
    "tar": "1.34+dfsg-1.2+deb12u1",
    "tmux": "3.3a-3",
    "vim-doc": "2:9.0.1378-2+deb12u2",
    "wget": "1.21.3-1+deb12u1",
    "zstd": "1.5.4+dfsg2-5+deb12u1",
}
TREE = ["sqlite", "vim", "debian-reference", "developers-reference", "maint-guide", "policy",
        "man", "text"]  # fmt: skip
# Notes worth reading in a tool's /usr/share/doc folder (compressed or not).
TEXT_PREFIXES = ("README", "FAQ", "OVERVIEW", "FEATURES", "TROUBLESHOOTING", "UPGRADE", "OPTIONS")
TEXT_SKIP = ("CODE_OF_CONDUCT", "CONTRIBUTORS", "CONTRIBUTING")


def download(cache: Path, package: str) -> Path:
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        subprocess.run(["apt-get", "download", package], cwd=debs, check=True)
        found = sorted(debs.glob(f"{package}_*.deb"))
    return found[-1]


def unpack(cache: Path, package: str, deb: Path) -> tuple[Path, str]:
    root = cache / "root" / package
    if not root.is_dir():  # unpacked beside, then renamed: an interrupted run leaves no half
        partial = root.with_name(package + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg", "-x", str(deb), str(partial)], check=True)
        partial.rename(root)
    version = subprocess.run(
        ["dpkg-deb", "--field", str(deb), "Version"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return root, version


def copy_tree(source: Path, target: Path, suffixes: tuple[str, ...]) -> None:
    for path in sorted(source.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.name.endswith(suffixes):
            dest = target / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)


def copy_docs(roots: dict[str, Path], out: Path) -> None:
    copy_tree(roots["sqlite3-doc"] / "usr/share/doc/sqlite3", out / "sqlite", (".html",))
    copy_tree(roots["vim-doc"] / "usr/share/doc/vim/html", out / "vim", (".html",))
    copy_tree(roots["debian-reference-en"] / "usr/share/debian-reference",
              out / "debian-reference", (".en.html",))  # fmt: skip
    devref = roots["developers-reference"] / "usr/share/developers-reference"
    for name in ("developers-reference.html", "developers-reference.pdf"):
        shutil.copyfile(devref / name, out / "developers-reference" / name)
    guide = roots["maint-guide"] / "usr/share/doc/maint-guide/maint-guide.en.pdf"
    shutil.copyfile(guide, out / "maint-guide" / guide.name)
    policy = roots["debian-policy"] / "usr/share/doc/debian-policy"
    for source in sorted((policy / "policy.html/_sources").glob("*.rst.txt")):
        shutil.copyfile(source, out / "policy" / source.name.removesuffix(".txt"))
    for name in ("autopkgtest.html", "copyright-format-1.0.html", "debconf_specification.html",
                 "fhs/fhs-3.0.html", "menu-policy-1.html", "perl-policy-1.html"):  # fmt: skip
        shutil.copyfile(policy / name, out / "policy" / Path(name).name)


def render_man(page: Path, dest: Path) -> bool:
    """``man -l`` the page into ``dest``; False for a page that only includes another."""
    with gzip.open(page, "rt", errors="replace") if page.suffix == ".gz" else page.open() as f:
        if f.read(200).lstrip().startswith(".so "):
            return False
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    text = subprocess.run(
        ["man", "-l", "-P", "cat", str(page)], env=env, check=True, capture_output=True
    ).stdout
    dest.write_bytes(text)
    return True


def copy_tool_docs(package: str, root: Path, out: Path, seen: set[bytes]) -> int:
    """Render the package's manual pages and copy its notes; how many pages were rendered."""
    pages = 0
    found = (root / "usr/share/man").glob("man[1-8]/*")
    for page in sorted(found, key=lambda p: (len(p.name), p.name)):  # zstd.1 before zstdcat.1
        if page.is_symlink() or not page.is_file() or page.stat().st_size == 0:
            continue
        digest = hashlib.sha1(page.read_bytes()).digest()  # zstdcat.1 is a copy of zstd.1
        if digest in seen:
            continue
        seen.add(digest)
        name = page.name.removesuffix(".gz")
        pages += render_man(page, out / "man" / f"{name}.txt")
    notes = root / "usr/share/doc" / package
    for path in sorted(notes.glob("*")) if notes.is_dir() else []:
        name = path.name.removesuffix(".gz")
        wanted = name.startswith(TEXT_PREFIXES) or name.endswith(".md")
        if not wanted or name.startswith(TEXT_SKIP) or path.is_symlink() or not path.is_file():
            continue
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        dest = out / "text" / package / (name if "." in name else name + ".txt")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    return pages


def main(out: Path) -> None:
    cache = out / ".cache"
    roots, versions = {}, {}
    for package in DOC_PACKAGES + TOOL_PACKAGES:
        roots[package], versions[package] = unpack(cache, package, download(cache, package))
    for folder in TREE:
        shutil.rmtree(out / folder, ignore_errors=True)
        (out / folder).mkdir(parents=True)
    copy_docs(roots, out)
    seen: set[bytes] = set()
    pages = sum(copy_tool_docs(p, roots[p], out, seen) for p in TOOL_PACKAGES)
    (out / "VERSIONS.txt").write_text(
        "".join(f"{p} {versions[p]}\n" for p in sorted(versions)), encoding="utf-8"
    )
    files = [p for p in out.rglob("*") if p.is_file() and ".cache" not in p.parts]
    size = sum(p.stat().st_size for p in files)
    print(f"{out}: {len(files)} files, {size / 1e6:.1f} MB, {pages} man pages")
    changed = {p: v for p, v in versions.items() if EXPECTED_VERSIONS.get(p) != v}
    for package, version in sorted(changed.items()):
        print(
            f"warning: {package} {version}, the questions were written for "
            f"{EXPECTED_VERSIONS.get(package)}: line numbers may differ",
            file=sys.stderr,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, metavar="OUT")
    main(parser.parse_args().out.resolve())
