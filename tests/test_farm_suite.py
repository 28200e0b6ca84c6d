"""`bench --suite mlperf-tiny --farm`: the suite's models dealt over labgrid farm places.

Real ``labgrid-coordinator`` / ``labgrid-exporter`` processes on 127.0.0.1 and emulated places
(two exporters, "two hosts", one place each). What must hold: every model reported once, by the
place that ran it, bit-exact with the numpy reference and LiteRT, with the emulated_instructions
a local emulator counts; a host killed mid-suite loses nothing (its model runs again elsewhere).
Small models (ad_autoencoder, kws_dscnn; vww_mobilenet as the long one) and one sample each.
"""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest
from click.testing import CliRunner
from mcd_cli import run_main
from mcudeploy import mlperf_suite as S
from mcudeploy.boards import load_board
from mcudeploy.cli import cli

labgrid = pytest.importorskip("labgrid", reason="labgrid not installed: pip install 'mcudeploy[farm]'")

from mcudeploy.farm import emulated
from mcudeploy.farm.suite import suite_farm

BOARD = "nucleo-f446re"
MODELS = ["ad_autoencoder", "kws_dscnn"]
KILL_MODELS = ["ad_autoencoder", "vww_mobilenet"]
needs_emulator = pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                                    reason="qemu-system-arm / arm-none-eabi-gcc not installed")


def _two_hosts(folder):
    b = load_board(BOARD)
    addr = emulated.up(1, b, folder, name="hostA")["coordinator"]["address"]
    emulated.up(1, b, folder, coordinator=addr, name="hostB")
    return addr


@pytest.fixture()
def workdir(tmp_path_factory):
    pytest.importorskip("h5py", reason="the MLPerf Tiny models need h5py")
    return tmp_path_factory.getbasetemp() / "mlperf_tiny"  # compiled models shared with test_mlperf_suite.py


@needs_emulator
@pytest.mark.emulated
@pytest.mark.slow
def test_suite_over_two_hosts_names_each_models_place(workdir, tmp_path):
    folder = tmp_path / "farm"
    addr = _two_hosts(folder)
    try:
        js = tmp_path / "suite.json"
        r = CliRunner().invoke(cli, ["bench", "--suite", "mlperf-tiny", "--farm", addr, "--boards", "2", "--models",
                                     ",".join(MODELS), "--samples", "1", "--no-cycles", "--workdir", str(workdir),
                                     "--json", str(js)])
    finally:
        emulated.down(folder)
    assert r.exit_code == 0, r.output + repr(r.exception)
    rep = json.loads(js.read_text())
    assert [m["name"] for m in rep["models"]] == MODELS and rep["counter"] == "emulated_instructions"
    for m in rep["models"]:
        assert m["place"] in ("hostA-1", "hostB-1") and m["samples"] == m["bit_exact"] == m["litert_exact"] == 1, m
    per = rep["farm"]["models_per_place"]
    assert sorted(m for ms in per.values() for m in ms) == sorted(MODELS)  # each model once, on the place named
    assert "farm place" in r.output and "model(s) in" in r.output


@needs_emulator
@pytest.mark.emulated
@pytest.mark.slow
def test_a_farm_place_counts_what_the_local_emulator_counts_and_cycles_stay_host_side(workdir, tmp_path):
    pytest.importorskip("unicorn", reason="the Cortex-M4 timing model needs unicorn (pip install -e .[cycles])")
    folder = tmp_path / "farm"
    addr = emulated.up(1, load_board(BOARD), folder, name="hostA")["coordinator"]["address"]
    try:
        rep = suite_farm(workdir, addr, BOARD, 1, samples=1, names=["ad_autoencoder"], cycles=True)
    finally:
        emulated.down(folder)
    local = S.run_model("ad_autoencoder", S.suite_project("ad_autoencoder", workdir), BOARD, samples=1, cycles=True)
    m = rep["models"][0]
    assert m["place"] == "hostA-1" and m["bit_exact"] == 1
    assert m["count_per_inference"] == local["count_per_inference"]  # same firmware, same emulated count
    assert m["estimated_cycles"] == local["estimated_cycles"] and m["timing_model"] == local["timing_model"]


@needs_emulator
@pytest.mark.emulated
@pytest.mark.slow
def test_a_host_killed_mid_suite_loses_no_model(workdir, tmp_path):
    """When the first model is done, the other host (its exporter and QEMU) is SIGKILLed while its
    model runs: that model runs again, from the start, on the surviving place; each model once.
    ad_autoencoder (~0.5 M instructions, 640 B in) is done while vww_mobilenet (~15 M, 27 KB in
    over the UART) still runs, whichever place took which."""
    folder = tmp_path / "farm"
    addr = _two_hosts(folder)
    hosts = {e["name"]: e for e in emulated.read_state(folder)["exporters"]}
    killed = []

    def kill_the_other(name, place, done, total):
        if not killed:
            victim = hosts["hostB" if place.startswith("hostA") else "hostA"]
            for proc in [victim, *victim["places"]]:
                os.kill(proc["pid"], signal.SIGKILL)
            killed.append((name, place, victim["places"][0]["group"]))

    try:
        rep = suite_farm(workdir, addr, BOARD, 2, samples=1, names=KILL_MODELS, on_model=kill_the_other)
    finally:
        emulated.down(folder)
    first, survivor, lost = killed[0]
    assert first == "ad_autoencoder"
    assert [m["name"] for m in rep["models"]] == KILL_MODELS
    assert all(m["bit_exact"] == m["litert_exact"] == 1 for m in rep["models"])
    assert {m["place"] for m in rep["models"]} == {survivor}  # the killed place's model was run again
    places = {p["place"]: p for p in rep["farm"]["places"]}
    assert places[lost]["lost"] and places[lost]["models"] == [] and places[lost]["error"]
    assert sorted(places[survivor]["models"]) == sorted(KILL_MODELS)


def test_bench_farm_options_refuse_what_they_cannot_mean(capsys):
    code, text = run_main(capsys, "bench", "--farm", "127.0.0.1:1")
    assert code == 2 and "add --suite mlperf-tiny" in text
    code, text = run_main(capsys, "bench", "--suite", "mlperf-tiny", "--boards", "2")
    assert code == 2 and "give --farm HOST:PORT too" in text
    code, text = run_main(capsys, "bench", "--suite", "mlperf-tiny", "--farm", "127.0.0.1:1", "--port", "/dev/x")
    assert code == 2 and "drop --no-emulate, --port" in text


def test_bench_suite_refuses_an_unreachable_farm_before_compiling(capsys, tmp_path, workdir):
    work = tmp_path / "suite"
    code, text = run_main(capsys, "bench", "--suite", "mlperf-tiny", "--farm", "127.0.0.1:1", "--boards", "2",
                          "--no-cycles", "--workdir", work)
    assert code == 2 and "cannot reach the labgrid coordinator at 127.0.0.1:1" in text, text
    assert len(text.strip().splitlines()) == 1 and not work.exists()
