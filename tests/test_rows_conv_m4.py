"""The rows conv kernel (mcd_conv2d_rows_s8.h: few input channels, no im2col) on the edge shapes of
its paths: the fused 2x2 pool's hand-scheduled two-channel window (mcd_rows_quad2: even channel
counts, an odd last channel through the C quad, 1 to 7 input channels, stride 2, padding, 1x1
pooled maps, the window unrolled or the kernel rows in a loop, strips of pooled columns), the unpooled pixel pair's hand-scheduled four-channel blocks
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
# 7 channels (a block of four and three; from 8 unpooled channels the few kernel runs: test_few_conv_m4);
# a 3x3 pool. From 16 channels with a 2x2 pool and up to 8 input channels (the
# GEMM's shapes before, now rows in strips within the GEMM's scratch): LeNet's conv2 (6 -> 16, 5x5:
# the kernel rows in an asm loop, strips of two pooled columns), 7 -> 17 (a last channel, the asm
# loop, strips of one pooled column, padding), 5 -> 16 with stride 2 (unrolled)
CONV = [(1, 12, 5, 1, 2, 6, 2), (1, 9, 5, 1, 0, 7, 2), (3, 11, 3, 2, 1, 5, 2), (2, 5, 3, 1, 0, 4, 2),
        (3, 9, 3, 2, 1, 6, 0), (3, 6, 3, 1, 1, 7, 0), (1, 10, 3, 1, 0, 5, 3),
        (6, 14, 5, 1, 0, 16, 2), (7, 11, 3, 1, 1, 17, 2), (5, 10, 3, 2, 1, 16, 2)]


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


def test_rows_strips_keep_the_gemm_scratch():
    """A layer the rule for few channels would give the 2x4 GEMM (16+ channels, 2x2 pool) runs the
    rows kernel in strips of pooled columns whose scratch is no more than the GEMM's; below 16
    channels the rows are the conv's whole width, as before."""
    from mcudeploy.codegen.kernels import k4, scratch_bytes, variant
    from mcudeploy.frontend import capture, simplify
    from mcudeploy.lower import lower
    from mcudeploy.ops.conv2d import rows_strip_w

    net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()).eval()
    x = np.random.default_rng(0).standard_normal((8, 1, 28, 28)).astype(np.float32)
    g = lower(simplify(capture(export_module(net, torch.from_numpy(x[:1])))), x)
    conv1, conv2 = [op for op in g.ops if op.kind == "conv2d"]
    assert variant(conv1) == variant(conv2) == "rows"
    assert rows_strip_w(g, conv1) == 28  # the whole width
    assert rows_strip_w(g, conv2) == 4  # two pooled columns of 5
    assert scratch_bytes(g, conv2) <= 2 * k4(5 * 5 * 6) * 2 + 16 * 4  # mcd_conv2d_s8_scratch_bytes
