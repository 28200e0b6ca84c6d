"""Depthwise (mcd_dwconv2d_s8.h) and pointwise (mcd_pwconv2d_s8.h) kernels: bit-exact with the numpy
reference on the host (portable C) and on the Cortex-M4 (DSP path, Unicorn), over channels not a
multiple of 4 or 2, stride 1 and 2, padded borders (symmetric and not), and fused ReLU / ReLU6."""

import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import compile_module, need_cc
from mcudeploy import hostrun
from mcudeploy import reference as R
from mcudeploy.bench import bench_project
from mcudeploy.codegen.kernels import rq_records, variant
from mcudeploy.project import Project
from torch import nn

CASES = [  # (c_in, c_mid, c_out, hw, dw stride, dw padding, activation)
    (3, 5, 7, 9, 1, 1, nn.ReLU),
    (4, 6, 3, 10, 2, 1, nn.ReLU6),
    (2, 8, 9, 11, 2, 0, nn.ReLU),
    (5, 13, 16, 7, 1, 2, nn.ReLU6),
    (3, 1, 5, 6, 1, 1, nn.Identity),
    (6, 64, 10, 5, 1, 1, nn.ReLU),
]


def dw_pw_net(c_in, c_mid, c_out, hw, s, pad, act):
    return nn.Sequential(nn.Conv2d(c_in, c_mid, 3, 1, 1), nn.ReLU(),
                         nn.Conv2d(c_mid, c_mid, 3, s, pad, groups=c_mid), act(),
                         nn.Conv2d(c_mid, c_out, 1), act(),
                         nn.Conv2d(c_out, c_out, 3, 2, (0, 1), groups=c_out), act(),  # asymmetric pads
                         nn.Flatten()).eval()


