"""ReLU, ReLU6, Hardtanh and clamp standing alone (not fused into the layer before them): the float
node 'act', lowered to 'clamp' at its input's quantization (TFLite requires equal quantization), so
the kernel only clips: out = min(max(q, lo), hi), lo/hi the bounds quantized at that scale.

Usage::

    torch.clamp(x, -1, 1)     # after an add or a concat (after a conv it fuses into the conv)
"""

from __future__ import annotations

import numpy as np

from . import OpRecord, act_bounds, fnode, register


def relu(a, k):
    return fnode("act", [a[0]], {"act": [0.0, None]})


def hardtanh(a, k):
    lo = a[1] if len(a) > 1 else k.get("min_val", -1.0)
    hi = a[2] if len(a) > 2 else k.get("max_val", 1.0)
    return fnode("act", [a[0]], {"act": [float(lo), float(hi)]})


def clamp(a, k):
    lo = a[1] if len(a) > 1 else k.get("min")
    hi = a[2] if len(a) > 2 else k.get("max")
    return fnode("act", [a[0]], {"act": [None if lo is None else float(lo), None if hi is None else float(hi)]})


def lower(n, ctx):
    return {"kind": "clamp", "act": act_bounds(n.attrs["act"], ctx.tout.scale, ctx.tout.zero_point)}, {}


register(OpRecord(  # the float node: capture pattern, float semantics (capture.run_node applies 'act'), lowering
    name="act", reference=None, quant="inherit", lower=lower, float_fn=lambda n, xs: xs[0],
    aten={"relu.default": relu, "relu_.default": relu, "hardtanh.default": hardtanh, "hardtanh_.default": hardtanh,
          "relu6.default": lambda a, k: fnode("act", [a[0]], {"act": [0.0, 6.0]}),
          "clamp.default": clamp, "clamp_min.default": lambda a, k: clamp([a[0], a[1], None], {})},
    channels="elementwise", supported="ReLU/ReLU6/Hardtanh/clamp",
))

register(OpRecord(
    name="clamp", reference=lambda op, xs, tins, tout: np.clip(xs[0], *op.attrs["act"]).astype(np.int8),
    c_files=["clamp_s8.c"], c_block=False,
    c_call="mcd_clamp_s8({{ l.out_n }}, {{ l.ins[0] }}, {{ l.attrs.act[0] }}, {{ l.attrs.act[1] }}, {{ l.out }});",
    in_place="any", channels="elementwise", rounding="none (a clip at the input's quantization)",
))
