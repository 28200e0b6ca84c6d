"""The depthwise kernel's cheaper double-rounding requantization (mcd_rq_out_dbl_relu, fast_rq
bit 4: weights and bias_adj doubled, SMMLAR, shift, SSAT): equal to LiteRT's two roundings plus
the clamp wherever the clamp starts at or above the output zero point, shown on the C function
over ties and edges, and on whole layers (host and Cortex-M4) against the numpy reference."""

import subprocess

import numpy as np
import pytest
import torch
from conftest import need_cc
from mcudeploy import quantize as Q
from mcudeploy.paths import KERNELS
from test_dw_pw_kernels import assert_bit_exact_host_and_m4, random_biases
from torch import nn


def _c_dbl_relu(tmp_path, acc, mult, shift, zp, lo, hi) -> np.ndarray:
    cz = (1 << (shift - 1)) + zp * (1 << shift)
    src = tmp_path / "d.c"
    src.write_text('#include <stdio.h>\n#include "mcd_simd.h"\nint main(void){long a,m,c,s,l,h;'
                   'while(scanf("%ld %ld %ld %ld %ld %ld",&a,&m,&c,&s,&l,&h)==6)printf("%d\\n",'
                   '(int)mcd_rq_out_dbl_relu((int32_t)(2 * a),(int32_t)m,(int32_t)c,(int32_t)s,(int32_t)l,'
                   '(int32_t)h));return 0;}\n')
    exe = tmp_path / "d"
    subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Werror", "-DMCD_ROUNDING_DOUBLE=1", f"-I{KERNELS}",
                    str(src), "-o", str(exe)], check=True)
    rows = zip(acc.tolist(), mult.tolist(), cz.tolist(), shift.tolist(), lo.tolist(), hi.tolist())
    out = subprocess.run([str(exe)], input="\n".join(" ".join(map(str, r)) for r in rows), capture_output=True,
                         text=True, check=True).stdout.split()
    return np.array([int(v) for v in out])


def _cases(n: int, seed: int):
    """Random (acc, mult, shift, zp) with |acc| < 2^30, plus every tie of the second rounding
    near zero (mult 2^30 makes h = acc / 2 exact: acc = (2k + 1) 2^s is a tie of h / 2^s)."""
    rng = np.random.default_rng(seed)
    acc = rng.integers(-(2**30) + 1, 2**30, n) >> rng.integers(0, 28, n)
    mult = rng.integers(1 << 30, 1 << 31, n)
    shift = rng.integers(1, 22, n)
    zp = rng.integers(-128, 128, n)
    ties = [((2 * k + 1) << s, s, z) for s in (1, 2, 5, 13, 21) for k in range(-6, 6) for z in (-128, -5, 0, 100)]
    t_acc, t_s, t_z = (np.array(v, np.int64) for v in zip(*ties))
    edges = np.array([-(2**30) + 1, (2**30) - 1, 0, 1, -1, 2, -2], np.int64)
    acc = np.concatenate([acc, t_acc, edges])
    mult = np.concatenate([mult, np.full(len(t_acc), 1 << 30), rng.integers(1 << 30, 1 << 31, len(edges))])
    shift = np.concatenate([shift, t_s, rng.integers(1, 22, len(edges))])
    zp = np.concatenate([zp, t_z, rng.integers(-128, 128, len(edges))])
    return rng, acc, mult, shift, zp


def test_dbl_relu_rule_equals_litert_double_rounding_when_clamp_starts_at_zero_point(tmp_path):
    need_cc()
    rng, acc, mult, shift, zp = _cases(6000, 21)
    lo = np.array([int(rng.integers(z, 128)) for z in zp])  # the clamp starts at or above the zero point
    lo[::5] = zp[::5]  # ReLU / ReLU6: exactly at it
    hi = np.array([int(rng.integers(low, 128)) for low in lo])
    hi[::3] = 127
    got = _c_dbl_relu(tmp_path, acc, mult, shift, zp, lo, hi)
    want = np.clip(Q.requantize(acc, mult, shift, "double") + zp, lo, hi)
    bad = np.flatnonzero(got != want)
    assert not len(bad), f"{len(bad)} differ; first acc={acc[bad[0]]} shift={shift[bad[0]]} zp={zp[bad[0]]}"