def random_biases(net: nn.Module) -> None:
    """Non-trivial conv biases, so that zero points and bias_adj matter."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.bias.normal_(0, 0.3)


def assert_bit_exact_host_and_m4(res, x: np.ndarray, tmp_path, m4_samples: int) -> None:
    """Every sample of x on the host build (portable C), the first m4_samples on the Cortex-M4
    (DSP path, Unicorn), against the numpy reference."""
    g = res.graph
    exe = hostrun.build_host(res.outdir / "engine", tmp_path / "hb")
    xq = R.prepare_input(g, x)
    assert (hostrun.run_host(exe, xq, g.tensors[g.output].size) == R.run(g, xq)).all()
    if shutil.which("arm-none-eabi-gcc"):
        for i in range(m4_samples):
            assert bench_project(Project(res.outdir), x[i:i + 1], workdir=tmp_path / f"b{i}")["bit_exact"]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_dw_pw_bit_exact_host_and_m4(case, tmp_path):
    need_cc()
    c_in, c_mid, c_out, hw, s, pad, act = CASES[case]
    torch.manual_seed(case)
    rng = np.random.default_rng(case)
    net = dw_pw_net(c_in, c_mid, c_out, hw, s, pad, act)
    random_biases(net)
    x = rng.standard_normal((32, c_in, hw, hw)).astype(np.float32)
    res = compile_module(net, x, tmp_path / "p")
    g = res.graph
    kinds = [(op.kind, variant(op)) for op in g.ops]
    assert ("dwconv2d", "default") in kinds
    if c_mid > 4:
        assert ("conv2d", "pointwise") in kinds
    assert_bit_exact_host_and_m4(res, x, tmp_path, 3)


def test_rq_records_match_the_rounding_rule():
    """sat8(SMMLA(acc, mult, cz) >> s) == clamp(requant(acc) + zp) on edge cases, in Python."""
    from mcudeploy.quantize import requantize

    rng = np.random.default_rng(0)

    G = SimpleNamespace(tensors={"i": SimpleNamespace(zero_point=-3), "o": SimpleNamespace(zero_point=-128)})

    for shift in (2, 3, 9, 17, 23, 1, 24):
        mult = np.array([1 << 30, (1 << 31) - 1, 1518500250], np.int64)

        O = SimpleNamespace(inputs=["i"], output="o",
                            arrays={"bias": np.zeros(3, np.int32), "mult": mult.astype(np.int32),
                                    "shift": np.full(3, shift, np.int8)})

        wide = np.full((3, 4096), 127, np.int8)  # an accumulator range no shift maps to one value
        rec = rq_records(G, O, wide).astype(np.int64)
        if shift in (1, 24):
            assert (rec[:, 3] == -1).all()
            continue
        accs = np.concatenate([rng.integers(-(1 << 31), 1 << 31, 2000), [0, 1, -1, (1 << 31) - 1, -(1 << 31)],
                               (np.arange(-8, 8) << (shift + 1)) + (1 << shift)])  # ties
        for c in range(3):
            got = np.clip(((accs * rec[c, 1]) >> 32) + rec[c, 2] >> rec[c, 3], -128, 127)
            want = np.clip(requantize(accs, int(mult[c]), shift) - 128, -128, 127)
            assert (got == want).all(), (shift, c)


DW_SHAPES = [  # (channels, kernel, stride, padding, input h x w, records hold the shifts)
    (6, (5, 5), 1, 2, (9, 11), True),     # C pair/quad path, k_w odd > 3
    (5, (2, 4), 2, (1, 1), (8, 13), True),  # k_w even, stride 2, odd output width
    (4, (1, 3), 1, (0, 1), (5, 9), True),
    (9, (3, 3), 1, (2, 1), (6, 10), False),  # 3x3 asm path, generic requantization rule
    (8, (3, 3), 3, 1, (11, 11), True),     # stride 3: the generic kernel
    (3, (9, 3), 1, (4, 1), (10, 6), True),  # taller than MCD_DW_MAX_KH: the generic kernel
]


@pytest.mark.parametrize("case", range(len(DW_SHAPES)))
def test_depthwise_shapes_bit_exact_host_and_m4(case, tmp_path, monkeypatch):
    """Kernel sizes other than 3x3, even kernel widths, strides 1-3, and layers whose shifts the
    requantization records cannot hold (forced here by narrowing the records' range)."""
    need_cc()
    from mcudeploy.codegen import kernels as K

    c, k, s, pad, (h, w), fits = DW_SHAPES[case]
    if not fits:
        monkeypatch.setattr(K, "RQ_SHIFT_MAX", 1)
    torch.manual_seed(100 + case)
    rng = np.random.default_rng(case)
    net = nn.Sequential(nn.Conv2d(2, c, 3, 1, 1), nn.ReLU(),
                        nn.Conv2d(c, c, k, s, pad, groups=c), nn.ReLU(), nn.Flatten()).eval()
    random_biases(net)
    x = rng.standard_normal((16, 2, h, w)).astype(np.float32)
    res = compile_module(net, x, tmp_path / "p")
    g = res.graph
    dw = next(op for op in g.ops if op.kind == "dwconv2d")
    assert K.rq_fits(dw) == fits
    model_c = (res.outdir / "engine" / "model.c").read_text()
    assert f"mcd_{dw.name}_rq, {int(fits)}, " in model_c
    assert_bit_exact_host_and_m4(res, x, tmp_path, 2)


@pytest.mark.parametrize("stride", [(2, 2), (1, 2), (3, 1)])
def test_strided_pointwise_bit_exact_host_and_m4(stride, tmp_path):
    """A 1x1 convolution with a stride (ResNet shortcuts) takes the pointwise kernel, reading every
    stride-th pixel, odd sizes included."""
    need_cc()
    torch.manual_seed(sum(stride))
    net = nn.Sequential(nn.Conv2d(3, 6, 3, 1, 1), nn.ReLU(), nn.Conv2d(6, 9, 1, stride), nn.ReLU(),
                        nn.Flatten()).eval()
    x = np.random.default_rng(1).standard_normal((16, 3, 9, 7)).astype(np.float32)
    res = compile_module(net, x, tmp_path / "p")
    g = res.graph
    assert [variant(op) for op in g.ops if op.kind == "conv2d"][-1] == "pointwise"
    assert_bit_exact_host_and_m4(res, x, tmp_path, 1)


@pytest.mark.parametrize("fits", [True, False])
def test_conv_and_pointwise_requantization_rules_bit_exact(fits, tmp_path, monkeypatch):
    """The im2col convolution (plain and with a fused pool) and the pointwise kernel with the
    records' requantization and with the generic rule (forced by narrowing the records' range)."""
    need_cc()
    from mcudeploy.codegen import kernels as K

    if not fits:
        monkeypatch.setattr(K, "RQ_SHIFT_MAX", 1)
    torch.manual_seed(7)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, 1, 1), nn.ReLU(),
                        nn.Conv2d(6, 8, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 5, 3, 2, 1), nn.ReLU6(),
                        nn.Conv2d(5, 7, 1), nn.Flatten()).eval()
    random_biases(net)
    x = np.random.default_rng(3).standard_normal((16, 3, 11, 10)).astype(np.float32)
    res = compile_module(net, x, tmp_path / "p")
    g = res.graph
    convs = [op for op in g.ops if op.kind == "conv2d"]
    assert [variant(op) for op in convs[1:]] == ["default", "default", "pointwise"]
    assert all(K.rq_fits(op) == fits for op in convs[1:])
    model_c = (res.outdir / "engine" / "model.c").read_text()
    for op in convs[1:]:  # bit 0 of the fast argument: the records' rule (bit 1: weights staged in SRAM,
        # bit 2: staged in the input's dead rows, nb << 16: in blocks of nb channels; bit 8: the records
        # staged too, bit 32: first copy in the output's tail; mcd_conv2d_s8 only)
        st = op.attrs.get("stage_weights") if variant(op) == "default" or op.attrs.get("pw4") else None
        flag = int(fits) | (0 if not st else 4 if st == "input" else op.attrs["stage_block"] << 16 if st == "block" else 2)
        if variant(op) == "default":
            flag |= (8 if op.attrs.get("stage_rq") else 0) | (32 if op.attrs.get("stage_out_tail") else 0)
        assert f"mcd_{op.name}_rq, {flag}, " in model_c
    assert_bit_exact_host_and_m4(res, x, tmp_path, 2)


