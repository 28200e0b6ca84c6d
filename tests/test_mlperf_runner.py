"""The official MLPerf Tiny runner, unmodified, against the emulated NUCLEO-F446RE.

The runner's own classes (``DUT``, ``Script``, ``DataSet``, ``summarize_result``, imported from
../shared/third_party/mlperf_tiny_runner, never copied) drive each of the four models through a
socat pty in front of the emulated board (target/pty_bridge.py, as `flash --detach --protocol
mlperf` sets it up), in accuracy mode (the runner's own tests_accuracy.yaml scripts) and in
performance mode (its syntax, with 2 files and 2 timed inferences instead of 5 and 20-1500, so
the runner itself flags "ERROR 1": the suite's time is bounded). Every value the runner parsed
must equal the host's twin of the firmware's arithmetic (mlperf_suite.expected_results: the
numpy reference's int8 output, softmax / anomaly score in float64) to the 6 printed decimals, and
its Top-1 and AUC must be those of the host's values. Inputs are synthetic (the MLPerf data sets
are not available offline): labels cycle through the classes, as the runner's AUC needs them all.
"""

import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from mcudeploy import mlperf_suite as S
from mcudeploy.mlperf_dataset import inputs
from mlperf_runner_host import run_runner
from setup_progress import shown

RUNNER = Path(os.environ.get("MCUDEPLOY_MLPERF_RUNNER", "/work/shared/third_party/mlperf_tiny_runner"))
pytestmark = [pytest.mark.emulated, pytest.mark.slow,
              pytest.mark.skipif(not all(shutil.which(t) for t in ("qemu-system-arm", "arm-none-eabi-gcc", "socat")),
                                 reason="qemu-system-arm / arm-none-eabi-gcc / socat not installed")]
if not (RUNNER / "device_under_test.py").is_file():
    pytest.skip(f"the MLPerf Tiny runner is not in {RUNNER} (set MCUDEPLOY_MLPERF_RUNNER)", allow_module_level=True)
for mod in ("h5py", "tflite", "yaml", "sklearn", "matplotlib", "usb"):
    pytest.importorskip(mod, reason=f"the MLPerf ports / the runner need {mod}")
import yaml
from mcudeploy.zoo import mlperf_tiny as mt
from sklearn.metrics import roc_auc_score

if not all((mt.MODEL_DIR / f).is_file() for f in mt.FLOAT_FILES.values()):
    pytest.skip(f"MLPerf Tiny reference files not found in {mt.MODEL_DIR}", allow_module_level=True)

BOARD = "nucleo-f446re"
PRINTED = 5.01e-7  # the firmware prints 6 decimals
@pytest.fixture(scope="module")
def runs(tmp_path_factory, request):
    """The runner's accuracy scripts as they are; performance: 2 windows of 2 timed inferences."""
    root = tmp_path_factory.getbasetemp() / "mlperf_tiny"  # shared with test_mlperf_protocol.py / _suite.py
    accuracy = yaml.safe_load((RUNNER / "tests_accuracy.yaml").read_text())

    def scripts(model):
        perf = {"name": accuracy[model]["name"], "model": model, "truth_file": "y_labels.csv",
                "script": [{"loop 2": ["download", "infer 2 1"]}]}
        return {"a": accuracy[model], "p": perf}

    with shown(request, "set-up: compile the four MLPerf Tiny models, run the official runner on them"):
        projects = {name: S.compile_model(name, root / name) for name in S.MODELS}
        out, data = run_runner(RUNNER, tmp_path_factory.mktemp("runner"), projects, scripts)
    return out, {name: (projects[name], data[name]) for name in S.MODELS}


def _windows(result: list[dict]) -> list[dict]:
    return [r for r in result if "infer" in r]


def _summary_value(summary: str, label: str) -> float:
    m = re.search(rf"ulp-mlperf: {re.escape(label)} = ([0-9.]+)", summary)
    assert m, summary
    return float(m.group(1))


