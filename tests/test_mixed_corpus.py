"""Topics and keywords on a collection mixed from clearly distinct sources.

Generated pages of three manuals that share much of their vocabulary (a language
reference, a build system, a package manager), and two kinds of prose (baking,
astronomy), as records with titles. With one group three times the size of the
others, silhouette over every k chose 4 (two manuals merged) and the large group
filled the collection's keyword list.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from analyzer.app_context import AppContext
from analyzer.settings import Settings, database_urls_from_env
from modules.semantic_core.ingest.service import Record
from modules.semantic_core.module import semantic_core
from tests.helpers import cli, cli_json, ingest_records, within_app

SHARED = (
    "option default value file directory example section version note following "
    "configuration command output input path name list support error warning system"
).split()
FUNCTION = "the a of to is in for when that with by an on be it this as are can from".split()
GROUPS = {
    "language": (
        "function module class method argument keyword return exception raise import object "
        "attribute iterator generator decorator dictionary tuple string bytes interpreter"
    ).split(),
    "build": (
        "target build project compiler linker executable library archive generator "
        "toolchain property source include ninja policy configure flags platform makefile"
    ).split(),
    "packages": (
        "package dependency registry install script node npm publish semver lockfile "
        "workspace scope tarball token audit peer manifest json deprecate login"
    ).split(),
    "kitchen": "flour dough oven yeast butter sugar knead loaf crust whisk recipe bake".split(),
    "space": "planet orbit telescope comet galaxy nebula asteroid moon crater star eclipse".split(),
}


def page(group: str, rng: random.Random) -> tuple[str, str]:
    """A title and paragraphs of the group's terms (a few of them most), manual words and
    function words."""
    words = GROUPS[group]
    focus = rng.sample(words, 4)
    paragraphs = []
    for _ in range(rng.randint(3, 6)):
        sentence = []
        for _ in range(rng.randint(30, 60)):
            draw = rng.random()
            pool = (
                focus
                if draw < 0.2
                else words
                if draw < 0.45
                else SHARED
                if draw < 0.65
                else FUNCTION
            )
            sentence.append(rng.choice(pool))
        paragraphs.append(" ".join(sentence).capitalize() + ".")
    return f"{focus[0]} {focus[1]}".capitalize(), "\n\n".join(paragraphs)


def records(sizes: dict[str, int], seed: int = 5) -> list[Record]:
    rng = random.Random(seed)
    made = []
    for group, count in sizes.items():
        for i in range(count):
            title, text = page(group, rng)
            made.append(Record(f"{group}-{i}", text, title))
    return made


EVEN = dict.fromkeys(GROUPS, 20)
ONE_LARGE = {"language": 60, **dict.fromkeys(["build", "packages", "kitchen", "space"], 20)}


@pytest.fixture(scope="module")
def module_databases(new_databases: Callable[[str], dict[str, str]]) -> dict[str, str]:
    """The databases of this module's shared data directory, on the backend under test."""
    return new_databases("mixed")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, module_databases: dict[str, str]) -> Settings:
    """One data dir: five even groups in "even", one group 3x the others in "one-large"."""
    urls = database_urls_from_env(module_databases)
    settings = Settings(data_dir=tmp_path_factory.mktemp("mixed") / "data", database_urls=urls)
    ingest_records(settings, records(EVEN), collection="even")
    ingest_records(settings, records(ONE_LARGE), collection="one-large")
    return settings


def analysis(settings: Settings, method: str, **kwargs: Any) -> Any:
    async def work(app: AppContext) -> Any:
        return await getattr(semantic_core(app).analysis, method)(**kwargs)

    return within_app(settings, work)


def group(uid: str) -> str:
    return uid.split("-")[0]


def test_automatic_k_finds_five_distinct_groups_and_separates_them(mixed: Settings) -> None:
    for collection, sizes in (("even", EVEN), ("one-large", ONE_LARGE)):
        result = analysis(mixed, "topics", collection=collection)
        assert result.automatic and result.k == 5, (collection, result.tried)
        sources = [{group(r.document.uid) for r in t.representatives} for t in result.topics]
        assert all(len(s) == 1 for s in sources)
        found = {s.pop(): t.size for s, t in zip(sources, result.topics, strict=True)}
        assert found == sizes


def test_representatives_carry_titles(mixed: Settings) -> None:
    titles = {r.uid: r.title for r in records(EVEN)}
    result = analysis(mixed, "topics", collection="even")
    for topic in result.topics:
        assert all(r.document.title == titles[r.document.uid] for r in topic.representatives)


def test_topics_text_and_json_show_titles_and_paths(mixed: Settings) -> None:
    data = str(mixed.data_dir)
    report = cli_json("--data-dir", data, "topics", "--collection", "even")
    first = report["topics"][0]["representatives"][0]
    assert first["title"] and first["document"] and first["document_id"]
    text = cli("--data-dir", data, "topics", "--collection", "even")
    assert text.exit_code == 0, text.output
    assert f"{first['title']} ({first['document']})" in text.stdout


def test_collection_keywords_name_every_group_when_one_is_three_times_larger(
    mixed: Settings,
) -> None:
    result = analysis(mixed, "keywords", collection="one-large", top=10)
    found = {word for k in result.keywords for word in k.term.split()}
    assert all(found & set(words) for words in GROUPS.values()), found


def test_a_collection_too_small_for_topics_still_has_keywords(mixed: Settings) -> None:
    small = [Record(f"s{i}", f"A note about herons and kingfishers, number {i}.") for i in range(3)]
    ingest_records(mixed, small, collection="small")
    result = analysis(mixed, "keywords", collection="small", top=5)
    assert "kingfishers" in {k.term for k in result.keywords}


def test_bench_skips_the_eval_corpora_when_absent(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_topics", Path(__file__).parents[1] / "bench" / "topics.py"
    )
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert list(bench.corpora(tmp_path)) in (["manuals+notes"], ["manuals+notes", "local-manuals"])