@pytest.mark.parametrize("rounding", ["single", "double"])
def test_constant_channels_take_the_records_bit_exact(rounding, tmp_path):
    """Channels whose output is one value for every input (zero weights, a bias that a ReLU always
    clamps, weights so small that the shift reaches the 20s-30s: VWW's pointwise layers) no
    longer push the whole layer to the generic rule: their records hold the constant
    (mult 0), the layer keeps the fast records, and host and Cortex-M4 equal the reference."""
    need_cc()
    from mcudeploy.codegen import kernels as K
    from mcudeploy.frontend import export_module
    from mcudeploy.pipeline import build_project

    torch.manual_seed(11)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, 1, 1, groups=8), nn.ReLU(),
                        nn.Conv2d(8, 12, 1), nn.ReLU6(), nn.Flatten()).eval()
    random_biases(net)
    with torch.no_grad():
        pw = net[4]
        pw.weight[0:2] = 0  # dead: acc = bias
        pw.bias[2:4] = -50.0  # always below zero: ReLU6 gives the zero point
        pw.weight[4] *= 1e-6  # a tiny scale: a shift in the 20s-30s
        pw.bias[4] = 0.0
    x = np.random.default_rng(5).standard_normal((32, 3, 7, 6)).astype(np.float32)
    res = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / "p", rounding=rounding)
    g = res.graph
    op = [o for o in g.ops if o.kind == "conv2d"][-1]
    const, _value = K.constant_channels(g, op)
    assert const[:5].all() and not const.all(), const
    assert int(op.arrays["shift"][4]) > K.RQ_DOUBLE_SHIFT_MAX
    assert K.rq_fits(op, rounding, g) and not K.rq_fits(op, rounding)  # without the graph: not known constant
    live = K.pw_live(g, op)
    assert (live == np.flatnonzero(~const)).all()  # the constants are copied, only these computed
    assert f"mcd_{op.name}_rq, {len(live)}, mcd_{op.name}_live, " in (res.outdir / "engine" / "model.c").read_text()
    assert_bit_exact_host_and_m4(res, x, tmp_path, 2)


