"""A residual add fused into the dense conv before it (codegen/fuse.py, mcd_conv2d_s8_add in
conv2d_add_s8.c): the rewrite computes what the conv + add pair computed (numpy reference, both
rounding rules), the engine equals the reference on the host (portable C), the planner drops the
conv's output buffer, and the fusion is refused where it would be wrong. The M4 build (DSP asm)
of a fused add runs in tests/test_dense_gemm_m4.py (test_residual_add_bit_exact) and on IC in
the MLPerf suite tests."""

import copy
import re

import numpy as np
import pytest
import torch
from mcudeploy import reference as R
from mcudeploy.codegen.fuse import fuse_conv_add
from mcudeploy.codegen.kernels import choose_format, scratch_for
from mcudeploy.frontend import capture, export_module, simplify
from mcudeploy.hostrun import have_cc
from mcudeploy.lower import lower
from mcudeploy.pipeline import build_project
from mcudeploy.plan import check, plan
from torch import nn


class _Block(nn.Module):
    """A ResNet basic block: conv-ReLU-conv, + the input (identity) or a strided 1x1 conv of it
    (downsample: captured after the second conv, so fusion moves it before)."""

    def __init__(self, c_in: int, c_out: int, stride: int, relu_out: bool = True):
        super().__init__()
        self.c1 = nn.Conv2d(c_in, c_out, 3, stride, 1)
        self.c2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.sc = nn.Conv2d(c_in, c_out, 1, stride) if (stride, c_in) != (1, c_out) else None
        self.relu_out = relu_out

    def forward(self, x):
        y = self.c2(torch.relu(self.c1(x)))
        y = y + (self.sc(x) if self.sc is not None else x)
        return torch.relu(y) if self.relu_out else y


class _TinyResNet(nn.Module):
    """3 -> 7 stem; an identity block on 9x9 (81 pixels: a lone last pixel; 7 channels: a last row
    pair with a zero partner); a downsampling block 7 -> 10 on 5x5 (a last row pair); fc."""

    def __init__(self, relu_out: bool = True):
        super().__init__()
        self.stem = nn.Conv2d(3, 7, 3, 1, 1)
        self.b1 = _Block(7, 7, 1, relu_out)
        self.b2 = _Block(7, 10, 2, relu_out)
        self.fc = nn.Linear(10 * 5 * 5, 4)

    def forward(self, x):
        return self.fc(torch.flatten(self.b2(self.b1(torch.relu(self.stem(x)))), 1))


def _graph(net, x, rounding):
    g = lower(simplify(capture(export_module(net, torch.from_numpy(x[:1])))), x)
    if rounding != "single":
        g.meta["rounding"] = rounding
    for op in g.ops:
        if op.kind in ("conv2d", "fc"):
            op.attrs["format"] = choose_format(g, op, "auto")
    return g


def _data(seed):
    torch.manual_seed(seed)
    return np.random.default_rng(seed).standard_normal((48, 3, 9, 9)).astype(np.float32)


@pytest.mark.parametrize("rounding", ["single", "double"])
@pytest.mark.parametrize("relu_out", [True, False])
def test_fused_graph_computes_the_pair(rounding, relu_out):
    """Both adds fuse (one with the skip's 1x1 conv moved before the block's second conv); the
    reference of the fused graph equals the unfused one's on every tensor that survives."""
    x = _data(1)
    net = _TinyResNet(relu_out).eval()
    g0 = _graph(net, x, rounding)
    g1 = copy.deepcopy(g0)
    fused = fuse_conv_add(g1)
    assert len(fused) == 2 and not any(op.kind == "add" for op in g1.ops)
    assert all(len(op.inputs) == 2 and "add" in op.attrs for op in g1.ops if op.name in fused)
    xq = R.prepare_input(g0, x)
    v0, v1 = R.run(g0, xq, keep=True), R.run(g1, xq, keep=True)
    for op in g1.ops:
        np.testing.assert_array_equal(v1[op.output], v0[op.output], err_msg=op.name)
    # the downsample block's skip (a 1x1 conv captured after the second conv) now runs before it
    names = [op.name for op in g1.ops]
    skip = g1.producer(g1.ops[names.index(fused[1])].inputs[1])
    assert names.index(skip.name) < names.index(fused[1])


