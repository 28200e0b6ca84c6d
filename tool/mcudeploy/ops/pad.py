"""F.pad / nn.ConstantPad2d with any constant, where it cannot be folded into the convolutions
that read it (a non-zero value, or a pad feeding a pool, an add, the output...). Zero pads that
feed only convolutions are still folded into their padding (frontend/passes.fold_pads).

Usage::

    F.pad(x, (1, 2, 0, 1), value=0.5)    # -> pad: [t, l, b, r] = [0, 1, 1, 2]

Same quantization in and out (as TFLite's PAD): the value is quantized once with the input's
scale and zero point, rounded half to even and clamped to int8 (a value outside the calibrated
range saturates, which is what int8 can hold).
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from .. import quantize as Q
from . import OpRecord, register


def float_fn(n, xs):
    t, l_, b, r = n.attrs["pad"]
    return F.pad(xs[0], (l_, r, t, b), value=n.attrs.get("value", 0.0))


def lower(n, ctx):
    tin = ctx.tins[0]
    q = int(Q.quantize_tensor(np.array([n.attrs.get("value", 0.0)]), tin.scale, tin.zero_point)[0])
    return {"pad": n.attrs["pad"], "value": q}, {}


def reference(op, xs, tins, tout):
    t, l_, b, r = op.attrs["pad"]
    return np.pad(xs[0], ((0, 0), (t, b), (l_, r), (0, 0)), constant_values=op.attrs["value"])


register(OpRecord(
    name="pad", channels="elementwise", reference=reference, float_fn=float_fn, lower=lower, quant="inherit",
    select=lambda g, op: "generic",
    c_files=["pad_s8.c"],
    c_decl="void mcd_pad_s8(const mcd_dims *in_d, const int8_t *in, int32_t pad_t, int32_t pad_l, "
           "const mcd_dims *out_d, int32_t value, int8_t *out);",
    c_call="static const mcd_dims in_d = { {{ l.in_dims | join(', ') }} }, out_d = { {{ l.out_dims | join(', ') }} };\n"
           "mcd_pad_s8(&in_d, {{ l.ins[0] }}, {{ l.attrs.pad[0] }}, {{ l.attrs.pad[1] }}, &out_d, {{ l.attrs.value }}, "
           "{{ l.out }});",
    supported="F.pad constant (any value)",
    rounding="none (copy); the value rounded half to even once",
))
