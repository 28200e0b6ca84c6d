"""`mcudeploy demo` (the README's first command, as `make demo` runs it) end to end on the emulated
board: the committed LeNet-5 weights, compile, validate a few held-out samples over the UART, profile.
It once stopped at its validate step looking for a physical board (it handed the emulate choice to
the commands in a form they no longer read), which no other test ran into."""

import json

import pytest
from conftest import need_toolchain
from mcd_cli import run_cli


@pytest.mark.emulated
def test_demo_runs_on_the_emulated_board(tmp_path, capsys):
    need_toolchain()
    out, rep = tmp_path / "demo", tmp_path / "v.json"
    code, stdout, stderr = run_cli(capsys, ["demo", "--limit", "3", "-o", out, "--json", rep])
    assert code == 0, stderr
    assert "4/4 profile per layer" in stdout and "(emulated)" in stdout
    r = json.loads(rep.read_text())
    assert r["emulated"] and r["counter"] == "emulated_instructions"
    assert r["samples"] == r["bit_exact"] == 3
    assert (out / "validate.html").is_file()
