"""The kernels as compiled for the Cortex-M4 (DSP extension: SMLAD, SXTB16) on randomised shapes,
run instruction by instruction in the emulated core (Unicorn) and compared with the numpy
reference byte for byte. The host tests cover the same C with the portable SIMD helpers."""

import shutil

import numpy as np
import pytest
import torch
import torch.nn as nn

from mcudeploy.bench import bench_project
from mcudeploy.project import Project
from conftest import compile_module

pytestmark = pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed")


def random_net(rng: np.random.Generator) -> tuple[nn.Module, tuple[int, int, int]]:
    c = int(rng.integers(1, 9))
    hw = int(rng.integers(6, 15))
    k = int(rng.choice([1, 3, 5]))
    s = int(rng.choice([1, 2]))
    p = int(rng.integers(0, k // 2 + 1))
    o = int(rng.integers(1, 12))
    layers = [nn.Conv2d(c, o, k, s, p), nn.ReLU()]
    out = (hw + 2 * p - k) // s + 1
    if out >= 4 and rng.random() < 0.5:
        layers.append(nn.MaxPool2d(2))
        out //= 2
    layers += [nn.Conv2d(o, o, 3, 1, 1, groups=o), nn.ReLU6(), nn.Flatten(),
               nn.Linear(o * out * out, int(rng.integers(1, 20)))]
    return nn.Sequential(*layers).eval(), (c, hw, hw)


@pytest.mark.parametrize("seed", range(6))
def test_random_shapes_bit_exact_on_cortex_m4(seed, tmp_path):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    net, shape = random_net(rng)
    x = rng.standard_normal((64,) + shape).astype(np.float32)
    res = compile_module(net, x, tmp_path / "p")
    r = bench_project(Project(res.outdir), x[:1])  # raises if the M4 output differs from the reference
    assert r["bit_exact"] and r["estimated_cycles"] > 0