def test_dbl_relu_rule_is_not_exact_below_the_zero_point(tmp_path):
    """Why the generator checks the clamp: with outputs allowed below the zero point, negative
    ties round half up here and half away from zero in LiteRT, so some outputs differ."""
    need_cc()
    _rng, acc, mult, shift, zp = _cases(0, 22)
    lo, hi = np.full(len(acc), -128), np.full(len(acc), 127)
    zp = np.zeros(len(acc), np.int64)
    got = _c_dbl_relu(tmp_path, acc, mult, shift, zp, lo, hi)
    want = np.clip(Q.requantize(acc, mult, shift, "double") + zp, lo, hi)
    assert (got != want).any() and (got >= want).all()


DW_RELU = [  # (channels, stride, padding, input h x w, activation, bit 4 expected)
    (5, 1, 1, (7, 9), nn.ReLU, True),      # odd channels, odd width: quad, pair and single outputs
    (9, 2, (0, 1), (8, 7), nn.ReLU6, True),  # stride 2, asymmetric padding
    (4, 2, 1, (2, 2), nn.ReLU, True),      # a 1 x 1 output map
    (6, 1, 1, (6, 6), nn.Identity, False),  # no clamp at the zero point: the plain records
]


@pytest.mark.parametrize("case", range(len(DW_RELU)))
def test_depthwise_doubled_weights_bit_exact_host_and_m4(case, tmp_path):
    """Under the double rule a depthwise layer clamped at its zero point gets fast_rq bit 4 (its
    weights and bias doubled in weights.c); one without the clamp does not; both equal the
    reference on the host and the Cortex-M4."""
    need_cc()
    from mcudeploy.codegen import kernels as K
    from mcudeploy.frontend import export_module
    from mcudeploy.pipeline import build_project

    c, s, pad, (h, w), act, doubled = DW_RELU[case]
    torch.manual_seed(40 + case)
    net = nn.Sequential(nn.Conv2d(2, c, 3, 1, 1), nn.ReLU(),
                        nn.Conv2d(c, c, 3, s, pad, groups=c), act(), nn.Flatten()).eval()
    random_biases(net)
    x = np.random.default_rng(case).standard_normal((16, 2, h, w)).astype(np.float32)
    res = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / "p", rounding="double")
    g = res.graph
    dw = next(op for op in g.ops if op.kind == "dwconv2d")
    assert K.dw_doubled(g, dw) == doubled
    code = K.rq_fast_code(g, dw)
    assert bool(code & 4) == doubled
    assert f"mcd_{dw.name}_rq, {code}, " in (res.outdir / "engine" / "model.c").read_text()
    arrays = K.kernel_arrays(g, dw)
    assert ((arrays["weight"] % 2 == 0).all() and (arrays["weight"] != 0).any()) == doubled
    assert_bit_exact_host_and_m4(res, x, tmp_path, 1)


