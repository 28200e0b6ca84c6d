"""The README's measured tables are the last `make figures` run's: every block between
``<!-- figures:NAME -->`` markers equals what benchmarks/figure_tables.py renders from the committed
benchmarks/figures/*.json (no run here: a table edited by hand, or a run committed without its JSON,
fails). A block whose set has not been run must say so in its first line."""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import figure_tables as T
import figures

README = (ROOT / "README.md").read_text()
BLOCKS = {m.group(1): m.group(2) for m in T.BLOCK.finditer(README)}


def _have(set_name: str) -> bool:
    return (T.FIGURES / f"{set_name}.json").is_file()


def test_every_table_is_in_the_readme_once_and_every_set_has_a_table():
    names = re.findall(r"<!-- figures:([\w-]+) -->", README)
    assert sorted(names) == sorted(T.TABLES), names
    assert {s for s, _ in T.TABLES.values()} <= set(figures.SETS)  # every table has a run that makes it
    committed = {p.stem for p in T.FIGURES.glob("*.json")}
    shown = {s for s, _ in T.TABLES.values()}
    assert committed <= shown, f"JSON committed but shown nowhere: {committed - shown}"


def test_readme_tables_match_the_committed_json():
    rendered = T.render_readme(README)
    if rendered != README:
        old = [line for line in README.splitlines() if line not in rendered.splitlines()]
        raise AssertionError(f"README.md differs from benchmarks/figures/*.json; run `python benchmarks/figures.py "
                             f"--render` or `make figures`. Lines not from the JSON: {old[:5]}")


@pytest.mark.parametrize("name", sorted(T.TABLES))
def test_each_table_says_when_and_where_or_that_it_was_not_rerun(name):
    set_name, _ = T.TABLES[name]
    if not _have(set_name):
        assert BLOCKS[name].startswith(T.NOT_RUN) and re.search(r"\d{4}-\d\d-\d\d|earlier session", BLOCKS[name])
        return
    doc = T.load(set_name)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", doc.get("date", "")), f"{set_name}.json has no date: rerun the set"
    assert doc["machine"] and doc["commit"] and doc["command"] if set_name != "lenet" else doc["commit"]
    assert BLOCKS[name].startswith(f"_Measured {doc['date']} on {doc['machine']} (mcudeploy {doc['commit']})")


@pytest.mark.parametrize("name", sorted(n for n, (s, _) in T.TABLES.items() if _have(s)))
def test_a_changed_figure_changes_the_table(name):
    """Each renderer reads its JSON (not constants): with every number of the data changed, its
    table changes."""
    set_name, fn = T.TABLES[name]
    doc = T.load(set_name)

    def bump(v):
        if isinstance(v, dict):
            return {k: bump(x) for k, x in v.items()}
        if isinstance(v, list):
            return [bump(x) for x in v]
        return v * 3 + 7 if isinstance(v, (int, float)) and not isinstance(v, bool) else v
    changed = dict(doc, data=bump(doc["data"]))
    assert fn(changed) != fn(doc)


def test_a_hand_edited_figure_is_caught():
    doc = json.loads((T.FIGURES / "lenet.json").read_text())
    shown = f"{doc['data']['estimated_cycles']:,}"
    assert shown in README
    assert T.render_readme(README.replace(shown, "1,234", 1)) == README


def test_a_raw_script_json_renders_but_says_it_has_no_date(tmp_path, monkeypatch):
    """A set's JSON written by the script's own --json (no wrapper) still renders; its stamp asks for a rerun."""
    raw = T.load("lenet")["data"]
    (tmp_path / "lenet.json").write_text(json.dumps(raw))
    monkeypatch.setattr(T, "FIGURES", tmp_path)
    out = T.table_lenet_summary(T.load("lenet"))
    assert "Date and machine not recorded" in out and f"{raw['estimated_cycles']:,}" in out


def test_list_separates_each_sets_time_from_its_command():
    text = figures.list_sets()
    lines = text.splitlines()
    for name, s in figures.SETS.items():
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{name} "))
        joined = " ".join(lines[at:at + 2])
        assert f"{s.takes} " in joined and f" {s.run.command}" in joined, joined
        assert f"{s.takes}{s.run.command[:1]}" not in joined, joined  # the misprint: no gap between them


@pytest.mark.parametrize("page", [p for p in figures.PAGES if p != figures.README], ids=lambda p: p.name)
def test_the_docs_tables_match_the_committed_json_too(page):
    """A doc that shows a set's table (docs/mlperf_tiny.md) carries the generated block, not a copy
    typed by hand, and it equals what the committed JSON renders."""
    text = page.read_text()
    assert T.BLOCK.search(text), f"{page.name} is in figures.PAGES but has no figures block"
    assert T.render_readme(text) == text, f"{page.name} differs from benchmarks/figures/*.json: run " \
                                          "`python benchmarks/figures.py --render`"
