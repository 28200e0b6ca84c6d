"""ConvTranspose2d (decoders: U-Nets, autoencoders), groups 1, dilation 1, any stride.

Usage::

    nn.ConvTranspose2d(16, 8, 2, stride=2)      # -> convt2d

Integer semantics: out[oy, ox, o] = bias[o] + sum over (ky, kx, ci) with oy = iy * s - pad + ky
(likewise x) of (q_in - zp_in) * w[o, ky, kx, ci], then mcd_requant per output channel. The
reference computes it as the textbook equivalent, a correlation of the zero-inserted, padded
input with the flipped kernel; the kernel (convt2d_s8.c) gathers, per output pixel, the taps that
land on it into an int16 column (other taps 0) and takes each output channel with SMLAD.
Weights are quantized per output channel like any conv (torch stores them I x O x kh x kw).
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from .. import quantize as Q
from . import OpRecord, fnode, register


def handler(a, k):
    x, w, b = a[0], a[1], a[2] if len(a) > 2 else k.get("bias")
    stride = list(a[3]) if len(a) > 3 else [1, 1]
    pad = list(a[4]) if len(a) > 4 else [0, 0]
    outpad = list(a[5]) if len(a) > 5 else [0, 0]
    groups = a[6] if len(a) > 6 else 1
    dil = list(a[7]) if len(a) > 7 else [1, 1]
    if w.dim() != 4 or groups != 1 or any(d != 1 for d in dil):
        return "transposed convolution other than 2-D, groups=1, dilation 1"
    stride, pad, outpad = ([v[0], v[0]] if len(v) == 1 else v for v in (stride, pad, outpad))
    if any(p > kk - 1 for p, kk in zip(pad, w.shape[2:])):
        return f"transposed convolution padding {pad} larger than kernel - 1"
    return fnode("convt", [x], {"stride": stride, "pad": pad, "outpad": outpad},
                 {"weight": w, **({"bias": b} if b is not None else {})})


def convolution(a, k):
    """aten.convolution: transposed ones are ours, the rest the op table's."""
    if a[6]:
        return handler([a[0], a[1], a[2], a[3], a[4], a[7], a[8], a[5]], {})
    from .conv import convolution as plain

    return plain(a, k)


def float_fn(n, xs):
    a = n.attrs
    return F.conv_transpose2d(xs[0], n.params["weight"], n.params.get("bias"), a["stride"], a["pad"], a["outpad"])


def lower(n, ctx):
    tin, tout = ctx.tins[0], ctx.tout
    w = n.params["weight"].detach().double().numpy().transpose(1, 0, 2, 3)  # O x I x kh x kw
    b = n.params.get("bias")
    wq, sw, bias = Q.quantize_weights_and_bias(w, None if b is None else b.detach().double().numpy(), tin.scale)
    mult, shift = Q.channel_multipliers(tin.scale, sw, tout.scale)
    o, i, kh, kw = w.shape
    h, w_, _c = tin.shape
    return ({"stride": n.attrs["stride"], "pad": n.attrs["pad"], "act": [-128, 127], "macs": h * w_ * i * o * kh * kw},
            {"weight": np.ascontiguousarray(wq.transpose(0, 2, 3, 1)), "bias": bias, "mult": mult, "shift": shift})


def reference(op, xs, tins, tout):
    from ..reference import _finish

    w = op.arrays["weight"]  # (O, kh, kw, I)
    o, kh, kw, ci = w.shape
    sh, sw = op.attrs["stride"]
    ph, pw = op.attrs["pad"]
    x = xs[0].astype(np.int64) - tins[0].zero_point
    n, h, wd, _ = x.shape
    oh, ow = tout.shape[:2]
    z = np.zeros((n, (h - 1) * sh + 1, (wd - 1) * sw + 1, ci), np.int64)
    z[:, ::sh, ::sw] = x
    top, left = kh - 1 - ph, kw - 1 - pw
    zp = np.zeros((n, oh + kh - 1, ow + kw - 1, ci), np.int64)
    hh, ww = min(z.shape[1], oh + kh - 1 - top), min(z.shape[2], ow + kw - 1 - left)
    zp[:, top:top + hh, left:left + ww] = z[:, :hh, :ww]
    from numpy.lib.stride_tricks import sliding_window_view

    win = sliding_window_view(zp, (kh, kw), axis=(1, 2))[:, :oh, :ow]  # (N, OH, OW, C, kh, kw)
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, -1).astype(np.float64)
    wf = w[:, ::-1, ::-1, :].reshape(o, -1).astype(np.float64)  # flipped kernel
    acc = np.rint(cols @ wf.T).astype(np.int64).reshape(n, oh, ow, o)
    return _finish(acc + op.arrays["bias"], op, tout.zero_point)


