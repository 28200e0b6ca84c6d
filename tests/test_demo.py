"""`mcudeploy demo` (the README's first command, as `make demo` runs it) end to end on the emulated
board: the committed LeNet-5 weights, compile, validate a few held-out samples over the UART, profile.
It once stopped at its validate step looking for a physical board (it handed the emulate choice to
the commands in a form they no longer read), which no other test ran into."""

import json

import pytest
from conftest import need_toolchain
from mcd_cli import run_cli


@pytest.mark.emulated
def test_demo_runs_on_the_emulated_board(tmp_path, capsys, monkeypatch):
    need_toolchain()
    from mcudeploy import bench

    runs = []  # validate's report and profile both want the estimate on the first held-out sample
    real = bench.estimate
    monkeypatch.setattr(bench, "estimate", lambda *a, **k: runs.append(a) or real(*a, **k))
    out, rep = tmp_path / "demo", tmp_path / "v.json"
    code, stdout, stderr = run_cli(capsys, ["demo", "--limit", "3", "-o", out, "--json", rep])
    assert code == 0, stderr
    assert len(runs) == 1, "the timing harness was built and run again for profile"  # bench.harness_run
    assert "estimated_cycles" in stdout  # profile shows the (reused) estimate beside each layer
    assert "4/4 profile per layer" in stdout and "(emulated)" in stdout
    r = json.loads(rep.read_text())
    assert r["emulated"] and r["counter"] == "emulated_instructions"
    assert r["samples"] == r["bit_exact"] == 3
    assert (out / "validate.html").is_file()