def test_rq_channel_zc_equals_litert_double_rounding(tmp_path):
    """mcd_rq_channel_zc (the drop-in for mcd_rq_channel that a pointwise or conv kernel can call)
    on records of the double rule: the cheap form where act_min >= out_zp, the plain records where
    not; both equal requantize_double + zp + clamp on ties and random accumulators."""
    need_cc()
    rng, acc, mult, shift, zp = _cases(4000, 23)
    below = rng.random(len(acc)) < 0.3  # clamps that start below the zero point: the plain path
    lo = np.array([int(rng.integers(-128, z + 1)) if b else int(rng.integers(z, 128)) for z, b in zip(zp, below)])
    hi = np.array([int(rng.integers(max(low, z), 128)) for low, z in zip(lo, zp)])
    cz = (1 << (shift - 1)) + zp * (1 << shift)
    src = tmp_path / "z.c"
    src.write_text('#include <stdio.h>\n#include "mcd_simd.h"\nint main(void){long a,m,c,s,z,l,h;'
                   'while(scanf("%ld %ld %ld %ld %ld %ld %ld",&a,&m,&c,&s,&z,&l,&h)==7){'
                   'const int32_t rq[4]={0,(int32_t)m,(int32_t)c,(int32_t)s};'
                   'const mcd_conv_params p={1,1,0,0,1,1,1,1,0,(int32_t)z,(int32_t)l,(int32_t)h};'
                   'printf("%d\\n",(int)mcd_rq_channel_zc((int32_t)a,rq,0,0,&p,1));}return 0;}\n')
    exe = tmp_path / "z"
    subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Werror", "-DMCD_ROUNDING_DOUBLE=1", f"-I{KERNELS}",
                    str(src), "-o", str(exe)], check=True)
    rows = zip(acc.tolist(), mult.tolist(), cz.tolist(), shift.tolist(), zp.tolist(), lo.tolist(), hi.tolist())
    out = subprocess.run([str(exe)], input="\n".join(" ".join(map(str, r)) for r in rows), capture_output=True,
                         text=True, check=True).stdout.split()
    got = np.array([int(v) for v in out])
    want = np.clip(Q.requantize(acc, mult, shift, "double") + zp, lo, hi)
    bad = np.flatnonzero(got != want)
    assert not len(bad), f"{len(bad)} differ; first acc={acc[bad[0]]} shift={shift[bad[0]]} zp={zp[bad[0]]}"


DW_TAILS = [  # (channels, stride, padding, input h x w, rounding): output widths 4k + 1, 4k + 3
    (7, 1, 1, (6, 5), "double"),    # ow 5: one quint (mcd_dw_quint3_imm), KWS's rows
    (6, 1, 1, (5, 9), "single"),    # ow 9: a quad, then a quint
    (5, 2, 1, (6, 6), "double"),    # ow 3 at stride 2: a quad with its fourth output dropped
    (3, 1, (0, 1), (4, 7), "single"),  # ow 7 at stride 1: a quad, then three as a quad
    (9, 2, 0, (7, 11), "double"),   # ow 5 at stride 2: a quad and a lone output (quints are stride 1)
]


@pytest.mark.parametrize("case", range(len(DW_TAILS)))
def test_depthwise_row_tails_bit_exact_host_and_m4(case, tmp_path):
    """Rows whose output width is not a multiple of 4: the five-output and the three-as-four
    3x3 paths read spare columns of the ring (only zero taps or dropped outputs see them, and the
    fill writes only the padding columns that windows read), equal to the reference."""
    need_cc()
    from mcudeploy.frontend import export_module
    from mcudeploy.pipeline import build_project

    c, s, pad, (h, w), rounding = DW_TAILS[case]
    torch.manual_seed(60 + case)
    net = nn.Sequential(nn.Conv2d(2, c, 3, 1, 1), nn.ReLU(),
                        nn.Conv2d(c, c, 3, s, pad, groups=c), nn.ReLU(), nn.Flatten()).eval()
    random_biases(net)
    x = np.random.default_rng(case).standard_normal((16, 2, h, w)).astype(np.float32)
    res = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / "p", rounding=rounding)
    dw = next(op for op in res.graph.ops if op.kind == "dwconv2d")
    ow = res.graph.tensors[dw.output].shape[1]
    assert ow % 4 in (1, 3) and ow == (w + 2 * (pad if isinstance(pad, int) else pad[1]) - 3) // s + 1
    assert_bit_exact_host_and_m4(res, x, tmp_path, 1)
