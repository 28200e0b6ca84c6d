"""validate / profile on the emulated NUCLEO-F446RE over the UART (QEMU), with real MNIST."""

import json
import shutil

import pytest
from click.testing import CliRunner
from mcudeploy.cli import cli
from mcudeploy.profile import profile
from mcudeploy.validate import ValidationCancelled, validate

pytestmark = [pytest.mark.emulated,
              pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                                 reason="qemu-system-arm / arm-none-eabi-gcc not installed")]
BOARD = "nucleo-f446re"


def test_500_mnist_samples_bit_exact_through_qemu(lenet_project, tmp_path):
    rep = validate(lenet_project.outdir, BOARD, True, "mnist", limit=500, results=tmp_path / "r.jsonl")
    assert rep["samples"] == 500
    assert rep["bit_exact"] == 500
    assert rep["counter"] == "emulated_instructions"
    assert rep["accuracy_device"] > 0.95
    assert abs(rep["accuracy_device"] - rep["accuracy_float"]) <= 0.01
    assert rep["flash_bytes"] < rep["board_flash_bytes"] == 512 * 1024
    assert rep["ram_bytes"] < rep["board_ram_bytes"] == 128 * 1024
    assert 0 < rep["stack_peak_bytes"] < 8192
    assert sum(map(sum, rep["confusion_matrix"])) == 500


def test_count_per_inference_identical_across_runs(lenet_project, tmp_path):
    a = validate(lenet_project.outdir, BOARD, True, "mnist", limit=5, results=tmp_path / "a.jsonl")
    b = validate(lenet_project.outdir, BOARD, True, "mnist", limit=5, results=tmp_path / "b.jsonl")
    ta = [json.loads(line)["total"] for line in (tmp_path / "a.jsonl").read_text().splitlines()[1:]]
    tb = [json.loads(line)["total"] for line in (tmp_path / "b.jsonl").read_text().splitlines()[1:]]
    assert ta == tb and a["count_per_inference"] == b["count_per_inference"]


def test_interrupted_validation_resumes_with_each_sample_once(lenet_project, tmp_path):
    full = validate(lenet_project.outdir, BOARD, True, "mnist", limit=24, results=tmp_path / "full.jsonl")

    def stop_after_10(k, n):
        if k == 10:
            raise KeyboardInterrupt

    res = tmp_path / "cut.jsonl"
    with pytest.raises(ValidationCancelled, match="10 of 24 results saved"):  # Ctrl-C after the start: exit 130
        validate(lenet_project.outdir, BOARD, True, "mnist", limit=24, results=res, progress=stop_after_10)
    assert len(res.read_text().splitlines()) == 1 + 10
    resumed = validate(lenet_project.outdir, BOARD, True, "mnist", limit=24, results=res, resume=True)
    assert resumed["resumed_samples"] == 10
    lines = res.read_text().splitlines()[1:]
    assert sorted(json.loads(x)["i"] for x in lines) == list(range(24))
    timing = {"throughput", "link", "results_file", "resumed_samples"}  # timing and transport counts
    assert {k: v for k, v in resumed.items() if k not in timing} == {k: v for k, v in full.items() if k not in timing}


def test_profile_labels_counts_and_estimates(lenet_project):
    rep = profile(lenet_project.outdir, BOARD, True, "mnist")
    assert rep["counter"] == "emulated_instructions" and rep["deterministic"]
    assert [r["name"] for r in rep["layers"]] == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert sum(r["count"] for r in rep["layers"]) <= rep["total_count"]
    assert all(r["estimated_cycles"] > 0 for r in rep["layers"])


def test_cli_validate_json_and_html(lenet_project, tmp_path):
    r = CliRunner().invoke(cli, ["validate", str(lenet_project.outdir), "--emulate", "--data", "mnist", "--limit", "8",
                                 "--json", str(tmp_path / "v.json"), "--html", str(tmp_path / "v.html"),
                                 "--results", str(tmp_path / "v.jsonl")])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "v.json").read_text())
    for key in ("board", "counter", "samples", "bit_exact", "accuracy_device", "accuracy_float", "agreement_float",
                "count_per_inference", "flash_bytes", "ram_bytes", "board_flash_bytes", "board_ram_bytes",
                "stack_peak_bytes"):
        assert key in rep
    page = (tmp_path / "v.html").read_text()
    for section in ("Summary", "Accuracy and agreement", "Confusion matrix", "Per-layer latency", "Memory map", "Link"):
        assert f"<h2>{section}" in page, section
    assert rep["memory"]["flash"]["total_linked"] == rep["flash_bytes"]  # the memory map is the linked ELF's
    assert "estimated_cycles" in rep["layers"][0]  # --html sets the timing model's estimate beside each count
    assert "8/8" in r.output
