"""Convolutions the dense kernels do not take: dilation > 1 and grouped (groups not 1 and not
depthwise), including Conv1d (a 1 x L map) with dilation, as in TC-ResNet-style audio nets.

Usage::

    nn.Conv2d(8, 16, 3, groups=2)            # -> gconv2d
    nn.Conv1d(16, 16, 9, dilation=2)         # -> gconv2d on a 1 x L map

Lowered by lower.py's conv branch (the weight quantization is every conv's); this record is
its integer semantics and kernel. acc = bias + sum over the (dilated) window and the group's
input channels of (q_in - zp_in) * w, padding is real 0; then mcd_requant per output channel.
The kernel (gconv2d_s8.c) gathers each output pixel's window of a group as int16 (q - zp) into
scratch once and takes every output channel of the group over it with SMLAD (two MACs a step).
"""

from __future__ import annotations

import numpy as np

from . import OpRecord, register


def _k2(k: int) -> int:
    return k + (k & 1)


def reference(op, xs, tins, tout):
    from ..reference import _finish, _windows

    w = op.arrays["weight"]  # (O, kh, kw, I/g)
    o, kh, kw, ig = w.shape
    g = op.attrs["groups"]
    dh, dw = op.attrs["dilation"]
    x = xs[0].astype(np.int64) - tins[0].zero_point
    win = _windows(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), op.attrs["stride"], op.attrs["pad"], 0)
    win = win[..., ::dh, ::dw]  # (N, OH, OW, C, kh, kw)
    n, oh, ow = win.shape[:3]
    og = o // g
    acc = np.empty((n, oh, ow, o), np.int64)
    for gi in range(g):
        cols = win[:, :, :, gi * ig:(gi + 1) * ig].transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, -1)
        wg = w[gi * og:(gi + 1) * og].reshape(og, -1).astype(np.float64)
        acc[..., gi * og:(gi + 1) * og] = np.rint(cols.astype(np.float64) @ wg.T).astype(np.int64).reshape(n, oh, ow, og)
    return _finish(acc + op.arrays["bias"], op, tout.zero_point)


def arrays(g, op):
    """weight as int16 [O][K2], K = k_h * k_w * I/g (OHWI order), K2 = K rounded up to even."""
    w = op.arrays["weight"]
    k = int(np.prod(w.shape[1:]))
    out = np.zeros((w.shape[0], _k2(k)), np.int16)
    out[:, :k] = w.reshape(w.shape[0], -1)
    return {"weight": out}


def select(g, op) -> str:
    """'fast' (a gathered column, SMLAD over it) except for depthwise ('generic': per-channel MACs)."""
    o, _kh, _kw, ig = op.arrays["weight"].shape
    return "generic" if ig == 1 and o == op.attrs["groups"] else "fast"


def scratch(g, op) -> int:
    o, kh, kw, ig = op.arrays["weight"].shape
    if ig == 1 and o == op.attrs["groups"]:  # depthwise: an int32 accumulator a channel
        return 4 * o
    return 2 * _k2(kh * kw * ig)


register(OpRecord(
    name="gconv2d", channels="grouped", reference=reference, arrays=arrays, scratch=scratch,
    select=select,
    c_files=["gconv2d_s8.c"],
    c_decl="void mcd_gconv2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d, "
           "const int8_t *in, int32_t k_h, int32_t k_w, int32_t dil_h, int32_t dil_w, int32_t groups, "
           "const int16_t *w, const int32_t *bias, const mcd_dims *out_d, int8_t *out, void *scratch);\n"
           "int32_t mcd_gconv2d_s8_scratch_bytes(int32_t k_h, int32_t k_w, int32_t c_in_group, int32_t c_out, "
           "int32_t groups);",
    c_call="static const mcd_conv_params p = { {{ l.attrs.stride[0] }}, {{ l.attrs.stride[1] }}, "
           "{{ l.attrs.pad[0] }}, {{ l.attrs.pad[1] }}, 1, 1, 1, 1, {{ l.in_zp }}, {{ l.out_zp }}, "
           "{{ l.attrs.act[0] }}, {{ l.attrs.act[1] }} };\n"
           "static const mcd_channel_quant q = { mcd_{{ l.c }}_mult, mcd_{{ l.c }}_shift };\n"
           "static const mcd_dims in_d = { {{ l.in_dims | join(', ') }} }, out_d = { {{ l.out_dims | join(', ') }} };\n"
           "mcd_gconv2d_s8(&p, &q, &in_d, {{ l.ins[0] }}, {{ l.wshape[1] }}, {{ l.wshape[2] }}, "
           "{{ l.attrs.dilation[0] }}, {{ l.attrs.dilation[1] }}, {{ l.attrs.groups }}, mcd_{{ l.c }}_weight, "
           "mcd_{{ l.c }}_bias, &out_d, {{ l.out }}, {{ l.scratch }});",
    c_scratch="mcd_gconv2d_s8_scratch_bytes({{ l.wshape[1] }}, {{ l.wshape[2] }}, {{ l.wshape[3] }}, "
              "{{ l.wshape[0] }}, {{ l.attrs.groups }})",
    supported="",
    rounding="single (mcd_requant per output channel)",
))
