"""Max and average pooling (2-D, and 1-D as a 1 x L map; ceil_mode; AdaptiveAvgPool(1) and the
global mean as 'gap', lowered to an avgpool over the whole map). Both keep their input's
quantization (as TFLite requires):

* maxpool: max of q over the window (padding never wins);
* avgpool: sum of q over the window (padding counts as zp_in when count_include_pad), divided by
  torch's count with rounding half away from zero; no requantization, so no rounding rule.

A max-pool right after a conv is fused into it by the simplify pass (ops/conv.py's 'pool').

Usage::

    nn.MaxPool2d(2), nn.AvgPool2d(3, 2, 1, ceil_mode=True), nn.AdaptiveAvgPool2d(1)
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from .. import quantize as Q
from . import OpRecord, fnode, register
from . import one_arg as _one
from . import pair_arg as _pair


def max_pool2d(a, k):
    x, ks = a[0], _pair(a[1])
    stride = _pair(a[2] if len(a) > 2 else k.get("stride"), ks)
    pad = _pair(a[3] if len(a) > 3 else k.get("padding", 0), 0)
    dil = _pair(a[4] if len(a) > 4 else k.get("dilation", 1), 1)
    ceil = a[5] if len(a) > 5 else k.get("ceil_mode", False)
    if dil != [1, 1]:
        return "max-pool dilation > 1"
    return fnode("maxpool", [x], {"k": ks, "stride": stride, "pad": pad, **({"ceil": True} if ceil else {})})


def avg_pool2d(a, k):
    x, ks = a[0], _pair(a[1])
    stride = _pair(a[2] if len(a) > 2 else k.get("stride"), ks)
    pad = _pair(a[3] if len(a) > 3 else k.get("padding", 0), 0)
    ceil = a[4] if len(a) > 4 else k.get("ceil_mode", False)
    include = a[5] if len(a) > 5 else k.get("count_include_pad", True)
    div = a[6] if len(a) > 6 else k.get("divisor_override")
    if div is not None:
        return "divisor_override"
    return fnode("avgpool", [x], {"k": ks, "stride": stride, "pad": pad, "count_include_pad": bool(include),
                                  **({"ceil": True} if ceil else {})})


def as_1d(fn, argn: int):
    """A 1-D pool as its 2-D form on a 1 x L map (attr '1d')."""
    def handler(a, k):
        a = list(a)
        for i in range(1, min(argn, len(a))):
            if isinstance(a[i], (list, tuple, int)) and not isinstance(a[i], bool) and a[i] != []:
                a[i] = [1 if i != 3 else 0, _one(a[i], 1 if i != 3 else 0)]
        node = fn(a, {kk: ([1, _one(v, 0)] if kk in ("stride", "padding", "dilation") and v is not None else v)
                      for kk, v in k.items()})
        if not isinstance(node, str):
            node.attrs["1d"] = True
        return node
    return handler


def adaptive_avg_pool1d(a, k):
    if _one(a[1], 1) != 1:
        return f"output size {a[1]} (only AdaptiveAvgPool1d(1), a global average, is supported)"
    return fnode("gap", [a[0]], {"1d": True})


def adaptive_avg_pool2d(a, k):
    if _pair(a[1]) != [1, 1]:
        return f"output size {a[1]} (only AdaptiveAvgPool2d(1), a global average, is supported)"
    return fnode("gap", [a[0]])


def maxpool_in_place_ok(in_shape, out_shape, k, stride, pad) -> bool:
    """True when, walking outputs in order, no output pixel reads an input pixel already overwritten."""
    _, w, _ = in_shape
    oh, ow, _ = out_shape
    oy, ox = np.meshgrid(np.arange(oh), np.arange(ow), indexing="ij")
    iy0 = np.maximum(oy * stride[0] - pad[0], 0)
    ix0 = np.maximum(ox * stride[1] - pad[1], 0)
    return bool(np.all(iy0 * w + ix0 >= oy * ow + ox))


def _pool_pad4(op, x, tout) -> list[int]:
    """[t, l, b, r]: bottom/right padding follows from the output size (ceil_mode adds a partial
    window past the symmetric padding)."""
    k, s, p = op.attrs["k"], op.attrs["stride"], op.attrs["pad"]
    oh, ow = (tout.shape[0], tout.shape[1]) if len(tout.shape) == 3 else (1, 1)
    return [p[0], p[1], max(p[0], (oh - 1) * s[0] + k[0] - x.shape[1] - p[0]),
            max(p[1], (ow - 1) * s[1] + k[1] - x.shape[2] - p[1])]


def _pool_windows(op, x, tout, fill):
    from ..reference import _windows

    win = _windows(x, op.attrs["k"], op.attrs["stride"], _pool_pad4(op, x, tout), fill)
    oh, ow = (tout.shape[0], tout.shape[1]) if len(tout.shape) == 3 else (1, 1)
    return win[:, :oh, :ow]


def maxpool_reference(op, xs, tins, tout):
    return _pool_windows(op, xs[0], tout, Q.INT8_MIN).max(axis=(-2, -1))


def avgpool_reference(op, xs, tins, tout):
    x, tin = xs[0], tins[0]
    k, s, p = op.attrs["k"], op.attrs["stride"], op.attrs["pad"]
    total = _pool_windows(op, x.astype(np.int64), tout, 0).sum(axis=(-2, -1))
    valid = _pool_windows(op, np.ones((1,) + x.shape[1:3] + (1,), np.int64), tout, 0).sum(axis=(-2, -1))
    if op.attrs["count_include_pad"]:  # torch's divisor: the window clipped to the padded input
        oh, ow = total.shape[1:3]
        y0, x0 = np.arange(oh) * s[0] - p[0], np.arange(ow) * s[1] - p[1]
        ch = np.minimum(y0 + k[0], x.shape[1] + p[0]) - y0
        cw = np.minimum(x0 + k[1], x.shape[2] + p[1]) - x0
        count = (ch[:, None] * cw[None, :])[None, :, :, None]
        total = total + (count - valid) * tin.zero_point
    else:
        count = valid
    avg = np.sign(total) * ((np.abs(total) + count // 2) // count)  # half away from zero
    y = np.clip(avg, Q.INT8_MIN, Q.INT8_MAX).astype(np.int8)
    return y.reshape((len(y),) + tuple(tout.shape))  # a global mean to a vector (mean without keepdim) too


def _lower_pool(n, ctx):
    return {k: n.attrs[k] for k in ("k", "stride", "pad", "count_include_pad") if k in n.attrs}, {}


def _lower_gap(n, ctx):
    h, w, _c = ctx.tins[0].shape
    return {"kind": "avgpool", "k": [h, w], "stride": [h, w], "pad": [0, 0], "count_include_pad": True}, {}


def _maxpool_in_place(g, op) -> bool:
    tin, tout = g.tensors[op.inputs[0]], g.tensors[op.output]
    return maxpool_in_place_ok(tin.shape, tout.shape, op.attrs["k"], op.attrs["stride"], op.attrs["pad"])


_POOL_CALL = ("static const mcd_pool_params p = { {{ l.attrs.k[0] }}, {{ l.attrs.k[1] }}, {{ l.attrs.stride[0] }}, "
              "{{ l.attrs.stride[1] }}, {{ l.attrs.pad[0] }}, {{ l.attrs.pad[1] }}, "
              "{{ 1 if l.attrs.get(\"count_include_pad\") else 0 }}, {{ l.in_zp }} };\n"
              "static const mcd_dims in_d = { {{ l.in_dims | join(', ') }} };\n"
              "static const mcd_dims out_d = { {{ l.out_dims | join(', ') }} };\n"
              "mcd_{{ l.kind }}_s8(&p, &in_d, {{ l.ins[0] }}, &out_d, {{ l.out }});")

register(OpRecord(
    name="maxpool", reference=maxpool_reference, quant="inherit", lower=_lower_pool,
    float_fn=lambda n, xs: F.max_pool2d(xs[0], n.attrs["k"], n.attrs["stride"], n.attrs["pad"],
                                        ceil_mode=n.attrs.get("ceil", False)),
    aten={"max_pool2d.default": max_pool2d, "max_pool2d_with_indices.default": max_pool2d,
          "max_pool1d.default": as_1d(max_pool2d, 5), "max_pool1d_with_indices.default": as_1d(max_pool2d, 5)},
    c_files=["maxpool_s8.c"], c_call=_POOL_CALL, in_place=_maxpool_in_place, channels="elementwise",
    supported="MaxPool2d/MaxPool1d (ceil_mode too)",
    rounding="none (a max at the input's quantization)",
))

register(OpRecord(
    name="avgpool", reference=avgpool_reference, quant="inherit", lower=_lower_pool,
    float_fn=lambda n, xs: F.avg_pool2d(xs[0], n.attrs["k"], n.attrs["stride"], n.attrs["pad"],
                                        ceil_mode=n.attrs.get("ceil", False),
                                        count_include_pad=n.attrs["count_include_pad"]),
    aten={"avg_pool2d.default": avg_pool2d, "avg_pool1d.default": as_1d(avg_pool2d, 4)},
    c_files=["avgpool_s8.c"], c_call=_POOL_CALL, channels="elementwise",
    supported="AvgPool2d/AvgPool1d (ceil_mode too)",
    rounding="integer division rounded half away from zero (either rule)",
))

register(OpRecord(  # AdaptiveAvgPool(1) / the spatial mean: an avgpool over the whole map
    name="gap", quant="inherit", lower=_lower_gap,
    float_fn=lambda n, xs: xs[0].mean(dim=(2, 3), keepdim=len(n.shape) == (2 if n.attrs.get("1d") else 3)),
    aten={"adaptive_avg_pool2d.default": adaptive_avg_pool2d, "adaptive_avg_pool1d.default": adaptive_avg_pool1d},
    channels="elementwise", supported="AdaptiveAvgPool2d(1)/AdaptiveAvgPool1d(1)",
))
