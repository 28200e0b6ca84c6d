"""PReLU (one slope, or one per channel): out = x for x >= 0, alpha_c * x below, as TFLite's
PRELU: alpha quantized int8 symmetric (scale max|alpha| / 127), then

    q >= zp_in:  out = zp_out + requant(q - zp_in,                 s_in / s_out)
    q <  zp_in:  out = zp_out + requant((q - zp_in) * alpha_q[c],  s_in * s_alpha / s_out)

with mcd_requant / quantize.requantize (so the rounding switch covers it).

Usage::

    nn.PReLU(16)          # -> prelu, per channel
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from .. import quantize as Q
from . import OpRecord, clip8, fnode, register


def handler(a, k):
    w = a[1]
    if isinstance(w, str):
        return "PReLU with a slope computed by the model (only a parameter)"
    return fnode("prelu", [a[0]], {}, {"weight": w})


def float_fn(n, xs):
    return F.prelu(xs[0], n.params["weight"])


def lower(n, ctx):
    tin, tout = ctx.tins[0], ctx.tout
    c = tin.shape[-1]
    alpha = np.broadcast_to(n.params["weight"].detach().double().numpy().reshape(-1), (c,))
    s_a = max(float(np.abs(alpha).max()), 1e-12) / 127.0
    aq = np.clip(np.round(alpha / s_a), -127, 127).astype(np.int8)
    pm, ps = Q.quantize_multiplier(tin.scale / tout.scale)
    nm, ns = Q.quantize_multiplier(tin.scale * s_a / tout.scale)
    return {"pos_mult": pm, "pos_shift": ps, "neg_mult": nm, "neg_shift": ns}, {"alpha": aq}


def reference(op, xs, tins, tout):
    a = op.attrs
    x = xs[0].astype(np.int64) - tins[0].zero_point
    pos = Q.requantize(x, a["pos_mult"], a["pos_shift"])
    neg = Q.requantize(x * op.arrays["alpha"].astype(np.int64), a["neg_mult"], a["neg_shift"])
    return clip8(np.where(x >= 0, pos, neg) + tout.zero_point)


register(OpRecord(
    name="prelu", channels="elementwise", reference=reference, float_fn=float_fn, lower=lower,
    aten={"prelu.default": handler, "_prelu_kernel.default": handler},
    select=lambda g, op: "generic",
    c_files=["prelu_s8.c"],
    c_decl="void mcd_prelu_s8(int32_t pixels, int32_t c, const int8_t *in, const int8_t *alpha, int32_t in_zp, "
           "int32_t out_zp, int32_t pos_mult, int32_t pos_shift, int32_t neg_mult, int32_t neg_shift, int8_t *out);",
    c_call="mcd_prelu_s8({{ l.out_n // l.out_dims[2] }}, {{ l.out_dims[2] }}, {{ l.ins[0] }}, mcd_{{ l.c }}_alpha, "
           "{{ l.in_zp }}, {{ l.out_zp }}, {{ l.attrs.pos_mult }}, {{ l.attrs.pos_shift }}, {{ l.attrs.neg_mult }}, "
           "{{ l.attrs.neg_shift }}, {{ l.out }});",
    in_place=True,
    supported="PReLU",
    rounding="single (mcd_requant), TFLite PRELU scheme",
))
