"""torch.mean over any dims, with or without keepdim. The spatial mean of a map (dims (2, 3),
or the length of a 1-D signal) is the global average pool (avgpool kernel); any other mean whose
reduced axes are contiguous in the HWC device layout (channels; H of a map; ...) is 'mean':
sums over (outer, reduce, inner) views, divided with rounding half away from zero, same
quantization in and out (as avgpool and TFLite's MEAN with equal scales).

Usage::

    x.mean((2, 3))              # -> avgpool over the whole map (output C)
    x.mean(1, keepdim=True)     # -> mean, outer H*W, reduce C, inner 1

The lowering checks its (outer, reduce, inner) against torch's semantics on an index pattern,
so a mean whose output order would differ from the device layout is refused, not miscomputed.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UnsupportedOpError
from . import OpRecord, device_axis, fnode, register, to_device, to_torch


def handler(a, k):
    dims = a[1] if len(a) > 1 else k.get("dim")
    if dims is None:
        return "mean over all dims (give the dims)"
    dims = [dims] if isinstance(dims, int) else list(dims)
    keep = bool(a[2] if len(a) > 2 else k.get("keepdim", False))
    return fnode("mean", [a[0]], {"dims": dims, "keepdim": keep})


def float_fn(n, xs):
    return xs[0].mean(dim=n.attrs["dims"], keepdim=n.attrs["keepdim"])


def _rounded_mean(total: np.ndarray, count: int) -> np.ndarray:
    return np.sign(total) * ((np.abs(total) + count // 2) // count)


def lower(n, ctx):
    tin = ctx.tins[0]
    shape_t = ctx.in_shapes[0]
    rank = len(shape_t) + 1
    axes = sorted({device_axis(d, rank) for d in n.attrs["dims"]})
    dev = list(tin.shape)
    if rank in (3, 4) and axes == ([0, 1] if rank == 4 else [1]):  # the spatial mean: a global average pool
        return {"kind": "avgpool", "k": dev[:2], "stride": dev[:2], "pad": [0, 0], "count_include_pad": True}, {}
    if axes != list(range(axes[0], axes[-1] + 1)):
        raise UnsupportedOpError(f"mean over dims {n.attrs['dims']} in {n.where}: the reduced dims are not "
                                 "contiguous in the channel-last layout")
    outer = int(np.prod(dev[:axes[0]]))
    red = int(np.prod(dev[axes[0]:axes[-1] + 1]))
    inner = int(np.prod(dev[axes[-1] + 1:]))
    probe = np.random.default_rng(0).integers(-50, 50, (1, tin.size)).astype(np.int64)
    want = to_device(to_torch(probe, tin.shape, shape_t).sum(axis=tuple(d % rank for d in n.attrs["dims"]),
                                                    keepdims=n.attrs["keepdim"]))
    got = probe.reshape(outer, red, inner).sum(axis=1).reshape(1, -1)
    if want.shape != got.shape or not (want == got).all():
        raise UnsupportedOpError(f"mean over dims {n.attrs['dims']} in {n.where}: its output order differs "
                                 "from the channel-last layout (try keepdim=True)")
    return {"outer": outer, "reduce": red, "inner": inner}, {}


def reference(op, xs, tins, tout):
    a = op.attrs
    n = len(xs[0])
    total = xs[0].astype(np.int64).reshape(n, a["outer"], a["reduce"], a["inner"]).sum(axis=2)
    return np.clip(_rounded_mean(total, a["reduce"]), -128, 127).astype(np.int8).reshape((n,) + tuple(tout.shape))


register(OpRecord(
    name="mean", channels="reduce", reference=reference, float_fn=float_fn, lower=lower, quant="inherit",
    aten={"mean.dim": handler},
    select=lambda g, op: "generic",
    c_files=["mean_s8.c"],
    c_decl="void mcd_mean_s8(int32_t outer, int32_t reduce, int32_t inner, const int8_t *in, int8_t *out);",
    c_call="mcd_mean_s8({{ l.attrs.outer }}, {{ l.attrs.reduce }}, {{ l.attrs.inner }}, {{ l.ins[0] }}, {{ l.out }});",
    supported="mean over any dims (keepdim or not)",
    rounding="integer sum / count, half away from zero (as avgpool)",
))
_ = torch
