"""The rows conv kernel (mcd_conv2d_rows_s8.h: few input channels, no im2col) on the edge shapes of
its paths: the fused 2x2 pool's hand-scheduled two-channel window (mcd_rows_quad2: even channel
counts, an odd last channel through the C quad, one channel alone, 1 and 3 input channels, stride
2, padding, 1x1 pooled maps), the unpooled pixel pair's hand-scheduled four-channel blocks
(mcd_rows_pair4, then the C pair for the channels left) and the generic pool (3x3), all requantized
through the layer's records (mcd_rq_channel). Each net is checked on the host (portable C, by the
build) and on the Cortex-M4 build (DSP asm, Unicorn, by bench_project) against the numpy
reference, under both rounding rules."""

import shutil

import numpy as np
import pytest
import torch
from mcudeploy.bench import bench_project
from mcudeploy.frontend import export_module
from mcudeploy.pipeline import build_project
from mcudeploy.project import Project
from torch import nn

pytestmark = pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed")

# (c_in, hw, k, stride, pad, c_out, pool): LeNet's conv1 shape (1 channel, 5x5, pad 2) with 6 and 7
# channels (pairs; pairs and a last one), 1 channel out, 3 channels in with stride 2 (odd tap row:
# R2 = 10), a pooled map of 1x1; no pool (mcd_rows_pair4): VWW's first conv shape (3 channels,
# stride 2) with 6 channels (a block of four and a pair) on an odd width (a last pixel alone), and
# two blocks of four; a 3x3 pool
CONV = [(1, 12, 5, 1, 2, 6, 2), (1, 9, 5, 1, 0, 7, 2), (1, 8, 3, 1, 1, 1, 2), (3, 11, 3, 2, 1, 5, 2),
        (2, 5, 3, 1, 0, 4, 2), (3, 9, 3, 2, 1, 6, 0), (3, 6, 3, 1, 1, 8, 0), (1, 10, 3, 1, 0, 5, 3)]


def _net(c_in, k, stride, pad, c_out, pool):
    layers = [nn.Conv2d(c_in, c_out, k, stride, pad), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool2d(pool))
    return nn.Sequential(*layers, nn.Flatten()).eval()


@pytest.mark.parametrize("rounding", ["single", "double"])
@pytest.mark.parametrize("case", CONV, ids=[f"c{c[0]}hw{c[1]}k{c[2]}s{c[3]}o{c[5]}p{c[6]}" for c in CONV])
def test_rows_conv_edges_bit_exact(case, rounding, tmp_path):
    c_in, hw, k, stride, pad, c_out, pool = case
    torch.manual_seed(c_in * 31 + c_out + hw)
    rng = np.random.default_rng(hw)
    x = rng.standard_normal((32, c_in, hw, hw)).astype(np.float32)
    res = build_project(export_module(_net(c_in, k, stride, pad, c_out, pool), torch.from_numpy(x[:1])), x,
                        tmp_path / rounding, weights_format="dense", rounding=rounding)
    assert "mcd_conv2d_rows_s8(" in (res.outdir / "engine" / "model.c").read_text()  # the kernel under test ran
    # the host engine matched the reference on all 32 samples in build_project; the M4 on one
    # (bench_project raises when its output differs from the reference)
    assert bench_project(Project(res.outdir), x[1:2], workdir=tmp_path / "b")["bit_exact"]
