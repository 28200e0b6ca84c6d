"""nn.Linear: the float node 'linear', lowered to 'fc' on a flat vector. acc = bias + sum of
(q_in - zp_in) * w, per-channel requantization (fully-connected layers have their own rounding
switch, MCD_ROUNDING_DOUBLE_FC: LiteRT rounds them once), the fused activation's clip. A flatten of
an HWC map before it is folded into a permutation of the weight columns (ops/reshape.py), so the
engine never transposes activations. Variants: default (SMLAD over packed rows), sparse, lowbit,
ternary_sparse (gap bytes, additions only) (``codegen.kernels.variant``; the format by ``choose_format``).

Usage::

    nn.Linear(256, 10)
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from ..errors import UnsupportedOpError
from . import OpRecord, fnode, register
from .conv import _K, quantize_layer


def handler(a, k):
    b = a[2] if len(a) > 2 else k.get("bias")
    return fnode("linear", [a[0]], {}, {"weight": a[1], **({"bias": b} if b is not None else {})})


def lower(n, ctx):
    wq, attrs, arrays = quantize_layer(n, ctx)
    if len(ctx.tins[0].shape) != 1:
        raise UnsupportedOpError(f"Linear in {n.where} gets a {len(ctx.tins[0].shape)}-D input; flatten it first")
    perm = ctx.shared.get("col_perm", {}).get(n.inputs[0])
    if perm is not None:
        wq = wq[:, perm]
    arrays["weight"] = np.ascontiguousarray(wq)
    attrs["macs"] = int(wq.shape[0] * wq.shape[1])
    return {"kind": "fc", **attrs}, arrays


def reference(op, xs, tins, tout):
    from ..reference import _finish

    xs = (xs[0].astype(np.float64) - tins[0].zero_point)
    acc = np.rint(xs @ op.arrays["weight"].T.astype(np.float64)).astype(np.int64) + op.arrays["bias"]
    return _finish(acc, op, tout.zero_point)


def arrays(g, op) -> dict:
    K = _K()
    if K.variant(op) == "sparse":
        return {"weight": None, "bias": None, **K.sparse_arrays(g, op)}
    if K.variant(op) == K.TERNARY_SPARSE:  # fc_ternary_sparse_s8.c: gap bytes, input zero point in bias_adj
        rows = op.arrays["weight"].reshape(op.arrays["weight"].shape[0], -1)
        return {"weight": None, "bias": None, **K.encode_ternary_sparse(rows),
                "bias_adj": K.bias_adj(g, op, rows).astype(np.int32)}
    return {"weight": K.kernel_weights(op)}


def scratch(g, op) -> int:
    K = _K()
    v = K.variant(op)
    if v == "lowbit":  # mcd_fc_lowbit_s8_scratch_bytes
        return K.lowbit_kp(K.LOWBIT[op.attrs["format"]], op.arrays["weight"][0].size) * 2
    if v in ("sparse", K.TERNARY_SPARSE):
        return 0
    return K.k4(op.arrays["weight"].shape[1]) * 2


def c_scratch(g, op) -> str | None:
    K = _K()
    v, n = K.variant(op), g.tensors[op.inputs[0]].size
    if v == "lowbit":
        return f"mcd_fc_lowbit_s8_scratch_bytes({K.LOWBIT[op.attrs['format']]}, {n})"
    return None if v in ("sparse", K.TERNARY_SPARSE) else f"mcd_fc_s8_scratch_bytes({n})"


def layer(g, op, d) -> dict:
    K = _K()
    if d["variant"] == K.TERNARY_SPARSE:
        return {"fill": K.ternary_sparse_fill(op)}
    if d["variant"] == "lowbit":
        return {"bits": K.LOWBIT[op.attrs["format"]]}
    from ..codegen.fc_pack import fc_flags

    return {"flags": fc_flags(op, K.op_rounding(g, op))} if d["variant"] == "default" else {}


_CALL = """static const mcd_channel_quant q = { mcd_{{ l.c }}_mult, mcd_{{ l.c }}_shift };
{% if l.variant == "sparse" %}
mcd_fc_sparse_s8({{ l.out_n }}, {{ l.ins[0] }}, mcd_{{ l.c }}_sp_ptr, mcd_{{ l.c }}_sp_rec, mcd_{{ l.c }}_bias_adj, &q, {{ l.out_zp }}, {{ l.attrs.act[0] }}, {{ l.attrs.act[1] }}, {{ l.out }});
{% elif l.variant == "ternary_sparse" %}
mcd_fc_ternary_sparse_s8({{ l.out_n }}, {{ l.ins[0] }}, mcd_{{ l.c }}_ts_count, mcd_{{ l.c }}_ts_gap, {{ l.fill }}, mcd_{{ l.c }}_bias_adj, &q, {{ l.out_zp }}, {{ l.attrs.act[0] }}, {{ l.attrs.act[1] }}, {{ l.out }});
{% elif l.variant == "lowbit" %}
mcd_fc_lowbit_s8({{ l.bits }}, {{ l.in_n }}, {{ l.ins[0] }}, {{ l.out_n }}, (const uint32_t *)mcd_{{ l.c }}_weight, mcd_{{ l.c }}_bias, &q, {{ l.in_zp }}, {{ l.out_zp }}, {{ l.attrs.act[0] }}, {{ l.attrs.act[1] }}, {{ l.out }}, {{ l.scratch }});
{% else %}
mcd_fc_s8({{ l.in_n }}, {{ l.ins[0] }}, {{ l.out_n }}, mcd_{{ l.c }}_weight, mcd_{{ l.c }}_bias, &q, {{ l.in_zp }}, {{ l.out_zp }}, {{ l.attrs.act[0] }}, {{ l.attrs.act[1] }}, {{ l.out }}, {{ l.scratch }}, {{ l.flags }});
{% endif %}"""

register(OpRecord(
    name="linear", quant="own", lower=lower, float_fn=lambda n, xs: F.linear(xs[0], n.params["weight"],
                                                                            n.params.get("bias")),
    aten={"linear.default": handler}, channels="conv", supported="Linear",
))

register(OpRecord(
    name="fc", reference=reference, select=lambda g, op: _K().variant(op), arrays=arrays, scratch=scratch,
    c_scratch=c_scratch, layer=layer, c_includes=lambda l_: ["mcd_fc_s8.h"],
    c_files=["mcd_fc_s8.h", "fc_sparse_s8.c", "fc_lowbit_s8.c", "mcd_lowbit_s8.h", "fc_ternary_sparse_s8.c"],
    c_call=_CALL, rounding_family="fc", channels="conv",
    rounding="single or double (MCD_ROUNDING_DOUBLE_FC), per output channel",
))
