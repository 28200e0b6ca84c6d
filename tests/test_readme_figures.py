"""The README's measured tables are the last `make figures` run's: every block between
``<!-- figures:NAME -->`` markers equals what benchmarks/figures.py renders from the committed
benchmarks/figures/*.json (no run here: a table edited by hand, or a run committed without its JSON,
fails)."""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import figures


def test_readme_tables_match_the_committed_json():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"<!-- figures:([\w-]+) -->", text)
    assert set(blocks) == set(figures.TABLES), blocks  # every known table is in the README, once each
    assert len(blocks) == len(set(blocks))
    rendered = figures.render_readme(text)
    if rendered != text:
        old = [line for line in text.splitlines() if line not in rendered.splitlines()]
        raise AssertionError(f"README.md differs from benchmarks/figures/*.json; run `python benchmarks/figures.py "
                             f"--render` or `make figures`. Lines not from the JSON: {old[:5]}")


def test_each_figure_set_says_when_and_where():
    for name in {s for s, _ in figures.TABLES.values()}:
        doc = json.loads((figures.FIGURES / f"{name}.json").read_text())
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", doc["date"]) and doc["machine"] and doc["commit"]
        assert f"Measured {doc['date']} on {doc['machine']}" in (ROOT / "README.md").read_text()


def test_a_hand_edited_figure_is_caught(tmp_path):
    text = (ROOT / "README.md").read_text()
    doc = json.loads((figures.FIGURES / "lenet.json").read_text())
    shown = f"{doc['data']['estimated_cycles']:,}"
    assert shown in text
    assert figures.render_readme(text.replace(shown, "1,234", 1)) == text