@pytest.mark.parametrize("name", S.MODELS)
def test_accuracy_mode(runs, name):
    out, data = runs
    o = out[S.RUNNER_NAMES[name]]
    assert (o["name"], o["model"]) == (BOARD, S.RUNNER_NAMES[name])
    assert o["profile"].startswith("MLPerf Tiny Firmware")
    prj, files = data[name]
    want = [S.expected_results(prj, name, x) for data_, _ in files for x in inputs(name, data_)]
    got = [w["infer"]["results"] for w in _windows(o["runs"]["a"]["result"])]
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert np.abs(np.array(g) - w).max() <= PRINTED, f"inference {i}: runner parsed {g}, host {w}"
    labels = np.array([label for _, label in files])
    summary = o["runs"]["a"]["summary"]
    if name == "ad_autoencoder":  # the runner averages each file's segment scores
        per_file = np.array([np.mean(np.round([want[2 * i][0], want[2 * i + 1][0]], 6)) for i in range(len(files))])
        assert _summary_value(summary, "AUC") == round(roc_auc_score(labels, per_file), 3)
        return
    probs = np.round(np.array(want), 6)  # what the board prints: ties at 0.000000 count in the AUC
    top1 = 100 * np.mean(probs.argmax(1) == labels)
    norm = probs / probs.sum(1, keepdims=True)
    auc = roc_auc_score(labels, norm[:, 1]) if norm.shape[1] == 2 else roc_auc_score(labels, norm, multi_class="ovr")
    assert _summary_value(summary, "Top 1%") == round(top1, 1)
    assert _summary_value(summary, "AUC") == round(auc, 3)


@pytest.mark.parametrize("name", S.MODELS)
def test_performance_mode(runs, name):
    out, data = runs
    run = out[S.RUNNER_NAMES[name]]["runs"]["p"]
    prj, files = data[name]
    windows = _windows(run["result"])
    assert len(windows) == 2
    for w, (data_, _) in zip(windows, files, strict=False):
        inf = w["infer"]
        assert inf["total_inferences"] == 1 and inf["iterations"] == 2 and inf["warmups"] == 1
        assert inf["elapsed_time"] > 0  # m-lap-us: emulated instructions / core MHz
        assert inf["throughput"] == pytest.approx(2 / (inf["elapsed_time"] / 1e6))
        want = S.expected_results(prj, name, inputs(name, data_)[0])
        assert np.abs(np.array(inf["results"]) - want).max() <= PRINTED
    # two windows, not the five the rules ask for: the runner's own check says so
    assert {"error": "error 1"} in run["result"]
    assert "ERROR 1 - loop_count was not exactly 5" in run["summary"]
    assert "Throughput:" in run["summary"]


def test_flash_detach_for_the_runner(runs, capsys):
    """`flash --emulate --detach --protocol mlperf --mlperf-model M` leaves the board behind a pty
    that the runner's DUT opens (twice, as main.py does); --stop ends the emulator and socat."""
    from mcd_cli import run_main

    sys.path.insert(0, str(RUNNER))
    from device_under_test import DUT

    prj = runs[1]["kws_dscnn"][0]
    code, text = run_main(capsys, "flash", prj.path, "--emulate", "--detach", "--protocol", "mlperf",
                          "--mlperf-model", "kws_dscnn")
    try:
        assert code == 0, text
        pty = re.search(r"serial port: (\S+)", text).group(1)
        for _ in range(2):
            with DUT(pty, 115200) as dut:
                assert (dut.get_name(), dut.get_model()) == (BOARD, "kws01")
                assert dut.get_profile().startswith("MLPerf Tiny Firmware")
    finally:
        code, text = run_main(capsys, "flash", prj.path, "--emulate", "--stop")
    assert code == 0 and f"pty {pty}" in text
    assert not Path(pty).exists()
    code, text = run_main(capsys, "flash", prj.path, "--emulate", "--mlperf-model", "kws_dscnn")
    assert code == 2 and "--mlperf-model is for --protocol mlperf" in text
