"""The requantization rule: Python (quantize.requantize) and C (mcd_common.h) agree exactly,
and both match an independent exact computation with Python integers and fractions."""

import subprocess
from fractions import Fraction
from math import floor

import numpy as np
import pytest
from conftest import need_cc
from mcudeploy import quantize as Q
from mcudeploy.paths import KERNELS


def exact(acc: int, mult: int, shift: int) -> int:
    """round(acc * mult / 2^(31+shift)), ties toward +inf, saturated to int32: the documented rule."""
    v = Fraction(acc * mult, 2 ** (31 + shift))
    r = floor(v + Fraction(1, 2))
    return max(Q.INT32_MIN, min(Q.INT32_MAX, r))


EDGE = [
    # negative and positive ties: 2^30 * 2^30 / 2^61 ... build exact halves
    (-5, 1 << 30, 1),  # -5 * 0.25 = -1.25 -> -1
    (-6, 1 << 30, 1),  # -1.5 -> -1 (tie toward +inf)
    (-2, 1 << 30, 0),  # -1.0
    (-3, 1 << 30, 0),  # -1.5 -> -1
    (3, 1 << 30, 0),  # 1.5 -> 2
    (5, 1 << 30, 1),  # 1.25 -> 1
    (-1, 1 << 30, 0),  # -0.5 -> 0
    (1, 1 << 30, 0),  # 0.5 -> 1
    (Q.INT32_MAX, Q.INT32_MAX, -30),  # saturates high
    (Q.INT32_MIN + 1, Q.INT32_MAX, -30),  # saturates low
    (Q.INT32_MIN + 1, 1 << 30, 0),
    (123456789, 1518500250, 31),  # shift 31: total 62
    (-123456789, 1518500250, 31),
    (Q.INT32_MAX, Q.INT32_MAX, 31),
    (Q.INT32_MIN + 1, Q.INT32_MAX, 31),
    (1000, 0, 0),  # a zero multiplier
    (7, 1 << 30, -30),
]


def test_python_rule_matches_exact_on_edges():
    for acc, m, s in EDGE:
        assert int(Q.requantize(acc, m, s)) == exact(acc, m, s), (acc, m, s)


def test_negative_tie_rounds_toward_plus_infinity():
    assert int(Q.requantize(-3, 1 << 30, 0)) == -1  # -1.5
    assert int(Q.requantize(3, 1 << 30, 0)) == 2  # +1.5


def test_python_rule_matches_exact_random():
    rng = np.random.default_rng(1)
    for _ in range(2000):
        acc = int(rng.integers(-(2**31) + 1, 2**31))
        m = int(rng.integers(1 << 30, 1 << 31))
        s = int(rng.integers(-30, 32))
        assert int(Q.requantize(acc, m, s)) == exact(acc, m, s)


@pytest.mark.parametrize("real", [1e-12, 2.0 ** -33, 2.0 ** -32, 0.00123, 0.5, 0.9999999999, 1.0, 3.7, 2.0 ** 29])
def test_quantize_multiplier_represents_real(real):
    m, s = Q.quantize_multiplier(real)
    if m == 0:
        assert real < 2.0 ** -32
    else:
        assert (1 << 30) <= m < (1 << 31) and -30 <= s <= 31
        assert abs(m * 2.0 ** -(31 + s) - real) <= real * 2.0 ** -30


def test_c_rule_matches_python(tmp_path):
    need_cc()
    rng = np.random.default_rng(2)
    cases = list(EDGE) + [(int(rng.integers(-(2**31) + 1, 2**31)), int(rng.integers(1 << 30, 1 << 31)),
                           int(rng.integers(-30, 32))) for _ in range(3000)]
    src = tmp_path / "t.c"
    src.write_text('#include <stdio.h>\n#include "mcd_common.h"\nint main(void){long long a,m,s;'
                   'while(scanf("%lld %lld %lld",&a,&m,&s)==3)printf("%ld\\n",(long)mcd_requant((int32_t)a,'
                   '(int32_t)m,(int32_t)s));return 0;}\n')
    exe = tmp_path / "t"
    subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Werror", f"-I{KERNELS}", str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], input="\n".join(f"{a} {m} {s}" for a, m, s in cases), capture_output=True,
                         text=True, check=True).stdout.split()
    for (a, m, s), got in zip(cases, out):
        assert int(got) == int(Q.requantize(a, m, s)), f"acc={a} mult={m} shift={s}: C {got}"
    assert len(out) == len(cases)


def test_dead_channels_get_a_bias_that_fits():
    """A channel of ~zero weights with a real bias (MLPerf Tiny VWW has hundreds) must not overflow int32."""
    w = np.array([[1e-30, -2e-30, 0.0], [0.5, -0.25, 0.1]])
    b = np.array([0.3, 0.1])
    q, scales, bq = Q.quantize_weights_and_bias(w, b, s_in=0.01)
    assert np.all(np.abs(bq.astype(np.int64)) <= 2**30)
    assert q[0].tolist() == [0, 0, 0]
    assert q[1].tolist() == [127, -64, 25]  # a live channel keeps its max|w|/127 scale
    assert abs(bq[1] * 0.01 * scales[1] - 0.1) < 0.01 * scales[1]
