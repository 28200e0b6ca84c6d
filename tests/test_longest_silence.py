"""scripts/longest_silence.py measures what the user sees: the longest gap between output bytes."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from longest_silence import measure


def test_the_longest_gap_and_where_it_starts(tmp_path):
    log = tmp_path / "out.log"
    r = measure(["sh", "-c", "echo a; sleep 0.3; echo b; sleep 1.2; echo c >&2; exit 3"], str(log))
    assert r["rc"] == 3
    assert 1.1 <= r["longest_silence"] < 3 and 0.2 <= r["starting_at"] < 1.5, r
    assert log.read_text().split() == ["a", "b", "c"]  # stderr kept too


def test_silent_to_the_end_counts():
    r = measure(["sh", "-c", "echo a; sleep 1"])
    assert r["longest_silence"] >= 0.9
