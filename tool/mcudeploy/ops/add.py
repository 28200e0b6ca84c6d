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


def reference(op, xs, tins, tout):
    from ..reference import _finish, _rounding

    a = op.attrs
    ls = a["left_shift"]
    r = _rounding(op)
    y1 = Q.requantize((xs[0].astype(np.int64) - tins[0].zero_point) << ls, a["mult"][0], a["shift"][0], r)
    y2 = Q.requantize((xs[1].astype(np.int64) - tins[1].zero_point) << ls, a["mult"][1], a["shift"][1], r)
    return _finish(y1 + y2, op, tout.zero_point, a["out_mult"], a["out_shift"])


def scratch(g, op) -> int:
    """Adds of codegen.kernels.ADD_LUT_MIN outputs or more tabulate their input rescale: 2 x 256 int32."""
    from ..codegen.kernels import ADD_LUT_MIN

    return 2 * 256 * 4 if g.tensors[op.output].size >= ADD_LUT_MIN else 0


register(OpRecord(
    name="add", reference=reference, lower=lower, float_fn=lambda n, xs: xs[0] + xs[1],
    scratch=scratch, c_scratch=lambda g, op: f"mcd_add_s8_scratch_bytes({g.tensors[op.output].size})",
    layer=lambda g, op, d: {"zp2": g.tensors[op.inputs[1]].zero_point},
    c_files=["add_s8.c"],
    c_call="static const mcd_add_params p = { {{ l.in_zp }}, {{ l.zp2 }}, {{ l.out_zp }}, {{ l.attrs.left_shift }}, "
           "{{ l.attrs.mult[0] }}, {{ l.attrs.shift[0] }}, {{ l.attrs.mult[1] }}, {{ l.attrs.shift[1] }}, "
           "{{ l.attrs.out_mult }}, {{ l.attrs.out_shift }}, {{ l.attrs.act[0] }}, {{ l.attrs.act[1] }} };\n"
           "mcd_add_s8(&p, {{ l.out_n }}, {{ l.ins[0] }}, {{ l.ins[1] }}, {{ l.out }}, {{ l.scratch }});",
    in_place="any", rounding_family="other", channels="elementwise", supported="tensor + tensor",
    rounding="single or double (the graph's rule), TFLite ADD scheme (left shift 20)",
))
