"""The compile path end to end on the host: generated C (strict C99, host gcc) equals the numpy
reference byte for byte on real held-out data, and int8 accuracy stays close to float."""

import json
import subprocess

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import compile_module, need_cc
from mcudeploy import datasets, hostrun
from mcudeploy import reference as R
from mcudeploy.cli import cli
from mcudeploy.paths import ROOT
from mcudeploy.pipeline import run_module
from mcudeploy.project import Project
from mcudeploy.train import cached_trained


def host_vs_reference(res, x, tmp_path):
    need_cc()
    g = res.graph
    exe = hostrun.build_host(res.outdir / "engine", tmp_path / "hb")
    xq = R.prepare_input(g, x)
    got = hostrun.run_host(exe, xq, g.tensors[g.output].size)
    want = R.run(g, xq)
    bad = np.flatnonzero((got != want).any(axis=1))
    if len(bad):
        i = bad[0]
        j = int(np.flatnonzero(got[i] != want[i])[0])
        pytest.fail(f"{len(bad)} of {len(x)} samples differ; first: sample {i} byte {j}: C {got[i, j]} "
                    f"reference {want[i, j]}")
    return want


def test_lenet_bit_exact_and_accurate(lenet_project, mnist, tmp_path):
    _xtr, _ytr, xte, yte = mnist
    assert len(xte) >= 1000
    yq = host_vs_reference(lenet_project, xte, tmp_path)
    prj = Project(lenet_project.outdir)
    acc_int8 = float((yq.argmax(1) == yte).mean())
    logits = run_module(prj.float_model(), torch.from_numpy(xte)).numpy()
    acc_float = float((logits.argmax(1) == yte).mean())
    assert acc_float > 0.95
    assert abs(acc_int8 - acc_float) <= 0.005, (acc_int8, acc_float)


def test_lenet_arena_and_yardsticks(lenet_project):
    r = lenet_project.report
    assert r["arena_bytes"] <= 3072
    assert r["arena_pingpong_bytes"] == 2 * 28 * 28 * 6 == 9408
    assert r["arena_bytes"] < r["arena_naive_bytes"]
    assert r["macs"] == 416_520
    assert {"macs", "params", "weight_bytes", "arena_bytes", "layers"} <= set(r)
    assert all({"name", "op", "macs", "weight_bytes"} <= set(layer) for layer in r["layers"])


def test_engine_stands_alone(lenet_project, tmp_path):
    need_cc()
    eng = lenet_project.outdir / "engine"
    srcs = sorted(str(p) for p in eng.glob("*.c"))
    subprocess.run(["cc", "-std=c99", "-pedantic", "-Werror", "-Wall", "-c", *srcs], cwd=tmp_path, check=True)
    header = (eng / "model.h").read_text()
    for macro in ("MCD_INPUT_BYTES", "MCD_OUTPUT_BYTES", "MCD_INPUT_SCALE", "MCD_INPUT_ZERO_POINT",
                  "MCD_OUTPUT_SCALE", "MCD_OUTPUT_ZERO_POINT", "MCD_ARENA_BYTES"):
        assert f"#define {macro}" in header
    assert "void mcd_model_run(const int8_t *input, int8_t *output);" in header
    assert not any("firmware" in p.name or "main" in p.name for p in eng.iterdir())


@pytest.mark.parametrize("name", ["resnet_small", "dwnet"])
def test_residual_concat_and_depthwise_bit_exact(name, tmp_path):
    model, _ = cached_trained(name)
    xtr, _ = datasets.load("fashion-mnist", "train", limit=300)
    xte, yte = datasets.load("fashion-mnist", "test", limit=1000)
    res = compile_module(model, xtr, tmp_path / name)
    kinds = {op.kind for op in res.graph.ops}
    adds = [op for op in res.graph.ops if op.kind == "add" or "add" in op.attrs]  # an add, or fused into its conv
    assert (adds and "concat" in kinds) if name == "resnet_small" else ("dwconv2d" in kinds)
    yq = host_vs_reference(res, xte, tmp_path)
    with torch.no_grad():
        acc_float = float((model(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean())
    acc_int8 = float((yq.argmax(1) == yte).mean())
    assert acc_float > 0.7
    assert abs(acc_int8 - acc_float) < 0.03, (acc_int8, acc_float)


def test_cli_compile_and_unsupported_op(tmp_path, lenet):
    _, weights = lenet
    runner = CliRunner()
    out = tmp_path / "p"
    r = runner.invoke(cli, ["compile", f"{ROOT}/examples/lenet5.py:lenet5", "--weights", str(weights),
                            "--calib", "mnist", "--calib-limit", "100", "-o", str(out), "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    assert "conv1" in r.output and "arena" in r.output
    assert json.loads((tmp_path / "r.json").read_text())["arena_bytes"] <= 3072
    bad = tmp_path / "bad.py"
    bad.write_text("import torch.nn as nn\n\ndef net():\n    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.LayerNorm(10))\n")
    from mcudeploy.cli import main  # noqa: F401  (the console script's error handling)
    r = subprocess.run(["mcudeploy", "compile", f"{bad}:net", "--calib", "mnist", "-o", str(tmp_path / "bad_out")],
                       check=False, capture_output=True, text=True)
    assert r.returncode != 0
    assert "layer_norm" in r.stderr and "module '2' (LayerNorm)" in r.stderr and "supported:" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "bad_out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bad_out")]


class Varied(torch.nn.Module):
    """'same' padding, asymmetric stride-2 padding, an average pool that excludes padding, a 1x1
    conv, and a view on x.shape[0] (shape arithmetic in the exported graph)."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.a = nn.Conv2d(3, 8, 3, padding="same")
        self.b = nn.Conv2d(8, 8, 4, stride=2, padding=(1, 2))
        self.p = nn.AvgPool2d(3, 2, padding=1, count_include_pad=False)
        self.c = nn.Conv2d(8, 4, 1)
        self.fc = nn.Linear(4 * 4 * 5, 7)

    def forward(self, x):
        import torch.nn.functional as F

        x = self.p(self.b(F.relu6(self.a(x))))
        return self.fc(F.relu(self.c(x)).view(x.shape[0], -1))


def test_varied_conv_shapes_bit_exact(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.random((300, 3, 16, 16)).astype(np.float32)
    res = compile_module(Varied().eval(), x[:200], tmp_path / "v")
    host_vs_reference(res, x[200:], tmp_path)


@pytest.mark.parametrize("scale, literal", [(1.0, "1.0f"), (256.0, "256.0f"), (0.00392156886, "0.00392156886f"),
                                            (1e-10, "1.00000001e-10f")])
def test_scales_print_as_c_float_literals(scale, literal):
    """A scale of exactly 1 (raw 0..255 pixels) once printed as ``1f``, which is not C."""
    from mcudeploy.codegen.emit import c_float

    assert c_float(scale) == literal
    assert np.float32(float(literal[:-1])) == np.float32(scale)
