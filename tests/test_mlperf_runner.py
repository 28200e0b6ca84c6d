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

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mcudeploy import mlperf_suite as S
from mcudeploy.boards import load_board
from mcudeploy.target.pty_bridge import start_bridge, stop_bridge
from mcudeploy.target.qemu import QemuTarget

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
CLASSES = {"ic_resnet8": 10, "kws_dscnn": 12, "vww_mobilenet": 2, "ad_autoencoder": 2}
AD_SEGMENT, AD_STRIDE = 2560, 1280  # bytes: 640 float32 per inference; each file holds two segments
PRINTED = 5.01e-7  # the firmware prints 6 decimals


def _files(name: str) -> list[tuple[bytes, int]]:
    """(bytes of one dataset file, label) for name: one file per class (ad: normal, anomalous)."""
    n = CLASSES[name]
    x = mt.sample_inputs(name, n + 1, seed=21)
    if name == "ad_autoencoder":  # 960 floats = two overlapping 640-float segments
        return [(S.runner_bytes(name, np.concatenate([x[i], x[i + 1][:320]])), i % 2) for i in range(n)]
    return [(S.runner_bytes(name, x[i]), i % n) for i in range(n)]


def _dataset(root: Path, name: str) -> list[tuple[bytes, int]]:
    files = _files(name)
    d = root / S.RUNNER_NAMES[name]
    d.mkdir(parents=True)
    rows = []
    for i, (data, label) in enumerate(files):
        (d / f"s{i}.bin").write_bytes(data)
        extra = f",{AD_SEGMENT},{AD_STRIDE}" if name == "ad_autoencoder" else ""
        rows.append(f"s{i}.bin,{CLASSES[name]},{label}{extra}")
    (d / "y_labels.csv").write_text("\n".join(rows) + "\n")
    return files


def _inputs(name: str, data: bytes) -> list[bytes]:
    """What one file sends per inference (ad: each segment)."""
    if name != "ad_autoencoder":
        return [data]
    return [data[s:s + AD_SEGMENT] for s in range(0, len(data) - AD_SEGMENT + 1, AD_STRIDE)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Build, start and bridge the four boards, run the runner on them; its output and the data."""
    root = tmp_path_factory.getbasetemp() / "mlperf_tiny"  # shared with test_mlperf_protocol.py / _suite.py
    work = tmp_path_factory.mktemp("runner")
    accuracy = yaml.safe_load((RUNNER / "tests_accuracy.yaml").read_text())
    spec, started, data = [], [], {}
    try:
        for name in S.MODELS:
            prj = S.compile_model(name, root / name)
            elf = S.build_mlperf(prj.path, BOARD, emulate=True, name=name, runner_input=True).elf
            target = QemuTarget(load_board(BOARD))
            target.start(elf)
            started.append(target)
            bridge = start_bridge(target.port, work / f"{name}.pty", work / f"{name}.socat.log")
            started.append(bridge)
            data[name] = (prj, _dataset(work / "datasets", name))
            model = S.RUNNER_NAMES[name]
            perf = {"name": accuracy[model]["name"], "model": model, "truth_file": "y_labels.csv",
                    "script": [{"loop 2": ["download", "infer 2 1"]}]}
            spec.append({"pty": str(bridge.pty), "model": model, "datasets": str(work / "datasets"),
                         "scripts": {"a": accuracy[model], "p": perf}})
        (work / "spec.json").write_text(json.dumps(spec))
        driver = Path(__file__).parent / "fixtures" / "mlperf_runner_driver.py"
        p = subprocess.run([sys.executable, str(driver), str(RUNNER), "spec.json", "out.json"], check=False, cwd=work,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
        out = json.loads((work / "out.json").read_text())
    finally:
        for thing in reversed(started):
            if isinstance(thing, QemuTarget):
                thing.stop()
            else:
                stop_bridge(thing.pid)
    return {o["model"]: o for o in out}, data


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
    want = [S.expected_results(prj, name, x) for data_, _ in files for x in _inputs(name, data_)]
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
        want = S.expected_results(prj, name, _inputs(name, data_)[0])
        assert np.abs(np.array(inf["results"]) - want).max() <= PRINTED
    # two windows, not the five the rules ask for: the runner's own check says so
    assert {"error": "error 1"} in run["result"]
    assert "ERROR 1 - loop_count was not exactly 5" in run["summary"]
    assert "Throughput:" in run["summary"]
