"""Elementwise torch.maximum / torch.minimum of two int8 tensors, with the broadcasting of
ops/mul.py (the full-size tensor first, b per channel / per pixel / a single value).

Usage::

    torch.maximum(x, y)          # -> minmax, mode 0 (max)

Each input is requantized to the output scale, out = zp_o + requant(q - zp_in, s_in / s_out)
(mcd_requant / quantize.requantize), and the larger (smaller) taken; requantization is
monotonic, so this is the max of the real values rounded once. When both inputs share their
quantization the output takes it too and the op is a plain compare (TFLite's MAXIMUM/MINIMUM,
which requires equal quantization): the multipliers are then 1 (mult 2^30, shift -1).
"""

from __future__ import annotations

import numpy as np
import torch

from .. import quantize as Q
from . import OpRecord, clip8, fnode, register
from .mul import _ordered, bcast_mode, broadcast


def _handler(is_max: bool):
    def handler(a, k):
        if not (isinstance(a[0], str) and isinstance(a[1], str)):
            return "maximum/minimum with a constant (only of two tensors)"
        return fnode("minmax", [a[0], a[1]], {"max": is_max})
    return handler


def float_fn(n, xs):
    return torch.maximum(xs[0], xs[1]) if n.attrs["max"] else torch.minimum(xs[0], xs[1])


def quant(n, tins):
    a, b = tins
    return (a.scale, a.zero_point) if (a.scale, a.zero_point) == (b.scale, b.zero_point) else None


def lower(n, ctx):
    a, b = _ordered(n, ctx)
    so = ctx.tout.scale
    (m1, s1), (m2, s2) = Q.quantize_multiplier(a.scale / so), Q.quantize_multiplier(b.scale / so)
    return {"is_max": int(n.attrs["max"]), "mode": bcast_mode(a.shape, b.shape, f"in {n.where}"),
            "mult": [m1, m2], "shift": [s1, s2]}, {}


def reference(op, xs, tins, tout):
    a = op.attrs
    x1 = Q.requantize(xs[0].astype(np.int64) - tins[0].zero_point, a["mult"][0], a["shift"][0])
    x2 = Q.requantize(broadcast(xs[1], tins[0].shape, a["mode"]).astype(np.int64) - tins[1].zero_point,
                      a["mult"][1], a["shift"][1])
    return clip8((np.maximum(x1, x2) if a["is_max"] else np.minimum(x1, x2)) + tout.zero_point)


register(OpRecord(
    name="minmax", channels="elementwise", reference=reference, float_fn=float_fn, quant=quant, lower=lower,
    aten={"maximum.default": _handler(True), "minimum.default": _handler(False)},
    select=lambda g, op: "generic",
    c_files=["minmax_s8.c"],
    c_decl="void mcd_minmax_s8(int32_t pixels, int32_t c, const int8_t *a, const int8_t *b, int32_t b_mode, "
           "int32_t is_max, int32_t zp_a, int32_t zp_b, int32_t mult_a, int32_t shift_a, int32_t mult_b, "
           "int32_t shift_b, int32_t out_zp, int8_t *out);",
    c_call="mcd_minmax_s8({{ l.out_dims[0] * l.out_dims[1] }}, {{ l.out_dims[2] }}, {{ l.ins[0] }}, {{ l.ins[1] }}, "
           "{{ l.attrs.mode }}, {{ l.attrs.is_max }}, {{ l.ins_zp[0] }}, {{ l.ins_zp[1] }}, {{ l.attrs.mult[0] }}, "
           "{{ l.attrs.shift[0] }}, {{ l.attrs.mult[1] }}, {{ l.attrs.shift[1] }}, {{ l.out_zp }}, {{ l.out }});",
    in_place=True,
    supported="torch.maximum/minimum (broadcasting)",
    rounding="single (mcd_requant) of each input to the output scale; a compare when scales are equal",
))
