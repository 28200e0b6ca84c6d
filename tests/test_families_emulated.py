"""The four model families of issue 12 (examples/families.py: MobileNetV3-style, TC-ResNet KWS,
tiny U-Net, grouped convs) compile and run bit-exact on the emulated NUCLEO-F446RE (QEMU, over
the UART). Untrained (seeded random weights, calibrated on the family's data): bit-exactness does
not need training; benchmarks/families.py trains them and reports accuracy."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mcudeploy.frontend import export_module
from mcudeploy.paths import ROOT
from mcudeploy.pipeline import build_project
from mcudeploy.validate import validate

pytestmark = [pytest.mark.emulated,
              pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                                 reason="qemu-system-arm / arm-none-eabi-gcc not installed")]
sys.path.insert(0, str(ROOT / "examples"))
from families import FAMILIES


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_bit_exact_on_emulated_board(name, tmp_path: Path):
    pytest.importorskip("sklearn", reason="the digits data set needs scikit-learn")
    cls, data, _task = FAMILIES[name]
    torch.manual_seed(0)
    xtr, _ytr, xte, _yte = data()
    model = cls().eval()
    res = build_project(export_module(model, torch.from_numpy(xtr[:1])), xtr[:128], tmp_path / name,
                        host_check=False)
    np.savez(tmp_path / "x.npz", x=xte[:6])
    rep = validate(res.outdir, "nucleo-f446re", True, str(tmp_path / "x.npz"), limit=6, results=tmp_path / "r.jsonl")
    assert rep["samples"] == rep["bit_exact"] == 6
    assert rep["flash_bytes"] < rep["board_flash_bytes"] and rep["ram_bytes"] < rep["board_ram_bytes"]
