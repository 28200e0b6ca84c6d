"""flatten / view / reshape to a vector. On the device it is usually free: 'reshape' is the same
bytes under another shape (the planner aliases it, no layer runs). A flatten of an H x W x C map
(HWC on the device, CHW in torch) that only Linear layers read is folded into their weight columns
(``fc`` permutes them, see ops/fc.py); any other flatten of a map becomes 'to_chw', a copy into
torch's order.

Usage::

    x.flatten(1)      # before nn.Linear: free; as the model's output: to_chw
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from . import OpRecord, fnode, register


def handler(a, k):
    return fnode("reshape", [a[0]])


def lower(n, ctx):
    tin, tout = ctx.tins[0], ctx.tout
    if len(tout.shape) != 1 or tout.size != tin.size:
        raise UnsupportedOpError(f"reshape to {n.shape} in {n.where}: only flattening to a vector is supported")
    if len(tin.shape) == 3 and tin.shape[2] > 1 and tin.shape[0] * tin.shape[1] > 1:
        users = ctx.fg.users(n.name)
        if users and all(u.op == "linear" for u in users) and ctx.fg.output != n.name:
            h, w_, c = tin.shape  # device index (y, x, ch) holds torch index ch*H*W + y*W + x
            ctx.shared.setdefault("col_perm", {})[n.name] = np.arange(c * h * w_).reshape(c, h, w_).transpose(
                1, 2, 0).reshape(-1)
        else:
            return {"kind": "to_chw"}, {}
    return {}, {}


register(OpRecord(
    name="reshape", quant="inherit", lower=lower,
    float_fn=lambda n, xs: xs[0].reshape((xs[0].shape[0],) + tuple(n.shape)),
    aten={k: handler for k in ("flatten.using_ints", "view.default", "reshape.default", "_unsafe_view.default",
                               "squeeze.dims", "squeeze.dim")},
    reference=lambda op, xs, tins, tout: xs[0].reshape((len(xs[0]),) + tuple(tout.shape)),
    alias=True, channels="reduce", supported="flatten/view/reshape",
))

register(OpRecord(
    name="to_chw",
    reference=lambda op, xs, tins, tout: xs[0].transpose(0, 3, 1, 2).reshape((len(xs[0]),) + tuple(tout.shape)),
    c_files=["to_chw_s8.c"],
    c_call="static const mcd_dims in_d = { {{ l.in_dims | join(', ') }} };\n"
           "mcd_to_chw_s8(&in_d, {{ l.ins[0] }}, {{ l.out }});",
    channels="reduce", rounding="none (a copy)",
))
