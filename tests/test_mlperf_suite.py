"""`mcudeploy bench --suite mlperf-tiny`: the four MLPerf Tiny reference models on the emulated
NUCLEO-F446RE, bit-exact with the reference, within the board's flash and RAM.

Few samples per model (QEMU's UART moves ~10 KB/s and VWW's input is 27 KB); inputs are synthetic,
the MLPerf data sets are not available offline. `docs/mlperf_tiny.md` has the full-size figures.
"""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from mcudeploy import mlperf_suite as S

HAVE_EMU = bool(shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc"))
MACS = {"ic_resnet8": 12_501_632, "kws_dscnn": 2_656_768, "vww_mobilenet": 7_489_664, "ad_autoencoder": 264_192}
KEYS = {"name", "macs", "count_per_inference", "flash_bytes", "ram_bytes", "board_flash_bytes", "board_ram_bytes",
        "samples", "bit_exact", "counter"}


def _need_models():
    pytest.importorskip("h5py", reason="the MLPerf Tiny ports need h5py")
    pytest.importorskip("tflite", reason="the kws port needs the tflite package")
    from mcudeploy.zoo import mlperf_tiny as mt

    if not all((mt.MODEL_DIR / f).is_file() for f in mt.FLOAT_FILES.values()):
        pytest.skip(f"MLPerf Tiny reference files not found in {mt.MODEL_DIR}")


def test_rank_agreement_and_scores():
    assert S.rank_agreement(np.array([1.0, 2, 3]), np.array([10.0, 20, 30])) == 1.0
    assert S.rank_agreement(np.array([1.0, 2, 3]), np.array([10.0, 30, 20])) == pytest.approx(2 / 3)
    assert S.rank_agreement(np.array([1.0]), np.array([5.0])) == 1.0
    x = np.zeros((2, 4))
    assert S.anomaly_scores(x, np.array([[1.0, 1, 1, 1], [2, 0, 0, 0]])).tolist() == [1.0, 1.0]


@pytest.mark.emulated
@pytest.mark.slow
@pytest.mark.skipif(not HAVE_EMU, reason="qemu-system-arm / arm-none-eabi-gcc not installed")
def test_suite_on_the_emulated_board(tmp_path_factory, tmp_path):
    _need_models()
    from mcudeploy.cli import cli

    work = tmp_path_factory.getbasetemp() / "mlperf_tiny"  # shared with test_mlperf_protocol.py
    out = tmp_path / "suite.json"
    res = CliRunner().invoke(cli, ["bench", "--suite", "mlperf-tiny", "--samples", "2", "--no-cycles",
                                   "--workdir", str(work), "--json", str(out)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "emulated_instructions" in res.output and "not cycles" in res.output
    rep = json.loads(out.read_text())
    assert rep["counter"] == "emulated_instructions" and rep["emulated"] is True
    assert [m["name"] for m in rep["models"]] == S.MODELS
    for m in rep["models"]:
        assert KEYS <= set(m), KEYS - set(m)
        assert m["macs"] == MACS[m["name"]]
        assert m["samples"] == 2 and m["bit_exact"] == 2, m
        assert m["board_flash_bytes"] == 512 * 1024 and m["board_ram_bytes"] == 128 * 1024
        assert 0 < m["flash_bytes"] <= m["board_flash_bytes"] and 0 < m["ram_bytes"] <= m["board_ram_bytes"]
        # an int8 MAC costs at least ~1 instruction (SMLAD does two) and, with these kernels, < 5
        assert 0.5 * m["macs"] < m["count_per_inference"] < 5 * m["macs"]
        assert m["count_min"] <= m["count_per_inference"] <= m["count_max"]
        assert 0 < m["stack_peak_bytes"] <= m["stack_reserved_bytes"]
        assert m["agreement_metric"] == ("anomaly_score_rank" if m["name"] == "ad_autoencoder" else "top1")
        # by default the official int8 files, equal to LiteRT's reference kernels byte for byte
        assert m["model_source"] == "official int8 .tflite" and m["litert_exact"] == 2, m


@pytest.mark.emulated
@pytest.mark.slow
@pytest.mark.skipif(not HAVE_EMU, reason="qemu-system-arm / arm-none-eabi-gcc not installed")
def test_estimated_cycles_beside_the_emulated_count(tmp_path_factory):
    _need_models()
    pytest.importorskip("unicorn", reason="the Cortex-M4 timing model needs unicorn (pip install -e .[cycles])")
    prj = S.compile_model("ad_autoencoder", tmp_path_factory.getbasetemp() / "mlperf_tiny" / "ad_autoencoder")
    m = S.run_model("ad_autoencoder", prj, samples=1, cycles=True)
    assert m["bit_exact"] == 1
    # the timing model runs the same instructions: cycles >= instructions, within ~2x
    assert m["count_per_inference"] <= m["estimated_cycles"] < 2 * m["count_per_inference"]


def test_suite_recipe_follows_the_kernels(tmp_path, monkeypatch):
    """A compiled suite project is reused only while the generator and the kernels are the ones that
    compiled it: a changed kernel file changes the recipe (it did not, and `bench --suite` measured
    the engine of an earlier kernel)."""
    from mcudeploy import paths

    shutil.copytree(paths.FIRMWARE_TEMPLATE / "kernels", tmp_path / "kernels")
    monkeypatch.setattr(paths, "FIRMWARE_TEMPLATE", tmp_path)
    before = S._recipe("ad_autoencoder", 64)
    assert before["generator"] == S.generator_digest()
    with open(tmp_path / "kernels" / "mcd_fc_s8.h", "a") as f:
        f.write("\n/* changed */\n")
    assert S._recipe("ad_autoencoder", 64)["generator"] != before["generator"]
