"""tensor + tensor of the same shape (a residual connection), TFLite's ADD scheme: each input
(q - zp) << 20 rescaled to twice the larger input scale, the two summed, rescaled to the output,
a fused activation clipped. Broadcasting adds lower to 'add_bc' (ops/mul.py); the capture pattern
of '+' lives there too (it also covers x + constant).

Usage::

    y = self.block(x) + x
"""

from __future__ import annotations

import numpy as np

from .. import quantize as Q
from . import OpRecord, act_bounds, register


def lower(n, ctx):
    from .mul import bcast_mode  # not at import: records register in module-name order (mcd_ops.h's order)

    t1, t2 = ctx.tins[0], ctx.tins[1]
    if t2.size > t1.size:  # the full-size operand first (add commutes)
        n.inputs.reverse()
        t1, t2 = t2, t1
    attrs: dict = {}
    if t2.shape != t1.shape:  # broadcasting: ops/mul.py's add_bc
        attrs.update(kind="add_bc", mode=bcast_mode(t1.shape, t2.shape, f"in {n.where}"))
    scale, zp = ctx.tout.scale, ctx.tout.zero_point
    twice_max = 2 * max(t1.scale, t2.scale)
    left_shift = 20
    m1, s1 = Q.quantize_multiplier(t1.scale / twice_max)
    m2, s2 = Q.quantize_multiplier(t2.scale / twice_max)
    mo, so = Q.quantize_multiplier(twice_max / ((1 << left_shift) * scale))
    attrs.update(left_shift=left_shift, mult=[m1, m2], shift=[s1, s2], out_mult=mo, out_shift=so,
                 act=act_bounds(n.attrs.get("act"), scale, zp))
    return attrs, {}


def rescale(a: dict, k: int, x: np.ndarray, zp: int, rule: str) -> np.ndarray:
    """Operand k's rescale before the sum (LiteRT's ADD): ``a`` holds the add's constants (an add's
    attrs, or a fused conv's attrs["add"], ops/conv2d.py)."""
    return Q.requantize((x.astype(np.int64) - zp) << a["left_shift"], a["mult"][k], a["shift"][k], rule)


def tables(a: dict, zps, rule: str) -> np.ndarray:
    """Both operands' rescale of every int8 value (2 x 256 int32, entry v + 128), doubled under the
    double rule (the C paths read 2 * sum): add_s8.c's and conv2d_add_s8.c's tables."""
    v = np.arange(-128, 128, dtype=np.int64)
    rows = [rescale(a, k, v, zp, rule) for k, zp in enumerate(zps)]
    return (np.concatenate(rows) * (2 if rule == "double" else 1)).astype(np.int32)


def reference(op, xs, tins, tout):
    from ..reference import _finish, _rounding

    a, r = op.attrs, _rounding(op)
    y1, y2 = (rescale(a, k, xs[k], tins[k].zero_point, r) for k in (0, 1))
    return _finish(y1 + y2, op, tout.zero_point, a["out_mult"], a["out_shift"])


def rescale_tables(g, op) -> dict:
    """Adds of codegen.kernels.ADD_LUT_MIN outputs or more read their per-input rescale from two
    constant tables (2 x 256 int32, 2 KB of flash, mcd_add_s8_tab) instead of filling them in
    arena scratch at every call: the tables depend only on the add's constants, and the arena is
    what bounds small boards (ResNet-small pruned to a third of its arena had 2 KB of its 3.2 KB
    in this table). Entry v + 128 is the reference's rescale of v, doubled under the double rule
    (add_s8.c's paths read 2 * sum)."""
    from ..codegen.kernels import ADD_LUT_MIN, op_rounding

    if g.tensors[op.output].size < ADD_LUT_MIN:
        return {}
    return {"rescale": tables(op.attrs, [g.tensors[t].zero_point for t in op.inputs[:2]], op_rounding(g, op))}


register(OpRecord(
    name="add", reference=reference, lower=lower, float_fn=lambda n, xs: xs[0] + xs[1],
    arrays=rescale_tables,
    layer=lambda g, op, d: {"zp2": g.tensors[op.inputs[1]].zero_point, "tab": bool(rescale_tables(g, op))},
    c_files=["add_s8.c"],
    c_call="static const mcd_add_params p = { {{ l.in_zp }}, {{ l.zp2 }}, {{ l.out_zp }}, {{ l.attrs.left_shift }}, "
           "{{ l.attrs.mult[0] }}, {{ l.attrs.shift[0] }}, {{ l.attrs.mult[1] }}, {{ l.attrs.shift[1] }}, "
           "{{ l.attrs.out_mult }}, {{ l.attrs.out_shift }}, {{ l.attrs.act[0] }}, {{ l.attrs.act[1] }} };\n"
           "{% if l.tab %}mcd_add_s8_tab(&p, {{ l.out_n }}, {{ l.ins[0] }}, {{ l.ins[1] }}, {{ l.out }}, "
           "mcd_{{ l.c }}_rescale);"
           "{% else %}mcd_add_s8(&p, {{ l.out_n }}, {{ l.ins[0] }}, {{ l.ins[1] }}, {{ l.out }}, 0);{% endif %}",
    in_place="any", rounding_family="other", channels="elementwise", supported="tensor + tensor",
    rounding="single or double (the graph's rule), TFLite ADD scheme (left shift 20)",
))
