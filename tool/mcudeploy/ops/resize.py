"""Upsampling by an integer factor: nearest (any factor) and bilinear x2 (align_corners=False,
torch's default: half-pixel centres), for decoders. Same quantization in and out.

Usage::

    F.interpolate(x, scale_factor=2, mode="bilinear")     # -> resize, mode 1

Bilinear x2 with half-pixel centres weighs the two nearest input rows 3/4 and 1/4 (edges
clamped), so each output is (9a + 3b + 3c + d) / 16 of four input values; the zero point
cancels (the weights sum to 16) and the integer sum is rounded half up: floor((s + 8) / 16).
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from ..errors import UnsupportedOpError
from . import OpRecord, fnode, register


def _handler(mode: str):
    def handler(a, k):
        ac = a[2] if mode == "bilinear" and len(a) > 2 else k.get("align_corners", False)
        if ac:
            return "bilinear upsampling with align_corners=True (only align_corners=False)"
        return fnode("resize", [a[0]], {"mode": mode})
    return handler


def float_fn(n, xs):
    size = tuple(n.shape[1:])
    if n.attrs["mode"] == "nearest":
        return F.interpolate(xs[0], size=size, mode="nearest")
    return F.interpolate(xs[0], size=size, mode="bilinear", align_corners=False)


def lower(n, ctx):
    (h, w, _c), (oh, ow, _) = ctx.tins[0].shape, ctx.tout.shape
    if oh % h or ow % w:
        raise UnsupportedOpError(f"upsampling {h}x{w} to {oh}x{ow} in {n.where}: only integer factors")
    fy, fx = oh // h, ow // w
    mode = n.attrs["mode"]
    if mode == "bilinear" and (fy, fx) != (2, 2):
        raise UnsupportedOpError(f"bilinear upsampling by {fy}x{fx} in {n.where}: only x2 (or mode='nearest')")
    return {"mode": 0 if mode == "nearest" else 1, "fy": fy, "fx": fx}, {}


def _bilinear_axis(x: np.ndarray, axis: int) -> np.ndarray:
    """x2 along an axis with weights (3, 1): returns 4 * the interpolated values (integers)."""
    n = x.shape[axis]
    i = np.arange(n)
    prev = np.take(x, np.maximum(i - 1, 0), axis=axis)
    nxt = np.take(x, np.minimum(i + 1, n - 1), axis=axis)
    even, odd = 3 * x + prev, 3 * x + nxt
    out = np.stack([even, odd], axis=axis + 1)
    shape = list(x.shape)
    shape[axis] = 2 * n
    return out.reshape(shape)


def reference(op, xs, tins, tout):
    x = xs[0]
    if op.attrs["mode"] == 0:
        return np.repeat(np.repeat(x, op.attrs["fy"], axis=1), op.attrs["fx"], axis=2)
    s = _bilinear_axis(_bilinear_axis(x.astype(np.int64), 1), 2)  # 16 x the value
    return np.clip((s + 8) >> 4, -128, 127).astype(np.int8)


register(OpRecord(
    name="resize", channels="elementwise", reference=reference, float_fn=float_fn, lower=lower, quant="inherit",
    aten={"upsample_nearest2d.vec": _handler("nearest"), "upsample_nearest2d.default": _handler("nearest"),
          "upsample_bilinear2d.vec": _handler("bilinear"), "upsample_bilinear2d.default": _handler("bilinear")},
    select=lambda g, op: "generic",
    c_files=["resize_s8.c"],
    c_decl="void mcd_resize_s8(const mcd_dims *in_d, const int8_t *in, int32_t mode, int32_t fy, int32_t fx, "
           "int8_t *out);",
    c_call="static const mcd_dims in_d = { {{ l.in_dims | join(', ') }} };\n"
           "mcd_resize_s8(&in_d, {{ l.ins[0] }}, {{ l.attrs.mode }}, {{ l.attrs.fy }}, {{ l.attrs.fx }}, {{ l.out }});",
    supported="Upsample/interpolate nearest (integer factor), bilinear x2",
    rounding="nearest: copy; bilinear: integer weights /16, half up",
))
