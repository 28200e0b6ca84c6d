"""torch.cat along channels: 'cat' in the float graph, 'concat' on the device. Each input is copied
(same quantization as the output) or requantized into its channel slice:
out[..., off:off+c] = zp_out + requant(q - zp_in, s_in / s_out). (TFLite's int8 concatenation
requires equal quantization, a copy; the rescale exists on the PyTorch path.)

Usage::

    torch.cat([a, b], dim=1)
"""

from __future__ import annotations

import numpy as np
import torch

from .. import quantize as Q
from ..errors import UnsupportedOpError
from . import OpRecord, fnode, register


def handler(a, k):
    dim = a[1] if len(a) > 1 else k.get("dim", 0)
    if dim not in (1, -3, -1):
        return f"concatenation along dim {dim} (only the channel dim 1 is supported)"
    return fnode("cat", list(a[0]), {"dim": dim})


def lower(n, ctx):
    tin, tout = ctx.tins[0], ctx.tout
    if any(t.shape[:-1] != tin.shape[:-1] for t in ctx.tins):
        raise UnsupportedOpError(f"torch.cat in {n.where} of shapes {[t.shape for t in ctx.tins]}")
    mult, shift, copy = [], [], []
    for t in ctx.tins:
        same = t.scale == tout.scale and t.zero_point == tout.zero_point
        m, sh = (0, 0) if same else Q.quantize_multiplier(t.scale / tout.scale)
        mult.append(m)
        shift.append(sh)
        copy.append(same)
    return {"kind": "concat", "mult": mult, "shift": shift, "copy": copy}, {}


def reference(op, xs, tins, tout):
    from ..reference import _rounding

    parts = []
    for x, t, m, s, copy in zip(xs, tins, op.attrs["mult"], op.attrs["shift"], op.attrs["copy"]):
        if copy:
            parts.append(x)
        else:
            y = Q.requantize(x.astype(np.int64) - t.zero_point, m, s, _rounding(op)) + tout.zero_point
            parts.append(np.clip(y, Q.INT8_MIN, Q.INT8_MAX).astype(np.int8))
    return np.concatenate(parts, axis=-1)


def layer(g, op, d) -> dict:
    """One kernel call per input: its pointer, channel count and offset in the output pixel."""
    parts, off = [], 0
    for ptr, t, m, s, cp in zip(d["ins"], op.inputs, op.attrs["mult"], op.attrs["shift"], op.attrs["copy"]):
        ti = g.tensors[t]
        c = ti.shape[-1]
        parts.append({"ptr": ptr, "c": c, "is_copy": int(cp), "zp": ti.zero_point, "mult": m, "shift": s, "off": off})
        off += c
    tout = g.tensors[op.output]
    return {"parts": parts, "pixels": tout.size // tout.shape[-1]}


register(OpRecord(
    name="cat", quant="own", lower=lower, float_fn=lambda n, xs: torch.cat(xs, dim=1),
    aten={"cat.default": handler}, channels="concat", supported="torch.cat(dim=1)",
))

register(OpRecord(
    name="concat", reference=reference, layer=layer, c_files=["concat_s8.c"], c_block=False,
    c_call="{% for part in l.parts %}\nmcd_concat_s8({{ l.pixels }}, {{ part.ptr }}, {{ part.c }}, {{ part.is_copy }}, "
           "{{ part.zp }}, {{ part.mult }}, {{ part.shift }}, {{ l.out_zp }}, {{ part.off }}, {{ l.out_dims[2] }}, "
           "{{ l.out }});\n{% endfor %}",
    rounding_family="other", channels="concat",
    rounding="copy, or single/double (the graph's rule) requantization of a differently scaled input",
))
