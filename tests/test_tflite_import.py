"""Import of int8 .tflite files: the official MLPerf Tiny int8 models through mcudeploy's reference,
host-compiled engine and emulated board, each equal byte for byte to LiteRT's reference kernels
(BUILTIN_REF, the independent oracle). Inputs are the synthetic ones of zoo.mlperf_tiny (the
evaluation data sets are not offline); 200-input figures come from benchmarks/tflite_litert_exact.py."""

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import compile_module, need_cc
from mcd_cli import run_main
from mcudeploy import hostrun
from mcudeploy import reference as R
from mcudeploy.errors import UnsupportedOpError
from mcudeploy.tflite_import import import_tflite
from mcudeploy.tflite_pipeline import compile_tflite
from mcudeploy.zoo import mlperf_tiny as mt
from mcudeploy.zoo import tflite_reader
from torch import nn

litert = pytest.importorskip("ai_edge_litert", reason="pip install ai-edge-litert")
from mcudeploy.litert import run_reference_kernels

N = 20


def _file(name: str):
    path = mt.MODEL_DIR / mt.INT8_FILES[name]
    if not path.is_file():
        pytest.skip(f"{path} not found (set MCUDEPLOY_MLPERF_TINY)")
    return path


def _first_diff(got, want) -> str:
    bad = np.flatnonzero((got != want).any(axis=1))
    if not len(bad):
        return ""
    i = bad[0]
    j = int(np.flatnonzero(got[i] != want[i])[0])
    return f"{len(bad)} of {len(got)} samples differ; first: sample {i} byte {j}: got {got[i, j]} LiteRT {want[i, j]}"


@pytest.mark.parametrize("name", mt.MODELS)
def test_reference_equals_litert_reference_kernels(name):
    path = _file(name)
    g = import_tflite(path)
    xq = R.prepare_input(g, mt.sample_inputs(name, N, seed=11))
    msg = _first_diff(R.run(g, xq), run_reference_kernels(path, xq))
    assert not msg, msg


def test_the_oracle_tells_the_rules_apart():
    """LiteRT rounds FULLY_CONNECTED once: a graph doubling everywhere is off on most AD inputs."""
    path = _file("ad_autoencoder")
    g = import_tflite(path, rounding="double")
    xq = R.prepare_input(g, mt.sample_inputs("ad_autoencoder", N, seed=11))
    same = (R.run(g, xq) == run_reference_kernels(path, xq)).all(axis=1)
    assert same.sum() < N // 2


def test_graph_keeps_the_files_numbers():
    path = _file("kws_dscnn")
    g = import_tflite(path)
    m = tflite_reader.read_tflite(path)
    conv, dw = m.ops[0], m.ops[1]
    assert np.array_equal(g.ops[0].arrays["weight"], conv.inputs[1].data)
    assert np.array_equal(g.ops[0].arrays["bias"], conv.inputs[2].data)
    assert np.array_equal(g.ops[1].arrays["weight"], dw.inputs[1].data[0])
    tin = g.tensors[g.input]
    assert (tin.scale, tin.zero_point) == (float(m.inputs[0].scale[0]), int(m.inputs[0].zero_point[0]))
    assert g.meta["rounding"] == "double" and g.meta["final_softmax_dropped"]
    assert [op.attrs.get("rounding") for op in g.ops if op.kind == "fc"] == ["single"]


_COMPILED: dict = {}


def _compiled(name, tmp_path_factory):
    """Each model compiled once per session (no host check: the tests below do it against LiteRT)."""
    if name not in _COMPILED:
        path = _file(name)
        _COMPILED[name] = name, path, compile_tflite(path, tmp_path_factory.mktemp(name) / "prj", host_check=False)
    return _COMPILED[name]


@pytest.fixture(params=["kws_dscnn", "ad_autoencoder"])
def tflite_project(request, tmp_path_factory):
    return _compiled(request.param, tmp_path_factory)


def test_host_engine_equals_litert(tflite_project, tmp_path):
    need_cc()
    name, path, res = tflite_project
    g = res.graph
    exe = hostrun.build_host(res.outdir / "engine", tmp_path / "hb")
    xq = R.prepare_input(g, mt.sample_inputs(name, N, seed=12))
    want = run_reference_kernels(path, xq)
    msg = _first_diff(hostrun.run_host(exe, xq, g.tensors[g.output].size), want)
    assert not msg, msg
    cfg = (res.outdir / "engine" / "mcd_config.h").read_text()
    assert "#define MCD_ROUNDING_DOUBLE 1" in cfg and "#define MCD_ROUNDING_DOUBLE_FC 0" in cfg


