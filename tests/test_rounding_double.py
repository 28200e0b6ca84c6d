"""The ``double`` requantization rule (gemmlowp's, LiteRT's reference kernels): Python
(quantize.requantize_double) against an exact computation with Python integers and fractions,
C (mcd_common.h with MCD_ROUNDING_DOUBLE 1) against Python, and both rules on one C binary each."""

import subprocess
from fractions import Fraction
from math import floor

import numpy as np
import pytest
from conftest import need_cc
from mcudeploy import quantize as Q
from mcudeploy.paths import KERNELS


def half_away(v: Fraction) -> int:
    return floor(v + Fraction(1, 2)) if v >= 0 else -floor(-v + Fraction(1, 2))


def exact(acc: int, mult: int, shift: int) -> int:
    """The documented two roundings: ties toward +infinity, then ties away from zero."""
    left, right = max(-shift, 0), max(shift, 0)
    x = ((acc << left) + 2**31) % 2**32 - 2**31  # int32 wrap, as the C
    if x == Q.INT32_MIN and mult == Q.INT32_MIN:
        h = Q.INT32_MAX
    else:
        h = floor(Fraction(x * mult, 2**31) + Fraction(1, 2))
    return half_away(Fraction(h, 2**right))


EDGE = [
    (-3, 1 << 30, 0),  # -1.5 -> -1 (shift 0: only the first rounding, ties toward +inf)
    (3, 1 << 30, 0),  # 1.5 -> 2
    (-1, 1 << 30, 0),  # -0.5 -> 0 (first rounding: ties toward +inf)
    (-1, 1 << 30, 1),  # h = -0.25 -> 0
    (-6, 1 << 30, 1),  # -1.5 -> -2 (second rounding, ties away from zero; single gives -1)
    (-5, 1 << 30, 1),  # -1.25 -> -1
    (5, (1 << 30) + 1, 2),  # h rounds to 3 (2.5000...), then 3/4 -> 1: two roundings
    (2, 1 << 30, 1),
    (Q.INT32_MAX, Q.INT32_MAX, 0),
    (Q.INT32_MIN + 1, Q.INT32_MAX, 0),
    (Q.INT32_MIN, Q.INT32_MAX, 31),  # shift 31
    (Q.INT32_MAX, Q.INT32_MAX, 31),
    (123456789, 1518500250, 31),
    (-123456789, 1518500250, 31),
    (7, 1 << 30, -30),  # left shift 30
    (-7, 1 << 30, -3),
    (1 << 29, 1 << 30, -3),  # the left shift wraps
    (1000, 0, 0),
    (0, 1 << 30, 5),
]


def test_double_matches_exact_on_edges():
    for acc, m, s in EDGE:
        assert int(Q.requantize(acc, m, s, "double")) == exact(acc, m, s), (acc, m, s)


def test_double_differs_from_single_on_negative_ties():
    assert int(Q.requantize(-6, 1 << 30, 1, "double")) == -2  # -3 exact, then -1.5 away from zero
    assert int(Q.requantize(-6, 1 << 30, 1, "single")) == -1


def test_double_matches_exact_random():
    rng = np.random.default_rng(3)
    acc = rng.integers(-(2**31) + 1, 2**31, 3000)
    m = rng.integers(1 << 30, 1 << 31, 3000)
    s = rng.integers(-30, 32, 3000)
    acc[::3] = acc[::3] >> rng.integers(0, 31, len(acc[::3]))  # small accumulators too (left shifts)
    got = Q.requantize(acc, m, s, "double")
    for a, mm, ss, g in zip(acc.tolist(), m.tolist(), s.tolist(), got.tolist()):
        assert g == exact(a, mm, ss), (a, mm, ss)


def test_unknown_rounding_is_refused():
    with pytest.raises(ValueError, match="rounding"):
        Q.requantize(1, 1 << 30, 0, "nearest")


def _c_requant(tmp_path, cases, double: int) -> list[int]:
    src = tmp_path / "t.c"
    src.write_text('#include <stdio.h>\n#include "mcd_common.h"\n#include "mcd_simd.h"\n'
                   'int main(void){long long a,m,s;while(scanf("%lld %lld %lld",&a,&m,&s)==3)'
                   'printf("%ld %ld\\n",(long)mcd_requant((int32_t)a,(int32_t)m,(int32_t)s),'
                   '(long)mcd_requant_fast((int32_t)a,(int32_t)m,(int32_t)s));return 0;}\n')
    exe = tmp_path / f"t{double}"
    subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Werror", f"-DMCD_ROUNDING_DOUBLE={double}", f"-I{KERNELS}",
                    str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], input="\n".join(f"{a} {m} {s}" for a, m, s in cases), capture_output=True,
                         text=True, check=True).stdout.split()
    assert len(out) == 2 * len(cases)
    return [int(v) for v in out]


