"""The few-input-channel conv (mcd_conv2d_few_s8.h: C_in <= 4, 8+ output channels, no pool; the first
convs of IC, KWS and VWW) on the edge shapes of its paths: C_in 1 to 4; stride_w * C_in odd (a second copy of
the rows one halfword along, widened into either copy by the parity of the left padding) and
even (one copy); odd widths (a last pixel alone), a 1x1 map, stride 2 in both directions, a 5-row
window (a ring of five slots); channel counts with a last partial block of four (17, 18, 19);
with and without ReLU (the double rule's cheaper form needs the clamp at or above the output
zero point). Each net is checked on the host (portable C, by the build) and on the Cortex-M4
build (DSP asm, Unicorn, by bench_project) against the numpy reference, under both rounding
rules; and the selection rule on its bounds."""

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

# (c_in, h, w, k, stride, pad, c_out, relu): IC's first conv shape on an odd width (odd stride_w *
# C_in, odd left padding: widened into copy 2); one channel with no padding (odd, widened into copy
# 1), 17 channels; two channels, stride 2, 18 channels (even: one copy); four channels, a 3x2
# kernel, 19 channels, no ReLU; VWW's first conv shape (3 channels, stride 2: even, 8 channels) on
# an odd width; a 1x1 map; one channel, a 5x3 kernel with padding 2 x 1 (five slots), stride 2 x 1;
# a 4x3 kernel on 3 channels (two tail words, no zero half). Tail words (odd k_w * C_in, k_h + 1 <=
# 2 stride_w * C_in): the 3-channel shapes; the odd 1-channel ones pad each kernel row instead.
CONV = [(3, 6, 9, 3, 1, 1, 16, True), (1, 7, 10, 3, 1, 0, 17, True), (2, 6, 7, 3, 2, 1, 18, True),
        (4, 5, 6, (3, 2), 1, (1, 0), 19, False), (3, 9, 9, 3, 2, 1, 8, True), (3, 1, 1, 3, 1, 1, 16, False),
        (1, 11, 6, (5, 3), (2, 1), (2, 1), 16, True), (3, 7, 8, (4, 3), 1, (2, 1), 16, True)]


def _net(c_in, k, stride, pad, c_out, relu):
    layers = [nn.Conv2d(c_in, c_out, k, stride, pad)] + ([nn.ReLU()] if relu else [])
    return nn.Sequential(*layers, nn.Flatten()).eval()


@pytest.mark.parametrize("rounding", ["single", "double"])
@pytest.mark.parametrize("case", CONV, ids=[f"c{c[0]}h{c[1]}w{c[2]}s{c[4]}o{c[6]}{'r' if c[7] else ''}" for c in CONV])
def test_few_conv_edges_bit_exact(case, rounding, tmp_path):
    c_in, h, w, k, stride, pad, c_out, relu = case
    torch.manual_seed(c_in * 31 + c_out + h)
    x = np.random.default_rng(h * w).standard_normal((32, c_in, h, w)).astype(np.float32)
    res = build_project(export_module(_net(c_in, k, stride, pad, c_out, relu), torch.from_numpy(x[:1])), x,
                        tmp_path / rounding, weights_format="dense", rounding=rounding)
    assert "mcd_conv2d_few_s8(" in (res.outdir / "engine" / "model.c").read_text()  # the kernel under test ran
    # the host engine matched the reference on all 32 samples in build_project; the M4 on two
    # (bench_project raises when its output differs from the reference)
    for i in range(2):
        assert bench_project(Project(res.outdir), x[i + 1:i + 2], workdir=tmp_path / f"b{i}")["bit_exact"]


def test_few_conv_selection():
    """'few' from 8 output channels on <= 4 input channels without a pool and with a kernel larger
    than 1x1 (below 8 the rows kernel, as before; a pool and 1x1 keep their kernels); the GEMM where the unrolled window would not fit
    (a 7x7 kernel on 3 channels: 7 x 11 tap pairs > 32). The double rule's cheaper form only where
    the clamp starts at or above the output zero point."""
    from mcudeploy.codegen.kernels import few_dbl, variant
    from mcudeploy.frontend import capture, simplify
    from mcudeploy.lower import lower

    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((8, 3, 12, 12)).astype(np.float32)

    def convs(net):
        g = lower(simplify(capture(export_module(net.eval(), torch.from_numpy(x[:1])))), x)
        return g, [op for op in g.ops if op.kind == "conv2d"]

    _, ops = convs(nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.ReLU(), nn.Conv2d(16, 16, 3, 1, 1),
                                 nn.Flatten()))
    assert [variant(op) for op in ops] == ["few", "default"]
    _, ops = convs(nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 4, 1), nn.ReLU(),
                                 nn.Conv2d(4, 16, 1), nn.Flatten()))
    assert [variant(op) for op in ops] == ["few", "pointwise", "pointwise"]  # VWW's first conv shape; 1x1 on 4
    _, ops = convs(nn.Sequential(nn.Conv2d(3, 7, 3, 1, 1), nn.ReLU(), nn.Flatten()))
    assert [variant(op) for op in ops] == ["rows"]
    _, ops = convs(nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()))
    assert [variant(op) for op in ops] == ["rows"]
    _, ops = convs(nn.Sequential(nn.Conv2d(3, 16, 7, 1, 3), nn.ReLU(), nn.Flatten()))
    assert [variant(op) for op in ops] == ["default"]
    g, ops = convs(nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.ReLU(), nn.Flatten()))
    assert not few_dbl(g, ops[0])  # the single rule
    g.meta["rounding"] = "double"
    assert variant(ops[0]) == "few" and few_dbl(g, ops[0])  # ReLU: the clamp starts at the zero point
    g, ops = convs(nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.Flatten()))
    g.meta["rounding"] = "double"
    assert g.tensors[ops[0].output].zero_point > -128 and not few_dbl(g, ops[0])  # no clamp above the zero point


@pytest.mark.parametrize("case", [CONV[0], CONV[1], CONV[6]], ids=["c3odd-in2", "c1odd-in1", "k5-ring5"])
def test_few_conv_clean_under_asan_and_ubsan(case, tmp_path):
    """The ring, its twins, both copies and the staged pack stay inside their buffers: the host
    engine (portable C) built with AddressSanitizer and UBSan runs clean and equals the reference,
    with a second conv after the few one reading what it wrote."""
    from conftest import need_cc
    from mcudeploy import hostrun
    from mcudeploy import reference as R

    need_cc()
    c_in, h, w, k, stride, pad, c_out, _relu = case
    torch.manual_seed(7)
    net = nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, pad), nn.ReLU(), nn.Conv2d(c_out, 8, 3, 1, 1),
                        nn.Flatten()).eval()
    x = np.random.default_rng(7).standard_normal((16, c_in, h, w)).astype(np.float32)
    res = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / "p", host_check=False)
    assert "mcd_conv2d_few_s8(" in (res.outdir / "engine" / "model.c").read_text()
    flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]
    exe = hostrun.build_host(res.outdir / "engine", tmp_path / "asan", extra_flags=flags)
    xq = R.prepare_input(res.graph, x[:4])
    assert (hostrun.run_host(exe, xq, res.graph.tensors[res.graph.output].size) == R.run(res.graph, xq)).all()
