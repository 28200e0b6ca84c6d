"""Frontend: capture + simplification compute what the module computes; bad models fail clearly."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mcudeploy.errors import ModelLoadError, UnsupportedOpError
from mcudeploy.frontend import capture, export_module, load_model, run_float, simplify
from torch import nn


class Mixed(nn.Module):
    """Functional calls, BN after conv, a standalone BN, relu after pool, add, cat, ReLU6, avgpool."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 2 * 2, 5)
        self.drop = nn.Dropout(0.3)
        for bn in (self.bn1, self.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)

    def forward(self, x):
        x = F.relu(self.bn1(self.c1(x)))
        y = F.relu6(self.dw(x))
        z = torch.cat([x + y, y], dim=1)
        z = self.bn2(z)
        z = F.relu(F.max_pool2d(z, 2))
        z = F.avg_pool2d(z, 2)
        return self.fc(self.drop(torch.flatten(z, 1)))


def test_capture_and_simplify_preserve_semantics():
    torch.manual_seed(0)
    m = Mixed().eval()
    x = torch.randn(6, 1, 8, 8)
    fg = capture(export_module(m, x))
    assert torch.allclose(run_float(fg, x), m(x), atol=1e-5)
    fg = simplify(fg)
    ops = [n.op for n in fg.nodes]
    assert "bn" not in ops and "identity" not in ops
    conv1 = fg.node("c1")
    assert conv1.attrs["act"] == [0.0, None]  # BN folded, ReLU fused
    assert fg.node("dw").attrs["act"] == [0.0, 6.0]
    assert torch.allclose(run_float(fg, x), m(x), atol=1e-4)


def test_maxpool_is_fused_into_conv():
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2)).eval()
    x = torch.randn(3, 1, 10, 10)
    fg = simplify(capture(export_module(m, x)))
    assert [n.op for n in fg.nodes] == ["conv"]
    assert fg.nodes[0].attrs["pool"] == {"k": [2, 2], "s": [2, 2]}
    assert torch.allclose(run_float(fg, x), m(x), atol=1e-5)


class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.act = nn.LayerNorm(3)

    def forward(self, x):
        return self.act(self.conv(x))


def test_unsupported_op_names_op_module_line_and_supported_set():
    with pytest.raises(UnsupportedOpError) as e:
        capture(export_module(Unsupported().eval(), torch.randn(1, 1, 5, 5)))
    msg = str(e.value)
    assert "layer_norm" in msg
    assert "module 'act' (LayerNorm)" in msg
    assert "test_frontend.py" in msg  # the source line of the call
    assert "supported:" in msg and "Conv2d" in msg


def test_reflect_padding_is_rejected_with_reason():
    m = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, padding_mode="reflect")).eval()
    with pytest.raises(UnsupportedOpError, match="reflection_pad2d|reflect"):
        capture(export_module(m, torch.randn(1, 4, 6, 6)))


def test_load_model_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(str(tmp_path / "nope.py") + ":f")
    f = tmp_path / "m.py"
    f.write_text("import torch.nn as nn\ndef f():\n    return nn.Linear(4, 2)\n")
    with pytest.raises(ModelLoadError, match="has no 'g'"):
        load_model(f"{f}:g")
    bad = tmp_path / "w.pt"
    torch.save({"weight": torch.zeros(3, 3)}, bad)
    with pytest.raises(ModelLoadError, match="do not match"):
        load_model(f"{f}:f", str(bad), example=torch.zeros(1, 4))
    good = tmp_path / "good.pt"
    torch.save(nn.Linear(4, 2).state_dict(), good)
    ep = load_model(f"{f}:f", str(good), example=torch.zeros(1, 4))
    assert np.allclose(ep.module()(torch.ones(1, 4)).detach().numpy().shape, (1, 2))


def _compile_cli(args: list[str], cwd, capfd, subprocess_: bool = False) -> tuple[int, list[str]]:
    """``mcudeploy compile ARGS``: (exit code, stderr lines). In-process by default; torch's log
    handlers keep the stderr of their first import, so only a subprocess sees all they print."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    if subprocess_:
        tool = Path(__file__).resolve().parents[1] / "tool"
        env = dict(os.environ, PYTHONPATH=f"{tool}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
        r = subprocess.run([sys.executable, "-c", "from mcudeploy.cli import main; main()", "compile", *args],
                           cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
        return r.returncode, r.stderr.strip().splitlines()
    from mcudeploy.cli import main

    old_argv, old_cwd = sys.argv, os.getcwd()
    sys.argv, code = ["mcudeploy", "compile", *args], 0
    os.chdir(cwd)
    capfd.readouterr()
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
    return code, capfd.readouterr().err.strip().splitlines()


@pytest.fixture
def calib_28(tmp_path):
    np.savez(tmp_path / "x28.npz", x=np.random.default_rng(0).random((8, 1, 28, 28), dtype=np.float32))
    return "x28.npz"


def test_input_shape_mismatch_is_one_line(tmp_path, capfd, calib_28):
    """A model for 8x8 digits given 28x28 samples: torch.export used to log 38 lines (two attempts
    of a failed meta kernel's traceback) before the error; now one line names layer and shapes."""
    (tmp_path / "mlp.py").write_text("from torch import nn\n\ndef mlp():\n"
                                     "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))\n")
    code, err = _compile_cli(["mlp.py:mlp", "--calib", calib_28, "-o", "out"], tmp_path, capfd, subprocess_=True)
    assert code == 2 and len(err) == 1, err
    assert "samples of shape 1x28x28 in layer '1' (Linear taking 64 features, given 784)" in err[0]
    assert not (tmp_path / "out").exists()

    ep = export_module(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), torch.zeros(1, 1, 8, 8))
    torch.export.save(ep, tmp_path / "mlp.pt2")
    code, err = _compile_cli(["mlp.pt2", "--calib", calib_28, "-o", "out"], tmp_path, capfd)
    assert code == 2 and len(err) == 1, err
    assert "takes samples of shape 1x8x8 but the data's samples are 1x28x28" in err[0]


def test_failed_export_prints_one_line(tmp_path, capfd):
    """Data-dependent control flow: torch.export prints the partial graph to stderr (53 lines)."""
    (tmp_path / "dd.py").write_text(
        "from torch import nn\n\nclass DD(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.Linear(64, 10)\n\n    def forward(self, x):\n        x = x.flatten(1)\n"
        "        return self.fc(x) if x.sum() > 0 else -self.fc(x)\n")
    np.savez(tmp_path / "x8.npz", x=np.ones((4, 1, 8, 8), dtype=np.float32))
    code, err = _compile_cli(["dd.py:DD", "--calib", "x8.npz", "-o", "out"], tmp_path, capfd)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("error: torch.export could not capture the model: GuardOnDataDependentSymNode")
