"""The 4-pixel x 2-channel pointwise kernel (mcd_pwconv2d_s8_4px): its weight layout against a plain
matrix product, and whole layers bit-exact with the numpy reference on the host (portable C) and
on the Cortex-M4 (DSP asm, Unicorn) over the edges the kernel has: input channels not a multiple
of 4 (the zero-padded tail group), an odd output channel count (a zero partner row), pixel counts
not a multiple of 4 (a short last block), a 1x1 map, strides, in place and not, weights staged
into SRAM, both rounding rules and the generic requantization rule. Each case also checks that
the generator SELECTED the kernel (and wrote in place where expected): otherwise it would test
the old one."""

import numpy as np
import pytest
import torch
from conftest import need_cc
from mcudeploy.codegen import kernels as K
from mcudeploy.frontend import export_module
from mcudeploy.pipeline import build_project
from test_dw_pw_kernels import assert_bit_exact_host_and_m4, random_biases
from torch import nn


def _sxtb16(word: np.ndarray, ror8: bool) -> np.ndarray:
    """(n, 4) int8 bytes of a word -> (n, 2): bytes 0 and 2, or 1 and 3 (SXTB16 [ROR 8])."""
    return word[:, [1, 3]] if ror8 else word[:, [0, 2]]


@pytest.mark.parametrize("o, k", [(2, 4), (7, 13), (64, 64), (3, 1), (5, 10)])
def test_pack_pw4_layout_is_the_matrix_product(o, k):
    """Walk the packed bytes as the kernel does (per row pair, per tap pair a word; SXTB16 gives row 0,
    ROR 8 row 1; the column words are (k0, k2) then (k1, k3) of each group of four taps) and get
    w @ x for random int8 weights and inputs."""
    rng = np.random.default_rng(o * 100 + k)
    w = rng.integers(-128, 128, (o, k), dtype=np.int8)
    x = rng.integers(-128, 128, k).astype(np.int64)
    kk = K.k4(k)
    xp = np.zeros(kk, np.int64)
    xp[:k] = x
    packed = K.pack_pw4(w)
    oe = o + (o & 1)
    assert packed.size == oe * kk
    words = packed.reshape(oe // 2, kk // 2, 4).astype(np.int64)
    cols = np.stack([xp.reshape(-1, 4)[:, [0, 2]], xp.reshape(-1, 4)[:, [1, 3]]], 1).reshape(-1, 2)  # tap pairs
    got = np.stack([(_sxtb16(words[q], False) * cols).sum() for q in range(oe // 2)] +
                   [(_sxtb16(words[q], True) * cols).sum() for q in range(oe // 2)])
    got = got.reshape(2, -1).T.reshape(-1)[:o]  # rows 2q, 2q + 1
    assert (got == w.astype(np.int64) @ x).all()


CASES = {  # name: (c_in, c_out, pointwise input h x w, stride, rounding, in place)
    "k16_25px": (16, 16, (5, 5), 1, "double", True),  # the loop only (k4 = 16), one pixel in the last block
    "k13_odd_out": (13, 7, (3, 3), 1, "single", True),  # tail taps, zero partner row, 9 pixels
    "strided": (12, 12, (7, 7), 2, "double", True),  # in place with a stride: 16 pixels of 49
    "wider_out": (8, 12, (6, 6), 1, "double", False),  # C_out > C_in: not in place
    "map_1x1": (20, 10, (1, 1), 1, "single", True),  # one pixel, three copies in the block
}


def _net(c_in, c_out, stride):
    """A conv on twice the size (the arena's peak) and a 2x2 max-pool, the pointwise layer, and a
    small conv after it, so that the pointwise output lives in the arena (the graph's output
    buffer is never written in place) and the 4-pixel kernel's scratch fits under the peak."""
    return nn.Sequential(nn.Conv2d(3, c_in, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(c_in, c_out, 1, stride), nn.ReLU6(),
                         nn.Conv2d(c_out, 2, 3, 1, 1), nn.Flatten()).eval()


def _force_pw4(monkeypatch) -> None:
    """Every plain pointwise layer on the 4-pixel kernel, whatever the arena says (pointwise_4px
    keeps it only where the greedy planner's arena does not grow: on these toy nets a matter of
    fragmentation), so that the cases test the kernel's edges."""
    import mcudeploy.codegen.fuse as PL  # layout(): the passes compile runs before it plans

    def mark_all(g):
        ops = [op for op in g.ops if op.kind == "conv2d" and K.variant(op) == "pointwise"]
        for op in ops:
            op.attrs["pw4"] = True
        return [op.name for op in ops]

    monkeypatch.setattr(PL, "pointwise_4px", mark_all)


@pytest.mark.parametrize("name", sorted(CASES))
def test_pw4_selected_and_bit_exact_host_and_m4(name, tmp_path, monkeypatch):
    need_cc()
    from mcudeploy import plan as P

    _force_pw4(monkeypatch)

    c_in, c_out, (h, w), stride, rounding, in_place = CASES[name]
    torch.manual_seed(len(name))
    net = _net(c_in, c_out, stride)
    random_biases(net)
    x = np.random.default_rng(len(name)).standard_normal((24, 3, 2 * h, 2 * w)).astype(np.float32)
    res = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / "p", rounding=rounding)
    g = res.graph
    pw = [op for op in g.ops if op.kind == "conv2d"][1]
    assert K.variant(pw) == "pointwise" and pw.attrs.get("pw4"), pw.attrs
    assert K.pw4_in_place(g, pw) == in_place
    p = P.plan(g, K.scratch_for(g))
    assert (p.where[pw.output] == p.where[pw.inputs[0]]) == in_place
    model_c = (res.outdir / "engine" / "model.c").read_text()
    assert f"mcd_pwconv2d_s8_4px(&p, &q, &in_d, (MCD_ARENA + {p.where[pw.inputs[0]][1]})" in model_c
    assert_bit_exact_host_and_m4(res, x, tmp_path, 2)


def test_pw4_generic_rule_and_staged_weights_bit_exact(tmp_path, monkeypatch):
    """With the records unable to hold the shifts (fast = 0: mcd_rq_channel's generic rule) and the
    weights and records copied to SRAM first (bit 1), host and Cortex-M4 still equal the reference."""
    need_cc()
    import mcudeploy.codegen.fuse as PL  # layout(): the passes compile runs before it plans

    _force_pw4(monkeypatch)
    stage = PL.stage_weights

    def stage_pw4_too(g):  # staged whatever the arena says (the kernel's path is what is tested)
        names = stage(g)
        for op in g.ops:
            if op.attrs.get("pw4"):
                op.attrs["stage_weights"] = True
        return names

    monkeypatch.setattr(PL, "stage_weights", stage_pw4_too)
    monkeypatch.setattr(K, "RQ_SHIFT_MAX", 1)
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(3, 24, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(24, 24, 1), nn.ReLU(), nn.Conv2d(24, 2, 3, 1, 1), nn.Flatten()).eval()
    random_biases(net)
    x = np.random.default_rng(4).standard_normal((24, 3, 10, 10)).astype(np.float32)
    res = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / "p")
    g = res.graph
    pw = [op for op in g.ops if op.kind == "conv2d"][1]
    assert pw.attrs.get("pw4") and pw.attrs.get("stage_weights"), pw.attrs
    assert not K.rq_fits(pw)
    assert f"mcd_{pw.name}_rq, 2, " in (res.outdir / "engine" / "model.c").read_text()
    assert_bit_exact_host_and_m4(res, x, tmp_path, 2)


def test_pointwise_4px_keeps_the_arena_and_takes_kws_layers(tmp_path):
    """The selection rule: on every case net the arena with the layers pointwise_4px marked is no
    larger than with none marked; on a KWS-like block (depthwise then a 16 -> 16 pointwise on a
    40 x 5 map, so the pointwise layers are the peak; no ReLU, which with random weights leaves
    channels that never open, and those layers take the constant-channel kernel) it takes them
    all, in place, and the arena shrinks."""
    from mcudeploy import plan as P

    def arena(g):
        return P.plan(g, K.scratch_for(g)).arena_bytes

    for name, (c_in, c_out, (h, w), stride, _r, _ip) in sorted(CASES.items()):
        torch.manual_seed(1)
        x = np.random.default_rng(1).standard_normal((8, 3, 2 * h, 2 * w)).astype(np.float32)
        net = _net(c_in, c_out, stride)
        g = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / name, host_check=False).graph
        with_marks = arena(g)
        for op in g.ops:
            op.attrs.pop("pw4", None)
            op.attrs.pop("stage_weights", None)
        assert with_marks <= arena(g), name
    torch.manual_seed(2)
    kws = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1),
                        nn.Conv2d(16, 16, 3, 1, 1, groups=16), nn.Conv2d(16, 16, 1),
                        nn.Conv2d(16, 16, 3, 1, 1, groups=16), nn.Conv2d(16, 16, 1),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4)).eval()
    x = np.random.default_rng(2).standard_normal((8, 1, 40, 5)).astype(np.float32)
    g = build_project(export_module(kws, torch.from_numpy(x[:1])), x, tmp_path / "kws", host_check=False).graph
    pws = [op for op in g.ops if op.kind == "conv2d" and K.variant(op) == "pointwise"]
    assert len(pws) == 2 and all(op.attrs.get("pw4") and K.pw4_in_place(g, op) for op in pws)
    p = P.plan(g, K.scratch_for(g))
    assert all(p.where[op.output] == p.where[op.inputs[0]] for op in pws)
    marked = arena(g)
    for op in pws:
        op.attrs.pop("pw4")
        op.attrs.pop("stage_weights", None)
    assert marked < arena(g)


@pytest.mark.parametrize("rounding", ["single", "double"])
def test_pw4_live_constant_channels_bit_exact_host_and_m4(rounding, tmp_path, monkeypatch):
    """The 4-pixel twin of the constant-channel kernel (mcd_pwconv2d_s8_live_4px): dead output
    channels copied from cst after the block is widened (in place: 10 -> 9 channels), constant
    input channels folded into the records and the live ones gathered (lin, 7 of 10: a tail
    group of 3), host and Cortex-M4 equal to the reference under both rounding rules."""
    need_cc()
    from mcudeploy import plan as P

    _force_pw4(monkeypatch)
    torch.manual_seed(12)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.ReLU(),
                        nn.Conv2d(8, 10, 1), nn.ReLU(),
                        nn.Conv2d(10, 10, 3, 1, 1, groups=10), nn.ReLU(),
                        nn.Conv2d(10, 9, 1), nn.ReLU(), nn.Conv2d(9, 2, 3, 1, 1), nn.Flatten()).eval()
    random_biases(net)
    with torch.no_grad():
        net[2].weight[0:3] = 0
        net[2].bias[0:3] = -1.0  # dead after the ReLU: constant inputs of the last pointwise layer
        net[6].weight[1:3] = 0
        net[6].bias[1:3] = -50.0  # dead outputs: constants
    x = np.random.default_rng(6).standard_normal((32, 3, 6, 7)).astype(np.float32)
    res = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / "p", rounding=rounding)
    g = res.graph
    pw = [o for o in g.ops if o.kind == "conv2d" and K.variant(o) == "pointwise"][-1]
    live = K.pw_live(g, pw)
    assert live is not None and len(live) < 9 and pw.attrs.get("pw4")
    lin, _values = K.pw_live_inputs(g, pw)
    assert len(lin) < 10
    model_c = (res.outdir / "engine" / "model.c").read_text()
    assert "mcd_pwconv2d_s8_live_4px(&p, &in_d, " in model_c and f"mcd_{pw.name}_lin, " in model_c
    p = P.plan(g, K.scratch_for(g))
    assert p.where[pw.output] == p.where[pw.inputs[0]]  # in place
    assert_bit_exact_host_and_m4(res, x, tmp_path, 2)
