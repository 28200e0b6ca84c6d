"""Conv2d and Conv1d (as a 1 x L Conv2d): the float node 'conv', lowered by shape to

* 'conv2d'   (groups 1, no dilation): OHWI weights, ops/conv2d.py;
* 'dwconv2d' (depthwise: groups = C_in = C_out): HWC weights, ops/conv2d.py;
* 'gconv2d'  (any other groups, or dilation): ops/gconv.py.

Weights int8 symmetric per output channel (``quantize``), or exact on a low-bit grid when the
float weights are on one; int32 bias; per-channel multipliers; the fused activation's bounds
(``quantize_layer``, shared with ops/fc.py).

Usage::

    nn.Conv2d(8, 16, 3, padding=1), nn.Conv2d(16, 16, 3, groups=16), nn.Conv1d(8, 8, 5)
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from .. import quantize as Q
from . import OpRecord, act_bounds, fnode, register
from . import one_arg as _one
from . import pair_arg as _pair


def _K():
    from ..codegen import kernels

    return kernels


def _conv(x, w, b, stride, padding, dilation, groups):
    """Conv2d, and Conv1d as a 1 x L Conv2d (attr '1d': the float graph unsqueezes its input).
    Dilation and any groups are accepted: depthwise stays 'dwconv2d', the rest lowers to
    'gconv2d' (ops/gconv.py) unless it is an ordinary groups=1, dilation-1 conv."""
    one_d = w.dim() == 3
    if one_d:
        w = w.unsqueeze(2)
        stride, dilation = [1, _one(stride, 1)], [1, _one(dilation, 1)]
        if not isinstance(padding, str):
            padding = [0, _one(padding, 0)]
    dil = _pair(dilation, 1)
    kh, kw = w.shape[2:]
    stride = _pair(stride, 1)
    attrs = {"stride": stride, "groups": groups}
    if dil != [1, 1]:
        attrs["dilation"] = dil
    if one_d:
        attrs["1d"] = True
    params = {"weight": w, **({"bias": b} if b is not None else {})}
    if isinstance(padding, str):
        if padding == "valid":
            padding = [0, 0]
        elif padding == "same":
            if stride != [1, 1]:
                return "padding='same' with stride > 1"
            th, tw = dil[0] * (kh - 1), dil[1] * (kw - 1)
            pt, pl = th // 2, tw // 2
            return fnode("conv", [x], {**attrs, "pad": [pt, pl, th - pt, tw - pl]}, params)
    ph, pw = _pair(padding, 0)
    return fnode("conv", [x], {**attrs, "pad": [ph, pw, ph, pw]}, params)


def conv2d(a, k):
    x, w = a[0], a[1]
    b = a[2] if len(a) > 2 else k.get("bias")
    return _conv(x, w, b, a[3] if len(a) > 3 else k.get("stride", 1), a[4] if len(a) > 4 else k.get("padding", 0),
                 a[5] if len(a) > 5 else k.get("dilation", 1), a[6] if len(a) > 6 else k.get("groups", 1))


def convolution(a, k):
    """aten.convolution (not transposed: ops/convt.py claims the key and hands the rest here)."""
    x, w, b, stride, padding, dilation, transposed, _outpad, groups = a[:9]
    if transposed:
        return "transposed convolution"
    if w.dim() not in (3, 4):
        return f"{w.dim() - 2}-D convolution (only 1-D and 2-D)"
    return _conv(x, w, b, stride, padding, dilation, groups)


def float_fn(n, xs):
    a, p = n.attrs, n.params
    dil = a.get("dilation", 1)
    if not any(a["pad"]):
        return F.conv2d(xs[0], p["weight"], p.get("bias"), a["stride"], 0, dil, a["groups"])
    return F.conv2d(F.pad(xs[0], (a["pad"][1], a["pad"][3], a["pad"][0], a["pad"][2])),
                    p["weight"], p.get("bias"), a["stride"], 0, dil, a["groups"])


def quantize_layer(n, ctx) -> tuple[np.ndarray, dict, dict]:
    """(int8 weights in torch's order, attrs, arrays) shared by conv and linear: per-channel weight
    scales (exact on a low-bit grid), int32 bias, multipliers and the fused activation's bounds."""
    tin, tout = ctx.tins[0], ctx.tout
    w = n.params["weight"].detach().double().numpy()
    b = n.params.get("bias")
    bf = None if b is None else b.detach().double().numpy()
    arrays: dict[str, np.ndarray] = {}
    levels = Q.levels_per_channel(w)
    low = None if levels is None else Q.quantize_lowbit_weights_and_bias(w, bf, tin.scale, levels)
    wq, sw, arrays["bias"] = low if low is not None else Q.quantize_weights_and_bias(w, bf, tin.scale)
    arrays["mult"], arrays["shift"] = Q.channel_multipliers(tin.scale, sw, tout.scale)
    return wq, {"act": act_bounds(n.attrs.get("act"), tout.scale, tout.zero_point)}, arrays


def lower(n, ctx):
    from ..lower import _dev_shape

    tin = ctx.tins[0]
    wq, attrs, arrays = quantize_layer(n, ctx)
    o, ig, kh, kw = wq.shape
    oh, ow = _dev_shape(n.attrs.get("conv_shape") or n.shape)[:2]
    attrs.update(stride=n.attrs["stride"], pad=n.attrs["pad"], pool=n.attrs.get("pool"),
                 macs=oh * ow * o * kh * kw * ig)
    dil = n.attrs.get("dilation", [1, 1])
    dw = ig == 1 and o == n.attrs["groups"] and tin.shape[2] == o
    if dil != [1, 1] or (n.attrs["groups"] != 1 and not dw):  # ops/gconv.py
        attrs["kind"], arrays["weight"] = "gconv2d", np.ascontiguousarray(wq.transpose(0, 2, 3, 1))
        attrs.update(groups=n.attrs["groups"], dilation=dil)
    elif n.attrs["groups"] == 1:
        attrs["kind"], arrays["weight"] = "conv2d", np.ascontiguousarray(wq.transpose(0, 2, 3, 1))
    else:
        attrs["kind"], arrays["weight"] = "dwconv2d", np.ascontiguousarray(wq[:, 0].transpose(1, 2, 0))
    return attrs, arrays


register(OpRecord(
    name="conv", quant="own", lower=lower, float_fn=float_fn,
    aten={"conv2d.default": conv2d, "conv2d.padding": conv2d, "conv1d.default": conv2d, "conv1d.padding": conv2d},
    supported="Conv2d/Conv1d (any groups and dilation)",
    channels="conv",  # gconv2d / depthwise: see compress/structured.py (groups tie channels)
))