@pytest.mark.parametrize("rounding", ["single", "double"])
def test_fusion_drops_the_conv_output_buffer(rounding):
    """Without staging, the fused plan is the unfused plan less at least the identity block's
    conv output (7 x 9 x 9 bytes, at the peak), and passes the planner's independent check; the
    fused conv writes over its skip (one buffer)."""
    x = _data(2)
    g0 = _graph(_TinyResNet().eval(), x, rounding)
    g1 = copy.deepcopy(g0)
    fused = fuse_conv_add(g1)
    p0, p1 = plan(g0, scratch=scratch_for(g0)), plan(g1, scratch=scratch_for(g1))
    check(g1, p1)
    assert p1.arena_bytes <= p0.arena_bytes - 7 * 9 * 9
    op = next(o for o in g1.ops if o.name == fused[0])
    assert p1.groups[op.output] == p1.groups[op.inputs[1]]


def test_fusion_refused_where_the_conv_output_is_shared():
    """A conv output read by another op too must be stored: no fusion, the graph unchanged."""

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.c0, self.c1 = nn.Conv2d(3, 8, 3, 1, 1), nn.Conv2d(8, 8, 3, 1, 1)

        def forward(self, x):
            a = torch.relu(self.c0(x))
            y = self.c1(a)
            return torch.flatten((y + a) + y, 1)

    x = _data(3)
    g = _graph(Shared().eval(), x, "single")
    kinds = [op.kind for op in g.ops]
    assert fuse_conv_add(g) == [] and [op.kind for op in g.ops] == kinds


@pytest.mark.skipif(not have_cc(), reason="no host C compiler")
@pytest.mark.parametrize("rounding", ["single", "double"])
@pytest.mark.parametrize("relu_out", [True, False])
def test_fused_engine_bit_exact_on_the_host(rounding, relu_out, tmp_path):
    """The compiled engine (mcd_conv2d_s8_add, portable C) equals the reference on every
    calibration sample, with the add's output step in each mode the generator picks here (double
    rule: one SMMLAR where ReLU follows, two steps where it does not; single rounding)."""
    x = _data(4)
    net = _TinyResNet(relu_out).eval()
    res = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / "p", rounding=rounding)
    assert res.report["host_check"]["bit_exact"] == res.report["host_check"]["samples"] > 0
    model_c = (res.outdir / "engine" / "model.c").read_text()
    assert model_c.count("mcd_conv2d_s8_add(") == 2 and "mcd_add_s8" not in model_c
    modes = set(re.findall(r"&ap, (\d), mcd_", model_c))  # ops/conv2d.py: fused_add_mode
    assert modes == {"6"} if rounding == "single" else ("1" in modes if relu_out else modes <= {"1", "2"})


def test_fused_tables_and_records_staged_where_the_arena_allows():
    """stage_fused_tables copies the add's tables and the records (level 2) where the arena stays
    within the limit given, the tables alone (1) where only they fit, nothing where neither does."""
    from mcudeploy.codegen.fuse import stage_fused_tables

    x = _data(5)
    g = _graph(_TinyResNet().eval(), x, "double")
    fuse_conv_add(g)
    base = plan(g, scratch=scratch_for(g)).arena_bytes
    assert stage_fused_tables(g, base) == [] and not any("add_stage" in op.attrs for op in g.ops)
    staged = stage_fused_tables(g, base + 10**6)
    assert len(staged) == 2 and all(op.attrs["add_stage"] == 2 for op in g.ops if op.name in staged)
    assert plan(g, scratch=scratch_for(g)).arena_bytes > base
    first = next(op for op in g.ops if op.name == staged[0])  # the larger output (7 channels: 112 B of records)
    assert staged[0] in stage_fused_tables(g, base + 2048 + 16 * 7 - 1) and first.attrs["add_stage"] == 1
