"""Data movement that is an affine gather in the device layout: permute/transpose, slicing
(x[:, a:b], narrow) and split/chunk (each piece a slice). One kernel: out[oy, ox, oc] =
in[base + oy * s0 + ox * s1 + oc * s2]. Same quantization in and out.

Usage::

    x.permute(0, 1, 3, 2)            # -> strided (a layout change the planner cannot alias)
    a, b = x.split([4, 12], dim=1)   # -> two strided ops (channel slices)

The lowering derives (base, s0, s1, s2) by running the torch op on the element indices of the
input (device layout -> torch layout -> op -> device layout) and checks that every output index
fits the affine form; an op that does not (e.g. a permute mixing a vector's dims) is refused.
The capture of split's pieces is in frontend/capture.py (a getitem of a split is a slice).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UnsupportedOpError
from . import OpRecord, fnode, register, to_device, to_torch

BIG = 2 ** 62


def permute_handler(a, k):
    return fnode("permute", [a[0]], {"dims": [int(d) for d in a[1]]})


def transpose_handler(a, k):
    return fnode("permute", [a[0]], {"swap": [int(a[1]), int(a[2])]})


def slice_handler(a, k):
    dim = int(a[1]) if len(a) > 1 else 0
    start = a[2] if len(a) > 2 else None
    end = a[3] if len(a) > 3 else None
    step = int(a[4]) if len(a) > 4 else 1
    return fnode("slice", [a[0]], {"dim": dim, "start": 0 if start is None else int(start),
                                   "end": BIG if end is None else int(min(end, BIG)), "step": step})


def narrow_handler(a, k):
    return fnode("slice", [a[0]], {"dim": int(a[1]), "start": int(a[2]), "end": int(a[2]) + int(a[3]), "step": 1})


def split_handler(a, k):
    """A split/chunk: not an op of its own; capture turns each getitem of it into a slice."""
    return fnode("split", [a[0]], {"dim": int(a[2]) if len(a) > 2 else int(k.get("dim", 0))})


def _apply(n, x):
    """The torch op on a batched tensor (numpy or torch)."""
    a = n.attrs
    if n.op == "permute":
        if "swap" in a:
            return x.swapaxes(*a["swap"]) if isinstance(x, np.ndarray) else x.transpose(*a["swap"])
        return x.transpose(a["dims"]) if isinstance(x, np.ndarray) else x.permute(a["dims"])
    idx = [slice(None)] * x.ndim
    idx[a["dim"] % x.ndim] = slice(a["start"], a["end"], a["step"])
    return x[tuple(idx)]


def float_fn(n, xs):
    y = _apply(n, xs[0])
    return y.contiguous() if isinstance(y, torch.Tensor) else y


def lower(n, ctx):
    tin, tout = ctx.tins[0], ctx.tout
    idx = np.arange(tin.size, dtype=np.int64).reshape(1, -1)
    src = to_device(np.ascontiguousarray(_apply(n, to_torch(idx, tin.shape, ctx.in_shapes[0]))))[0]
    shape = list(tout.shape) if len(tout.shape) == 3 else [1, 1, tout.size]
    if src.size != tout.size:
        raise UnsupportedOpError(f"{n.op} in {n.where}: output of {src.size} elements, expected {tout.size}")
    grid = src.reshape(shape)
    base = int(grid[0, 0, 0])
    st = [int(grid[1, 0, 0] - base) if shape[0] > 1 else 0, int(grid[0, 1, 0] - base) if shape[1] > 1 else 0,
          int(grid[0, 0, 1] - base) if shape[2] > 1 else 0]
    oy, ox, oc = np.meshgrid(*(np.arange(s) for s in shape), indexing="ij")
    if not (base + oy * st[0] + ox * st[1] + oc * st[2] == grid).all():
        raise UnsupportedOpError(f"{n.op} in {n.where}: not a strided copy in the channel-last layout")
    return {"kind": "strided", "base": base, "strides": st, "dims3": shape}, {}


def reference(op, xs, tins, tout):
    a = op.attrs
    oy, ox, oc = np.meshgrid(*(np.arange(s) for s in a["dims3"]), indexing="ij")
    idx = (a["base"] + oy * a["strides"][0] + ox * a["strides"][1] + oc * a["strides"][2]).reshape(-1)
    n = len(xs[0])
    return xs[0].reshape(n, -1)[:, idx].reshape((n,) + tuple(tout.shape))


for _name, _aten in (("permute", {"permute.default": permute_handler, "transpose.int": transpose_handler}),
                     ("slice", {"slice.Tensor": slice_handler, "narrow.default": narrow_handler,
                                "split.Tensor": split_handler, "split_with_sizes.default": split_handler,
                                "chunk.default": split_handler})):
    register(OpRecord(name=_name, reference=reference, float_fn=float_fn, lower=lower, quant="inherit", aten=_aten,
                        channels="reduce"))

register(OpRecord(
    name="strided", channels="reduce", reference=reference, quant="inherit",
    select=lambda g, op: "generic",
    c_files=["strided_s8.c"],
    c_decl="void mcd_strided_s8(int32_t h, int32_t w, int32_t c, const int8_t *in, int32_t base, int32_t s0, "
           "int32_t s1, int32_t s2, int8_t *out);",
    c_call="mcd_strided_s8({{ l.attrs.dims3 | join(', ') }}, {{ l.ins[0] }}, {{ l.attrs.base }}, "
           "{{ l.attrs.strides | join(', ') }}, {{ l.out }});",
    supported="permute/transpose, slicing, split/chunk",
    rounding="none (copy)",
))