@pytest.mark.emulated
@pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                    reason="qemu-system-arm / arm-none-eabi-gcc not installed")
def test_emulated_board_equals_litert(tmp_path_factory, tmp_path):
    """One model on the emulated board (the DS-CNN: every kernel kind but add) keeps the suite quick."""
    from mcudeploy.validate import validate

    name, path, res = _compiled("kws_dscnn", tmp_path_factory)
    x = mt.sample_inputs(name, 4, seed=13)
    np.savez(tmp_path / "x.npz", x=x)
    rep = validate(res.outdir, "nucleo-f446re", True, str(tmp_path / "x.npz"), results=tmp_path / "r.jsonl")
    assert rep["bit_exact"] == 4
    lines = [ln for ln in (tmp_path / "r.jsonl").read_text().splitlines()[1:] if ln.strip()]
    dev = np.stack([np.frombuffer(bytes.fromhex(json.loads(ln)["out"]), np.int8) for ln in lines])
    want = run_reference_kernels(path, R.prepare_input(res.graph, x))
    msg = _first_diff(dev, want)
    assert not msg, msg


def test_unsupported_operator_refused_by_name(monkeypatch, tmp_path):
    path = _file("kws_dscnn")
    real = tflite_reader.read_tflite(path)
    real.ops[3].kind = "MEAN"
    monkeypatch.setattr(tflite_reader, "read_tflite", lambda p: real)
    with pytest.raises(UnsupportedOpError, match=r"operator MEAN \(op 3\) is not supported; supported: CONV_2D"):
        import_tflite(path)


def test_cli_refuses_a_float_tflite_in_one_line(capsys, tmp_path):
    path = mt.MODEL_DIR / "kws_ref_model_float32.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    code, out = run_main(capsys, "compile", path, "-o", tmp_path / "p")
    assert code == 2
    assert "only int8 activations are supported" in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()


def test_cli_pytorch_model_still_needs_calib(capsys, tmp_path):
    code, out = run_main(capsys, "compile", "x.py:f", "-o", tmp_path / "p")
    assert code == 2 and "--calib DATA is required for a PyTorch model" in out


class _Tiny(nn.Module):
    """Every dense kernel variant once: conv rows (1 input channel), im2col conv, depthwise,
    pointwise, add, average pool, fully connected."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pw = nn.Conv2d(16, 16, 1)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        y = torch.relu(self.c2(torch.relu(self.c1(x))))
        y = torch.relu(y + self.pw(torch.relu(self.dw(y))))
        return self.fc(torch.flatten(nn.functional.avg_pool2d(y, 2), 1))


def test_pytorch_graph_with_double_rounding_host_equals_reference(tmp_path):
    """--rounding double on the PyTorch path: every C kernel follows the switch (host build)."""
    need_cc()
    torch.manual_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 1, 8, 8)).astype(np.float32)
    res = compile_module(_Tiny().eval(), x, tmp_path / "p")  # single: the host check passed inside
    from mcudeploy.codegen import emit_engine

    g = res.graph
    g.meta["rounding"] = "double"
    emit_engine(g, res.plan, tmp_path / "engine2", g.hash())
    exe = hostrun.build_host(tmp_path / "engine2", tmp_path / "hb")
    xq = R.prepare_input(g, x)
    got = hostrun.run_host(exe, xq, g.tensors[g.output].size)
    want = R.run(g, xq)
    assert np.array_equal(got, want)
    g.meta["rounding"] = "single"
    assert not np.array_equal(R.run(g, xq), want), "the two rules agree on every sample: the test shows nothing"


def test_cli_compiles_a_tflite_without_calib(capsys, tmp_path):
    path = _file("kws_dscnn")
    code, out = run_main(capsys, "compile", path, "-o", tmp_path / "p", "--no-host-check", "--rounding", "double",
                         "--json", tmp_path / "r.json")
    assert code == 0, out
    assert "model.tflite" in out and (tmp_path / "p" / "model.tflite").read_bytes() == path.read_bytes()
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["rounding"] == "double" and rep["macs"] == 2_656_768
    cfg = (tmp_path / "p" / "engine" / "mcd_config.h").read_text()
    assert "#define MCD_ROUNDING_DOUBLE 1" in cfg and "#define MCD_ROUNDING_DOUBLE_FC 1" in cfg