@pytest.mark.parametrize("stride, pad, in_place", [(1, 1, True), (2, 1, True), (2, (0, 1), True), (1, 2, False)])
def test_in_place_depthwise_bit_exact_host_and_m4(stride, pad, in_place, tmp_path):
    """The depthwise fast kernel writes over its input where the planner finds every output row
    lands on input rows already widened into the ring (plan.dw_in_place_ok): the output shares
    the input's arena offset, and host and Cortex-M4 still equal the reference. Padding 2 widens
    the rows (11 x 10 from 9 x 8): output row 0 would overwrite input row 1 unread, so not there."""
    need_cc()
    from mcudeploy import plan as P
    from mcudeploy.codegen import kernels as K

    torch.manual_seed(stride + 3)
    net = nn.Sequential(nn.Conv2d(3, 12, 3, 1, 1), nn.ReLU(),
                        nn.Conv2d(12, 12, 3, stride, pad, groups=12), nn.ReLU(),
                        nn.Conv2d(12, 6, 1), nn.Flatten()).eval()
    random_biases(net)
    x = np.random.default_rng(stride).standard_normal((32, 3, 9, 8)).astype(np.float32)
    res = compile_module(net, x, tmp_path / "p")
    g = res.graph
    dw = next(op for op in g.ops if op.kind == "dwconv2d")
    assert K.dw_in_place_ok(g, dw) == in_place
    from mcudeploy.codegen.kernels import scratch_for

    p = P.plan(g, scratch_for(g))
    assert (p.where[dw.output] == p.where[dw.inputs[0]]) == in_place
    model_c = (res.outdir / "engine" / "model.c").read_text()
    call = next(line for line in model_c.splitlines() if f"mcd_{dw.name}_weight" in line and "mcd_dwconv2d_s8(" in line)
    off = p.where[dw.inputs[0]][1]
    assert call.count(f"(MCD_ARENA + {off})") == (2 if in_place else 1), call  # reads and writes one buffer
    assert_bit_exact_host_and_m4(res, x, tmp_path, 2)


def test_depthwise_not_in_place_when_rows_would_be_overwritten_unread():
    """The planner's check is exact: a pool (generic kernel) or a window whose first row lies
    wholly in the padding (output row 0 before any input row is read) stays out of place."""
    from mcudeploy.codegen import kernels as K

    def op(kh, stride, pad_t, pool=None):
        return SimpleNamespace(kind="dwconv2d", inputs=["i"], output="o",
                               arrays={"weight": np.zeros((kh, 3, 4), np.int8)},
                               attrs={"stride": [stride, 1], "pad": [pad_t, 1, pad_t, 1], "pool": pool})

    def g(h, oh):
        return SimpleNamespace(tensors={"i": SimpleNamespace(shape=(h, 5, 4)), "o": SimpleNamespace(shape=(oh, 5, 4))})

    assert K.dw_in_place_ok(g(6, 6), op(3, 1, 1))
    assert not K.dw_in_place_ok(g(6, 6), op(3, 1, 1, pool={"k": [2, 2], "s": [2, 2]}))
    assert not K.dw_in_place_ok(g(6, 10), op(3, 1, 3))  # output row 0 is written before input row 0 is read
    assert not K.dw_in_place_ok(g(6, 6), op(9, 1, 4))  # kernel taller than the fast path's


@pytest.mark.parametrize("rounding", ["single", "double"])
def test_constant_input_channels_folded_bit_exact(rounding, tmp_path):
    """A channel dead upstream (its ReLU never opens) stays constant through the depthwise layer
    (its padding holds the same zero point), so the next pointwise layer reads only the live
    input channels (lin) with the constants folded into its records: host and Cortex-M4 equal
    the reference."""
    need_cc()
    from mcudeploy.codegen import kernels as K
    from mcudeploy.frontend import export_module
    from mcudeploy.pipeline import build_project

    torch.manual_seed(12)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.ReLU(),
                        nn.Conv2d(8, 10, 1), nn.ReLU(),
                        nn.Conv2d(10, 10, 3, 1, 1, groups=10), nn.ReLU(),
                        nn.Conv2d(10, 9, 1), nn.ReLU(), nn.Flatten()).eval()
    random_biases(net)
    with torch.no_grad():
        net[2].weight[0:3] = 0
        net[2].bias[0:3] = -1.0  # dead after the ReLU: the zero point everywhere
    x = np.random.default_rng(6).standard_normal((32, 3, 6, 7)).astype(np.float32)
    res = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / "p", rounding=rounding)
    g = res.graph
    pw = [o for o in g.ops if o.kind == "conv2d"][-1]
    lin, _values = K.pw_live_inputs(g, pw)
    assert set(lin.tolist()) <= set(range(3, 10)) and len(lin) < 10, lin
    assert K.pw_live(g, pw) is not None
    assert f"mcd_{pw.name}_lin, " in (res.outdir / "engine" / "model.c").read_text()
    assert "lin" in K.kernel_arrays(g, pw)
    dw = next(o for o in g.ops if o.kind == "dwconv2d")  # its dead channels: stored, not computed (mult 0)
    assert (K.kernel_arrays(g, dw)["rq"].reshape(-1, 4)[:3, 1] == 0).all()
    assert_bit_exact_host_and_m4(res, x, tmp_path, 2)
