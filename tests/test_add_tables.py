"""The residual add's rescale tables live in flash (ops/add.py rescale_tables, mcd_add_s8_tab):
no arena for them, and the C kernel reading the generator's tables equals the numpy reference on
every pair of int8 inputs, under both rounding rules and on each of add_s8.c's output paths."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mcudeploy.codegen.kernels import kernel_arrays
from mcudeploy.compress.measure import int8_graph
from mcudeploy.ir import Graph, Op, Tensor
from mcudeploy.ops import add
from mcudeploy.paths import KERNELS
from torch import nn


class _Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return torch.relu(self.conv(x) + x)


def test_add_tables_take_no_arena():
    """The add of an 8 x 10 x 10 residual (800 outputs) adds nothing to the arena: its two tables
    are a 512-word constant in the engine's weights."""
    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((4, 8, 10, 10)).astype(np.float32)
    _, g, p = int8_graph(_Residual(8).eval(), x)
    (op,) = [o for o in g.ops if o.kind == "add"]
    assert not [k for k in p.sizes if k == f"scratch:{op.name}"]
    tab = kernel_arrays(g, op)["rescale"]
    assert tab.dtype == np.int32 and tab.shape == (512,)


# (input scales, zero points, output scale, output zero point, activation, least distinct outputs):
# out_shift in 1 .. 22 (the double rule's four-a-pass path), a ReLU clamp (its other path), out_shift
# above 22 (both rules' general path), and below 1 (a left shift: all but cancelling pairs saturate)
CASES = [((0.02, 0.05), (-3, 17), 0.04, 5, None, 100), ((0.02, 0.05), (-3, 17), 0.04, 5, [0.0, None], 100),
         ((0.01, 0.01), (7, -9), 0.4, -2, None, 10), ((0.5, 0.3), (100, -128), 1.5e-6, -7, None, 3)]


def _op(case, rule):
    (s1, s2), (z1, z2), so, zo, act, _ = case
    tins = [Tensor("a", (256, 16, 16), s1, z1), Tensor("b", (256, 16, 16), s2, z2)]
    tout = Tensor("y", (256, 16, 16), so, zo)
    attrs, _ = add.lower(SimpleNamespace(inputs=["a", "b"], attrs={"act": act}, where="test"),
                         SimpleNamespace(tins=tins, tout=tout))
    op = Op("add", "add", ["a", "b"], "y", attrs)
    return Graph({t.name: t for t in (*tins, tout)}, [op], "a", "y", {"rounding": rule}), op


@pytest.mark.parametrize("rule", ["single", "double"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_add_from_flash_tables_equals_reference_on_all_pairs(rule, case, tmp_path):
    g, op = _op(CASES[case], rule)
    tab = kernel_arrays(g, op)["rescale"]
    a = op.attrs
    ta, tb, tout = (g.tensors[t] for t in ("a", "b", "y"))
    params = (f"{ta.zero_point}, {tb.zero_point}, {tout.zero_point}, {a['left_shift']}, {a['mult'][0]}, "
              f"{a['shift'][0]}, {a['mult'][1]}, {a['shift'][1]}, {a['out_mult']}, {a['out_shift']}, "
              f"{a['act'][0]}, {a['act'][1]}")
    (tmp_path / "h.c").write_text(
        '#include <stdio.h>\n#include "mcd_kernels.h"\n'
        f"static const int32_t tab[512] = {{{', '.join(map(str, tab.tolist()))}}};\n"
        "static int8_t a[65536], b[65536], o1[65536], o2[65536];\nstatic int32_t scratch[512];\n"
        "int main(void) {\n"
        f"    const mcd_add_params p = {{ {params} }};\n"
        "    for (int i = 0; i < 65536; i++) { a[i] = (int8_t)(i >> 8); b[i] = (int8_t)i; }\n"
        "    mcd_add_s8_tab(&p, 65536, a, b, o1, tab);\n"
        "    mcd_add_s8(&p, 65536, a, b, o2, scratch);\n"  # the scratch path fills the same tables
        "    fwrite(o1, 1, 65536, stdout); fwrite(o2, 1, 65536, stdout); return 0;\n}\n")
    exe = tmp_path / "h"
    # the rule as a -D: kernels/mcd_config.h (single) keeps a value defined before it
    subprocess.run(["cc", "-std=gnu99", "-O2", f"-DMCD_ROUNDING_DOUBLE={int(rule == 'double')}", f"-I{KERNELS}", str(tmp_path / "h.c"),
                    str(KERNELS / "add_s8.c"), "-o", str(exe)], check=True, capture_output=True, text=True)
    out = np.frombuffer(subprocess.run([str(exe)], check=True, capture_output=True).stdout, np.int8)
    i = np.arange(65536)
    xa, xb = (i >> 8).astype(np.uint8).view(np.int8), (i & 255).astype(np.uint8).view(np.int8)
    op.attrs["_rounding"] = rule
    want = add.reference(op, [xa, xb], [ta, tb], tout)
    for got, path in ((out[:65536], "flash tables"), (out[65536:], "scratch tables")):
        bad = np.flatnonzero(got != want)
        assert not bad.size, (f"{path}: {bad.size} differ, first a={xa[bad[0]]} b={xb[bad[0]]}: "
                              f"{got[bad[0]]} vs {want[bad[0]]}")
    assert len(set(want.tolist())) >= CASES[case][5]  # the case reaches the outputs, not only saturation
