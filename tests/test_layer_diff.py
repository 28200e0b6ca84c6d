"""``validate --layers``: a kernel bug planted at compile time (-DMCD_PLANT_BUG_AVGPOOL, one output
value of avgpool_s8.c one too high) must be named as the avgpool layer, with its position and
values, both from the host build of the engine and from the firmware over the framed link on the
emulated board. The model is a tiny untrained CNN on the 8x8 digits (no training: seconds)."""

import shutil
import zlib

import numpy as np
import pytest
import torch
from conftest import compile_module, need_cc, need_toolchain
from mcudeploy import datasets, hostrun, layerdiff
from mcudeploy import reference as R
from torch import nn

BOARD = "nucleo-f446re"


def tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 10)).eval()


@pytest.fixture(scope="module")
def cnn_project(tmp_path_factory):
    x, _y = datasets.load_spec("digits", split="train")
    x = x.reshape(-1, 1, 8, 8)
    return compile_module(tiny_cnn(), x[:64], tmp_path_factory.mktemp("cnn") / "cnn"), x


def _avgpool_index(g) -> int:
    return [op.kind for op in layerdiff.engine_layers(g)].index("avgpool")


def _check_named(rep, g):
    d = rep["first_differing_layer"]
    assert d is not None, rep
    assert d["kind"] == "avgpool" and d["index"] == _avgpool_index(g) == rep["matching_layers"]
    assert d["differing"] == 1 and d["max_abs_diff"] == 1
    pos = d["positions"][0]
    assert pos["at"] == [0, 1, d["shape"][2] - 1]  # pixel (0, 1), last channel: where it was planted
    assert pos["device"] == pos["reference"] + 1
    assert "first differing layer" in layerdiff.summary(rep) and d["name"] in layerdiff.summary(rep)


def test_host_build_names_the_planted_layer(cnn_project, tmp_path):
    need_cc()
    res, x = cnn_project
    g = res.graph
    xq = R.prepare_input(g, x[:1])
    sizes = [g.tensors[op.output].size for op in layerdiff.engine_layers(g)]
    clean = hostrun.build_host(res.outdir / "engine", tmp_path / "clean", extra_flags=["-DMCD_LAYER_HOOK"])
    ok = layerdiff.diff_layers(g, xq[0], outputs=hostrun.run_host_layers(clean, xq[0], 10, sizes), sample=0)
    assert ok["first_differing_layer"] is None and ok["matching_layers"] == len(sizes)
    bug = hostrun.build_host(res.outdir / "engine", tmp_path / "bug",
                             extra_flags=["-DMCD_LAYER_HOOK", "-DMCD_PLANT_BUG_AVGPOOL"])
    rep = layerdiff.diff_layers(g, xq[0], outputs=hostrun.run_host_layers(bug, xq[0], 10, sizes), sample=0)
    _check_named(rep, g)


@pytest.mark.emulated
def test_firmware_over_the_link_names_the_planted_layer(cnn_project):
    need_toolchain()
    if not shutil.which("qemu-system-arm"):
        pytest.skip("qemu-system-arm absent (apt-get install qemu-system-arm)")
    from mcudeploy.build import build
    from mcudeploy.device import open_device

    res, x = cnn_project
    g = res.graph
    build(res.outdir, BOARD, emulate=True, options={"MCD_TEST_DEFINES": "MCD_PLANT_BUG_AVGPOOL"})
    xq = R.prepare_input(g, x[:1])
    with open_device(res.outdir, BOARD, emulate=True) as dev:
        dev.infer(xq[0].tobytes())  # sends the input; the layer requests rerun it
        crcs = dev.layer_crcs(zlib.crc32(xq[0].tobytes()))
        rep = layerdiff.diff_layers(g, xq[0], crcs=crcs, read=dev.layer_output, sample=0)
    _check_named(rep, g)
    assert np.all(np.asarray(crcs[:rep["matching_layers"]]) ==
                  [zlib.crc32(a.tobytes()) for a in layerdiff.reference_layers(g, xq[0])][:rep["matching_layers"]])


@pytest.mark.emulated
def test_validate_names_the_layer_on_the_first_mismatch(cnn_project, tmp_path, capsys):
    """The CLI as a user runs it: samples differ, so the layer diff runs by itself and is printed."""
    need_toolchain()
    if not shutil.which("qemu-system-arm"):
        pytest.skip("qemu-system-arm absent (apt-get install qemu-system-arm)")
    from mcd_cli import run_cli
    from mcudeploy.build import build

    res, _x = cnn_project
    build(res.outdir, BOARD, emulate=True, options={"MCD_TEST_DEFINES": "MCD_PLANT_BUG_AVGPOOL"})
    js = tmp_path / "v.json"
    code, out, err = run_cli(capsys, ["validate", res.outdir, "--emulate", "--data", "digits", "--limit", "8",
                                      "--results", tmp_path / "r.jsonl", "--json", js])
    assert code == 1, out + err
    import json

    rep = json.loads(js.read_text())
    _check_named(rep["layer_diff"], res.graph)
    name = rep["layer_diff"]["first_differing_layer"]["name"]
    assert f"first differing layer {_avgpool_index(res.graph)} '{name}' (avgpool" in out
    assert "differing layer" in err and name in err


def test_firmware_without_the_layer_requests_is_named_not_a_crash(cnn_project):
    """A board flashed by an older mcudeploy answers LAYER_CRC with 'unknown command': the report
    says so (and which sample), the run is not turned into an interruption."""
    from mcudeploy.link.protocol import ERR_COMMAND, LAYER_CRC, DeviceError
    from mcudeploy.validate import _layer_diff

    class OldFirmware:
        def infer(self, data):
            return None

        def layer_crcs(self, crc):
            raise DeviceError(ERR_COMMAND, LAYER_CRC, 0, LAYER_CRC)

    res, x = cnn_project
    g = res.graph
    xq = R.prepare_input(g, x[:2])
    ref = R.run(g, xq)
    same = {0: {"out": ref[0].tobytes().hex()}, 1: {"out": ref[1].tobytes().hex()}}
    assert _layer_diff(OldFirmware(), g, xq, ref, same, always=False) is None  # all equal, not asked
    differ = {**same, 1: {"out": bytes(len(ref[1])).hex()}}
    rep = _layer_diff(OldFirmware(), g, xq, ref, differ, always=False)
    assert rep["sample"] == 1 and "predates" in rep["unavailable"]
    assert "not compared" in layerdiff.summary(rep)