@pytest.mark.parametrize("rounding", ["single", "double"])
def test_c_rule_matches_python(tmp_path, rounding):
    """mcd_requant and mcd_requant_fast (the SIMD kernels' generic path) follow the switch."""
    need_cc()
    rng = np.random.default_rng(4)
    cases = [c for c in EDGE if c[1] != 0 or rounding == "double"]
    cases += [(int(rng.integers(-(2**31) + 1, 2**31)) >> int(rng.integers(0, 31)), int(rng.integers(1 << 30, 1 << 31)),
               int(rng.integers(-30, 32))) for _ in range(3000)]
    if rounding == "single":  # the single rule saturates left shifts instead of wrapping: keep inside int32
        cases = [(a, m, s) for a, m, s in cases if abs(a * m) < 2 ** (61 + min(s, 0))]
    out = _c_requant(tmp_path, cases, int(rounding == "double"))
    for i, (a, m, s) in enumerate(cases):
        want = int(Q.requantize(a, m, s, rounding))
        assert (out[2 * i], out[2 * i + 1]) == (want, want), f"acc={a} mult={m} shift={s}: C {out[2 * i:2 * i + 2]}"


def test_c_records_double_rule_matches_python(tmp_path):
    """mcd_rq_out's double-rounding record form (SMMULR of 2 * acc, then a shift with the zero
    point and the tie of negatives folded in) equals requantize_double + zp on |acc| < 2^30."""
    need_cc()
    rng = np.random.default_rng(5)
    n = 4000
    acc = rng.integers(-(2**30) + 1, 2**30, n) >> rng.integers(0, 28, n)
    mult = rng.integers(1 << 30, 1 << 31, n)
    shift = rng.integers(1, 22, n)
    zp = rng.integers(-128, 128, n)
    acc[:6] = [-3 << 20, 3 << 20, -1 << 20, -(1 << 30) + 1, (1 << 30) - 1, 0]  # ties of the second rounding
    mult[:6] = 1 << 30
    shift[:6] = 21
    cz = (1 << (shift - 1)) + zp * (1 << shift)
    src = tmp_path / "r.c"
    src.write_text('#include <stdio.h>\n#include "mcd_simd.h"\nint main(void){long a,m,c,s;'
                   'while(scanf("%ld %ld %ld %ld",&a,&m,&c,&s)==4)printf("%d\\n",(int)mcd_rq_out((int32_t)a,'
                   '(int32_t)m,(int32_t)c,(int32_t)s,-128,127));return 0;}\n')
    exe = tmp_path / "r"
    subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Werror", "-DMCD_ROUNDING_DOUBLE=1", f"-I{KERNELS}",
                    str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], input="\n".join(f"{a} {m} {c} {s}" for a, m, c, s in zip(acc, mult, cz, shift)),
                         capture_output=True, text=True, check=True).stdout.split()
    want = np.clip(Q.requantize(acc, mult, shift, "double") + zp, -128, 127)
    got = np.array([int(v) for v in out])
    bad = np.flatnonzero(got != want)
    assert not len(bad), f"{len(bad)} differ; first acc={acc[bad[0]]} mult={mult[bad[0]]} shift={shift[bad[0]]}: " \
                         f"C {got[bad[0]]} Python {want[bad[0]]}"


@pytest.mark.parametrize("seed", range(2))
def test_double_rounding_engines_bit_exact_on_cortex_m4(seed, tmp_path):
    """The DSP record path (SMMULR) and the generic one, as built for the M4 and run in the
    emulated core, equal the reference under the double rule (random conv/depthwise/fc nets)."""
    import shutil

    if not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("arm-none-eabi-gcc not installed")
    import torch
    from mcudeploy.bench import bench_project
    from mcudeploy.frontend import export_module
    from mcudeploy.pipeline import build_project
    from mcudeploy.project import Project
    from test_kernels_m4 import random_net

    rng = np.random.default_rng(100 + seed)
    torch.manual_seed(seed)
    net, shape = random_net(rng)
    x = rng.standard_normal((64,) + shape).astype(np.float32)
    res = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / "p", rounding="double")
    assert "#define MCD_ROUNDING_DOUBLE 1" in (res.outdir / "engine" / "mcd_config.h").read_text()
    assert bench_project(Project(res.outdir), x[:1])["bit_exact"]  # raises if the M4 output differs
