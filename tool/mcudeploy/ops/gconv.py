"""Convolutions the dense kernels do not take: dilation > 1 and grouped (groups not 1 and not
depthwise), including Conv1d (a 1 x L map) with dilation, as in TC-ResNet-style audio nets.

Usage::

    nn.Conv2d(8, 16, 3, groups=2)            # -> gconv2d
    nn.Conv1d(16, 16, 9, dilation=2)         # -> gconv2d on a 1 x L map

Lowered by lower.py's conv branch (the weight quantization is every conv's); this record is
its integer semantics and kernel. acc = bias + sum over the (dilated) window and the group's
input channels of (q_in - zp_in) * w, padding is real 0; then mcd_requant per output channel.
The kernel (gconv2d_s8.c) widens the input rows an output row reaches into an int16 band once
(mcd_band_s8.h) and takes each group as a small dense convolution over it, two pixels x two output
channels a step with SMLAD; depthwise ones pair taps instead of channels.
"""

from __future__ import annotations

import numpy as np

from . import OpRecord, register


def _k2(k: int) -> int:
    return k + (k & 1)


def _is_dw(op) -> bool:
    o, _kh, _kw, ig = op.arrays["weight"].shape
    return ig == 1 and o == op.attrs["groups"]


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
    """Grouped: weight as int16, per group and pair of its output channels (an odd group's last
    pair has a zero partner), [k_h][k_w][I2/2][2 channels][2 values], I2 = I/g rounded up to even
    (zero weight). Depthwise: tap pairs, int16 [C2/2][T2/2][2 channels][2 taps], taps in (ky, kx)
    order, C2 and T2 = k_h * k_w rounded up to even (zero weights)."""
    w = op.arrays["weight"]
    o, kh, kw, ig = w.shape
    if _is_dw(op):
        t = kh * kw
        full = np.zeros((_k2(o), _k2(t)), np.int16)
        full[:o, :t] = w.reshape(o, t)
        return {"weight": full.reshape(_k2(o) // 2, 2, _k2(t) // 2, 2).transpose(0, 2, 1, 3).copy()}
    groups = op.attrs["groups"]
    og, ig2 = o // groups, _k2(ig)
    k = kh * kw * ig2
    full = np.zeros((groups, _k2(og), kh, kw, ig2), np.int16)
    full[:, :og, ..., :ig] = w.reshape(groups, og, kh, kw, ig)
    full = full.reshape(groups, _k2(og) // 2, 2, k // 2, 2).transpose(0, 1, 3, 2, 4)
    return {"weight": full.reshape(-1).copy()}


def select(g, op) -> str:
    """'fast' always: a band of widened rows, SMLAD over two pixels x two channels (grouped) or
    two pixels x two taps (depthwise)."""
    return "fast"


def _pad_r(in_w: int, out_w: int, kw: int, sw: int, pl: int, dw: int) -> int:
    return max(0, (out_w - 1) * sw - pl + (kw - 1) * dw - (in_w - 1))


def scratch(g, op) -> int:
    """The band: S widened rows (+ a zero row for depthwise) of (pad_l + W + right pad) x C int16
    and two spare int16, rounded up to a word, S = (k_h - 1) * dil_h + 1 with stride 1 (a ring:
    each input row widened once), else k_h; then int32: k_h * k_w * I2 + 2 tap offsets (two a run
    of channels: one per pixel of a pair), S row tags, k_h row offsets."""
    _o, kh, kw, ig = op.arrays["weight"].shape
    _h, in_w, c = g.tensors[op.inputs[0]].shape  # HWC (Conv1d: 1 x L x C)
    out_w = g.tensors[op.output].shape[1]
    pl, sw, dw = op.attrs["pad"][1], op.attrs["stride"][1], op.attrs["dilation"][1]
    wp = pl + in_w + _pad_r(in_w, out_w, kw, sw, pl, dw)
    sh, dh = op.attrs["stride"][0], op.attrs["dilation"][0]
    slots = (kh - 1) * dh + 1 if sh == 1 else kh
    band = (slots + _is_dw(op)) * wp * c + 2
    return 2 * _k2(band) + 4 * (kh * kw * _k2(ig) + 2 + slots + kh)


register(OpRecord(
    name="gconv2d", channels="grouped", reference=reference, arrays=arrays, scratch=scratch,
    select=select,
    c_files=["gconv2d_s8.c", "mcd_band_s8.h"],
    c_decl="void mcd_gconv2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d, "
           "const int8_t *in, int32_t k_h, int32_t k_w, int32_t dil_h, int32_t dil_w, int32_t groups, "
           "const int16_t *w, const int32_t *bias, const mcd_dims *out_d, int8_t *out, void *scratch);\n"
           "int32_t mcd_gconv2d_s8_scratch_bytes(int32_t k_h, int32_t k_w, int32_t c_in_group, int32_t c_out, "
           "int32_t groups, int32_t in_w, int32_t out_w, int32_t stride_w, int32_t pad_l, int32_t dil_w, "
           "int32_t stride_h, int32_t dil_h);",
    c_call="static const mcd_conv_params p = { {{ l.attrs.stride[0] }}, {{ l.attrs.stride[1] }}, "
           "{{ l.attrs.pad[0] }}, {{ l.attrs.pad[1] }}, 1, 1, 1, 1, {{ l.in_zp }}, {{ l.out_zp }}, "
           "{{ l.attrs.act[0] }}, {{ l.attrs.act[1] }} };\n"
           "static const mcd_channel_quant q = { mcd_{{ l.c }}_mult, mcd_{{ l.c }}_shift };\n"
           "static const mcd_dims in_d = { {{ l.in_dims | join(', ') }} }, out_d = { {{ l.out_dims | join(', ') }} };\n"
           "mcd_gconv2d_s8(&p, &q, &in_d, {{ l.ins[0] }}, {{ l.wshape[1] }}, {{ l.wshape[2] }}, "
           "{{ l.attrs.dilation[0] }}, {{ l.attrs.dilation[1] }}, {{ l.attrs.groups }}, mcd_{{ l.c }}_weight, "
           "mcd_{{ l.c }}_bias, &out_d, {{ l.out }}, {{ l.scratch }});",
    c_scratch="mcd_gconv2d_s8_scratch_bytes({{ l.wshape[1] }}, {{ l.wshape[2] }}, {{ l.wshape[3] }}, "
              "{{ l.wshape[0] }}, {{ l.attrs.groups }}, {{ l.in_dims[1] }}, {{ l.out_dims[1] }}, "
              "{{ l.attrs.stride[1] }}, {{ l.attrs.pad[1] }}, {{ l.attrs.dilation[1] }}, {{ l.attrs.stride[0] }}, "
              "{{ l.attrs.dilation[0] }})",
    supported="",
    rounding="single (mcd_requant per output channel)",
))