def _classes(op):
    """[(ry, rx, taps_y, taps_x)] of the phase classes, in the kernel's order (ry major)."""
    _o, kh, kw, _c = op.arrays["weight"].shape
    sh, sw = op.attrs["stride"]
    return [(ry, rx, list(range(ry, kh, sh)), list(range(rx, kw, sw))) for ry in range(sh) for rx in range(sw)]


def arrays(g, op):
    """int16 weight rows per phase class, classes in (ry, rx) order: [class][O][Kc2], Kc = the
    class's taps x C_in in (ky, kx, ci) order, Kc2 = Kc rounded up to even."""
    w = op.arrays["weight"]
    o, _kh, _kw, c = w.shape
    parts = []
    for _ry, _rx, ty, tx in _classes(op):
        k = len(ty) * len(tx) * c
        rows = np.zeros((o, k + (k & 1)), np.int16)
        if k:
            rows[:, :k] = w[:, ty][:, :, tx].reshape(o, -1)
        parts.append(rows.reshape(-1))
    return {"weight": np.concatenate(parts)}


def scratch(g, op) -> int:
    _o, kh, kw, ci = op.arrays["weight"].shape
    sh, sw = op.attrs["stride"]
    k = -(-kh // sh) * -(-kw // sw) * ci  # the largest class: ry = rx = 0
    return 2 * (k + (k & 1))


register(OpRecord(
    name="convt", channels="conv", reference=reference, float_fn=float_fn, lower=lower, arrays=arrays, scratch=scratch,
    aten={"conv_transpose2d.input": handler, "convolution.default": convolution},
    select=lambda g, op: "fast",
    c_files=["convt2d_s8.c"],
    c_decl="void mcd_convt2d_s8(const mcd_conv_params *p, const mcd_channel_quant *q, const mcd_dims *in_d, "
           "const int8_t *in, int32_t k_h, int32_t k_w, const int16_t *w, const int32_t *bias, "
           "const mcd_dims *out_d, int8_t *out, void *scratch);\n"
           "int32_t mcd_convt2d_s8_scratch_bytes(int32_t k_h, int32_t k_w, int32_t c_in, int32_t stride_h, "
           "int32_t stride_w);",
    c_call="static const mcd_conv_params p = { {{ l.attrs.stride[0] }}, {{ l.attrs.stride[1] }}, "
           "{{ l.attrs.pad[0] }}, {{ l.attrs.pad[1] }}, 1, 1, 1, 1, {{ l.in_zp }}, {{ l.out_zp }}, "
           "{{ l.attrs.act[0] }}, {{ l.attrs.act[1] }} };\n"
           "static const mcd_channel_quant q = { mcd_{{ l.c }}_mult, mcd_{{ l.c }}_shift };\n"
           "static const mcd_dims in_d = { {{ l.in_dims | join(', ') }} }, out_d = { {{ l.out_dims | join(', ') }} };\n"
           "mcd_convt2d_s8(&p, &q, &in_d, {{ l.ins[0] }}, {{ l.wshape[1] }}, {{ l.wshape[2] }}, mcd_{{ l.c }}_weight, "
           "mcd_{{ l.c }}_bias, &out_d, {{ l.out }}, {{ l.scratch }});",
    c_scratch="mcd_convt2d_s8_scratch_bytes({{ l.wshape[1] }}, {{ l.wshape[2] }}, {{ l.wshape[3] }}, "
              "{{ l.attrs.stride[0] }}, {{ l.attrs.stride[1] }})",
    supported="ConvTranspose2d (groups 1)",
    rounding="single (mcd_requant per output channel)",
))
