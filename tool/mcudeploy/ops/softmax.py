"""Softmax over the channel dim (a classifier's last dim, or per pixel over channels), int8 in
and out, output quantization fixed as TFLite's (scale 1/256, zero point -128).

Usage::

    F.softmax(logits, dim=-1)     # -> softmax

Integer semantics (all integer, so C and numpy agree exactly): d = max - q in [0, 255] per
element; e = E[d] from a 256-entry int32 table E[d] = round(2^16 * exp(-s_in * d)) built on the
host; sum = sum of e over the channels (< 2^31 for up to 16384 channels); out = floor((512 e +
sum) / (2 sum)) - 128 = round(256 e / sum) half up, clamped to int8. Within one output step of
the float softmax (the table carries 16 bits).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UnsupportedOpError
from . import OpRecord, device_axis, fnode, register

MAX_CHANNELS = 16384


def handler(a, k):
    return fnode("softmax", [a[0]], {"dim": int(a[1] if len(a) > 1 else k["dim"])})


def float_fn(n, xs):
    return torch.softmax(xs[0], dim=n.attrs["dim"])


def lower(n, ctx):
    rank = len(ctx.in_shapes[0]) + 1
    tin = ctx.tins[0]
    if device_axis(n.attrs["dim"], rank) != len(tin.shape) - 1:
        raise UnsupportedOpError(f"softmax over dim {n.attrs['dim']} of a {rank}-D tensor in {n.where}: "
                                 "only over the channel dim (dim=1, or the last dim of a vector)")
    c = tin.shape[-1]
    if c > MAX_CHANNELS:
        raise UnsupportedOpError(f"softmax over {c} channels in {n.where}: at most {MAX_CHANNELS}")
    d = np.arange(256, dtype=np.float64)
    table = np.floor(np.exp(-tin.scale * d) * 65536.0 + 0.5).astype(np.int32)
    return {"channels": int(c)}, {"exp": table}


def reference(op, xs, tins, tout):
    x = xs[0].astype(np.int64)
    d = x.max(axis=-1, keepdims=True) - x
    e = op.arrays["exp"].astype(np.int64)[d]
    s = e.sum(axis=-1, keepdims=True)
    return np.clip((512 * e + s) // (2 * s) - 128, -128, 127).astype(np.int8)


register(OpRecord(
    name="softmax", channels="reduce", reference=reference, float_fn=float_fn, lower=lower, quant=lambda n, tins: (1.0 / 256, -128),
    aten={"_softmax.default": handler, "softmax.int": handler},
    select=lambda g, op: "generic",
    c_files=["softmax_s8.c"],
    c_decl="void mcd_softmax_s8(int32_t rows, int32_t c, const int8_t *in, const int32_t *exp_table, int8_t *out);",
    c_call="mcd_softmax_s8({{ l.out_n // l.attrs.channels }}, {{ l.attrs.channels }}, {{ l.ins[0] }}, "
           "mcd_{{ l.c }}_exp, {{ l.out }});",
    in_place=True,
    supported="Softmax over channels (int8, output 1/256)",
    rounding="integer exp table (16 bits), division rounded half up",
))
