"""Conv2d and Conv1d (as a 1 x L Conv2d): the float node 'conv', lowered by shape to

* 'conv2d'   (groups 1, no dilation): OHWI weights; kernel variants by ``codegen.kernels.variant``
  and the storage format (``choose_format``): default (im2col + SMLAD GEMM), rows (few input
  channels, no im2col), pointwise (1x1), sparse / sparse_tile (non-zeros only), lowbit (2 or 4
  bits a weight);
* 'dwconv2d' (depthwise: groups = C_in = C_out): HWC weights;
* 'gconv2d'  (any other groups, or dilation): ops/gconv.py.

Integer semantics: acc = bias + sum over the window of (q_in - zp_in) * w (padding is real 0);
a fused max-pool takes the max of the accumulators of each window (monotonic, so equal to pooling
the requantized values); then per-channel requantization (the graph's rule) and the fused
activation's clip. Weights int8 symmetric per output channel (``quantize``), or exact on a low-bit
grid when the float weights are on one.

The weight layouts, scratch sizes and format cost model are ``codegen/kernels.py``'s helpers (the
Python twins of the C kernels); this record wires them.

Usage::

    nn.Conv2d(8, 16, 3, padding=1), nn.Conv2d(16, 16, 3, groups=16), nn.Conv1d(8, 8, 5)
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from .. import quantize as Q
from . import OpRecord, act_bounds, fnode, register


def _K():
    from ..codegen import kernels

    return kernels


def _pair(v, default=None):
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        v = default
    if isinstance(v, int):
        return [v, v]
    v = list(v)
    return v * 2 if len(v) == 1 else v


def _one(v, default):
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        return default
    return int(v[0]) if isinstance(v, (list, tuple)) else int(v)


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
    attrs = {"kind": attrs.pop("kind"), **attrs}
    return attrs, arrays


# --- integer semantics ---------------------------------------------------------------------------

def _maxpool_windows(a, k, s):
    from ..reference import _windows

    return _windows(a, k, s, [0, 0, 0, 0], 0).max(axis=(-2, -1))


def conv2d_reference(op, xs, tins, tout):
    from ..reference import _finish, _windows

    w = op.arrays["weight"]
    o, kh, kw, c = w.shape
    win = _windows(xs[0].astype(np.int32) - tins[0].zero_point, (kh, kw), op.attrs["stride"], op.attrs["pad"], 0)
    n, oh, ow = win.shape[:3]
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, kh * kw * c).astype(np.float64)
    acc = np.rint(cols @ w.reshape(o, -1).T.astype(np.float64)).astype(np.int64).reshape(n, oh, ow, o)
    acc += op.arrays["bias"]
    if op.attrs.get("pool"):
        acc = _maxpool_windows(acc, op.attrs["pool"]["k"], op.attrs["pool"]["s"])
    return _finish(acc, op, tout.zero_point)


def dwconv2d_reference(op, xs, tins, tout):
    from ..reference import _finish, _windows

    w = op.arrays["weight"]  # (kh, kw, C)
    kh, kw, _c = w.shape
    win = _windows(xs[0].astype(np.int64) - tins[0].zero_point, (kh, kw), op.attrs["stride"], op.attrs["pad"], 0)
    acc = np.einsum("nhwcij,ijc->nhwc", win, w.astype(np.int64)) + op.arrays["bias"]
    if op.attrs.get("pool"):
        acc = _maxpool_windows(acc, op.attrs["pool"]["k"], op.attrs["pool"]["s"])
    return _finish(acc, op, tout.zero_point)


# --- the kernels: variant, weight layout, scratch, C call ----------------------------------------

def conv2d_arrays(g, op) -> dict:
    """Sparse formats replace weight and bias by their encoding; the others repack the weights;
    the default, pointwise and low-bit kernels read [O][4] requantization records (bias folded in)."""
    K = _K()
    v = K.variant(op)
    out: dict = {}
    if v in ("sparse", "sparse_tile"):
        out.update(weight=None, bias=None, **K.sparse_arrays(g, op))
    else:
        out["weight"] = K.kernel_weights(op)
    if v in ("pointwise", "default", "lowbit"):
        w = op.arrays["weight"]
        out["rq"] = K.rq_records(g, op, w.reshape(w.shape[0], -1)).reshape(-1)
        out["bias"] = None
    return out


def dwconv2d_arrays(g, op) -> dict:  # weights int16 [C][k_h][KW2]; [C][4] (bias_adj, mult, cz, s)
    K = _K()
    kh, kw, c = op.arrays["weight"].shape
    return {"weight": K.kernel_weights(op), "rq": K.rq_records(g, op, op.arrays["weight"].reshape(kh * kw, c).T).reshape(-1)}


def conv2d_scratch(g, op) -> int:
    K = _K()
    v = K.variant(op)
    o, kh, kw, c = op.arrays["weight"].shape
    if v == "lowbit":  # mcd_conv2d_lowbit_s8_scratch_bytes
        kp = K.lowbit_kp(K.LOWBIT[op.attrs["format"]], op.arrays["weight"][0].size)
        return 2 * kp * 2 + 3 * o * 4
    if v == "sparse_tile":  # mcd_conv2d_sparse_tile_s8_scratch_bytes
        pool = bool(op.attrs.get("pool"))
        chunk = o if pool else min(o, K.TILE_CHUNK_NOPOOL)
        return c * kh * K.tile_geometry(g, op)[1] * 4 + chunk * (2 if pool else 8) * 4
    if v == "sparse":
        if not any(op.attrs["pad"]):
            return 0
        h, w, c = g.tensors[op.inputs[0]].shape
        t, left, b, r = op.attrs["pad"]
        return (h + t + b) * (w + left + r) * c
    if v == "rows":  # mcd_conv2d_rows_s8_scratch_bytes
        row = ((K.conv_out_w(g, op) - 1) * op.attrs["stride"][1] + kw) * c + 2
        pool = op.attrs.get("pool")
        pool_2x2 = bool(pool) and pool["k"] == [2, 2]
        pooled_w = g.tensors[op.output].shape[1] if pool else 0
        n_rows = kh + op.attrs["stride"][0] if pool_2x2 else kh
        return ((n_rows * row * 2 + 3) & ~3) + (0 if pool_2x2 else pooled_w * o * 4)
    if v == "pointwise":  # mcd_pwconv2d_s8_scratch_bytes: two int16 pixel columns
        return (2 * K.k4(c) + 4) * 2
    return 2 * K.k4(kh * kw * c) * 2 + 3 * o * 4


def conv2d_c_scratch(g, op) -> str | None:
    K = _K()
    v, a = K.variant(op), op.attrs
    o, kh, kw, c = op.arrays["weight"].shape
    pool = a.get("pool")
    if v == "rows":
        p2 = int(bool(pool) and pool["k"] == [2, 2])
        return (f"mcd_conv2d_rows_s8_scratch_bytes({kh}, {kw}, {c}, {o}, {a['stride'][0]}, {a['stride'][1]}, "
                f"{K.conv_out_w(g, op)}, {p2}, {g.tensors[op.output].shape[1] if pool else 0})")
    if v == "pointwise":
        return f"mcd_pwconv2d_s8_scratch_bytes({c})"
    if v == "lowbit":
        return f"mcd_conv2d_lowbit_s8_scratch_bytes({K.LOWBIT[a['format']]}, {kh}, {kw}, {c}, {o})"
    if v == "sparse_tile":
        return (f"mcd_conv2d_sparse_tile_s8_scratch_bytes({c}, {kh}, {kw}, {o}, {int(bool(pool))}, "
                f"{K.tile_geometry(g, op)[0]})")
    if v == "sparse":
        h, w, _ = g.tensors[op.inputs[0]].shape
        t, left, b, r = a["pad"]
        return f"mcd_conv2d_sparse_s8_scratch_bytes(&(mcd_dims){{{h}, {w}, {c}}}, {t}, {left}, {b}, {r})"
    return f"mcd_conv2d_s8_scratch_bytes({kh}, {kw}, {c}, {o})"


def dwconv2d_scratch(g, op) -> int:  # mcd_dwconv2d_s8_scratch_bytes: per channel a mirrored ring of k_h int16 rows
    K = _K()
    kh, kw, c = op.arrays["weight"].shape
    sw = op.attrs["stride"][1]
    if op.attrs.get("pool") or kh > K.DW_MAX_K or kw > K.DW_MAX_K or sw > 2:
        return 0
    span = ((K.conv_out_w(g, op) - 1) * sw + kw + 3) & ~1  # mcd_dw_span
    return 2 * kh * c * span * 2 + K.k4(c)  # + one pixel of zero points


def dwconv2d_c_scratch(g, op) -> str:
    kh, kw, c = op.arrays["weight"].shape
    a = op.attrs
    return (f"mcd_dwconv2d_s8_scratch_bytes({kh}, {kw}, {c}, {a['stride'][1]}, {_K().conv_out_w(g, op)}, "
            f"{int(bool(a.get('pool')))})")


def layer(g, op, d) -> dict:
    """The C call's extra fields: kernel size, the fused pool, the conv's own output width, packed
    bits, and whether the requantization records take the fast path."""
    K = _K()
    w = op.arrays["weight"]
    out = {"k": list(w.shape[1:3]) if op.kind == "conv2d" else list(w.shape[:2]),
           "pool": op.attrs.get("pool") or {"k": [1, 1], "s": [1, 1]}, "out_w_conv": K.conv_out_w(g, op)}
    if d["variant"] == "lowbit":
        out["bits"] = K.LOWBIT[op.attrs["format"]]
    if d["variant"] in ("default", "pointwise", "lowbit"):
        out["rq_fast"] = int(K.rq_fits(op, K.op_rounding(g, op)))
    return out


def conv2d_includes(l_) -> list[str]:
    return {"rows": ["mcd_conv2d_rows_s8.h"], "sparse_tile": ["mcd_conv2d_sparse_tile_s8.h"],
            "pointwise": ["mcd_pwconv2d_s8.h"]}.get(l_["variant"], [])


_PRELUDE = ("static const mcd_conv_params p = { {{ l.attrs.stride[0] }}, {{ l.attrs.stride[1] }}, {{ l.attrs.pad[0] }}, "
            "{{ l.attrs.pad[1] }}, {{ l.pool.k[0] }}, {{ l.pool.k[1] }}, {{ l.pool.s[0] }}, {{ l.pool.s[1] }}, "
            "{{ l.in_zp }}, {{ l.out_zp }}, {{ l.attrs.act[0] }}, {{ l.attrs.act[1] }} };\n"
            "static const mcd_channel_quant q = { mcd_{{ l.c }}_mult, mcd_{{ l.c }}_shift };\n"
            "static const mcd_dims in_d = { {{ l.in_dims | join(', ') }} };\n"
            "static const mcd_dims out_d = { {{ l.out_dims | join(', ') }} };\n")

_CONV2D_CALL = _PRELUDE + """{% if l.variant == "sparse_tile" %}
mcd_conv2d_sparse_tile_s8(&p, &q, &in_d, {{ l.ins[0] }}, {{ l.k[0] }}, {{ l.k[1] }}, {{ l.attrs.pad[2] }}, {{ l.attrs.pad[3] }}, mcd_{{ l.c }}_sp_ptr, mcd_{{ l.c }}_sp_rec, mcd_{{ l.c }}_bias_adj, &out_d, {{ l.out }}, {{ l.scratch }});
{% elif l.variant == "lowbit" %}
mcd_conv2d_lowbit_s8({{ l.bits }}, &p, &q, &in_d, {{ l.ins[0] }}, {{ l.k[0] }}, {{ l.k[1] }}, (const uint32_t *)mcd_{{ l.c }}_weight, mcd_{{ l.c }}_rq, {{ l.rq_fast }}, &out_d, {{ l.out }}, {{ l.scratch }});
{% elif l.variant == "sparse" %}
mcd_conv2d_sparse_s8(&p, &q, &in_d, {{ l.ins[0] }}, {{ l.attrs.pad[2] }}, {{ l.attrs.pad[3] }}, mcd_{{ l.c }}_sp_ptr, mcd_{{ l.c }}_sp_delta, mcd_{{ l.c }}_sp_val, mcd_{{ l.c }}_bias_adj, &out_d, {{ l.out }}, {{ l.scratch }});
{% elif l.variant == "pointwise" %}
mcd_pwconv2d_s8(&p, &q, &in_d, {{ l.ins[0] }}, mcd_{{ l.c }}_weight, mcd_{{ l.c }}_rq, {{ l.rq_fast }}, &out_d, {{ l.out }}, {{ l.scratch }});
{% elif l.variant == "rows" %}
mcd_conv2d_rows_s8(&p, &q, &in_d, {{ l.ins[0] }}, {{ l.k[0] }}, {{ l.k[1] }}, mcd_{{ l.c }}_weight, mcd_{{ l.c }}_bias, &out_d, {{ l.out_w_conv }}, {{ l.out }}, {{ l.scratch }});
{% else %}
mcd_conv2d_s8(&p, &q, &in_d, {{ l.ins[0] }}, {{ l.k[0] }}, {{ l.k[1] }}, mcd_{{ l.c }}_weight, mcd_{{ l.c }}_rq, {{ l.rq_fast }}, &out_d, {{ l.out }}, {{ l.scratch }});
{% endif %}"""

_DW_CALL = _PRELUDE + ("mcd_dwconv2d_s8(&p, &q, &in_d, {{ l.ins[0] }}, {{ l.k[0] }}, {{ l.k[1] }}, mcd_{{ l.c }}_weight, "
                       "mcd_{{ l.c }}_bias, mcd_{{ l.c }}_rq, {{ l.rq_fast }}, &out_d, {{ l.out }}, {{ l.scratch }});")

register(OpRecord(
    name="conv", quant="own", lower=lower, float_fn=float_fn,
    aten={"conv2d.default": conv2d, "conv2d.padding": conv2d, "conv1d.default": conv2d, "conv1d.padding": conv2d},
    supported="Conv2d/Conv1d (any groups and dilation)",
    channels="conv",  # gconv2d / depthwise: see compress/structured.py (groups tie channels)
))

register(OpRecord(
    name="conv2d", reference=conv2d_reference, select=lambda g, op: _K().variant(op), arrays=conv2d_arrays,
    scratch=conv2d_scratch, c_scratch=conv2d_c_scratch, layer=layer, c_includes=conv2d_includes,
    c_files=["conv2d_s8.c", "mcd_im2col_s8.h", "conv2d_lowbit_s8.c", "mcd_lowbit_s8.h", "mcd_conv2d_rows_s8.h",
             "mcd_pwconv2d_s8.h", "conv2d_sparse_s8.c", "conv2d_sparse_tile_s8.c", "mcd_conv2d_sparse_tile_s8.h"],
    c_call=_CONV2D_CALL, rounding_family="other", channels="conv",
    rounding="single or double (the graph's rule), per output channel",
))

register(OpRecord(
    name="dwconv2d", reference=dwconv2d_reference, select=lambda g, op: _K().variant(op), arrays=dwconv2d_arrays,
    scratch=dwconv2d_scratch, c_scratch=dwconv2d_c_scratch, layer=layer,
    c_includes=lambda l_: ["mcd_dwconv2d_s8.h"],
    c_files=["mcd_dwconv2d_s8.h", "dwconv2d_s8.c"],
    c_call=_DW_CALL, rounding_family="other", channels="depthwise",
    rounding="single or double (the graph's rule), per channel",
))
