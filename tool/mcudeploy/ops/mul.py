"""Elementwise x * y of two int8 tensors with broadcasting ('mul'), the broadcasting form of
x + y ('add_bc'), and the capture of +, -, *, / where one side is a Python number (a 'lut').

Usage::

    y = x * torch.sigmoid(s)     # squeeze-excite: s is N x C x 1 x 1 -> mul, b_mode 1
    y = x * 0.5                  # -> lut (see ops/lut.py)

Broadcast modes of the smaller operand b (the generator puts the full-size tensor first; both
ops commute): 0 same shape, 1 one value per channel (N x C x 1 x 1), 2 a single value,
3 one value per pixel (N x 1 x H x W). Arithmetic (TFLite's MUL): acc = (a - zp_a) * (b - zp_b),
|acc| <= 255^2, requantized by s_a * s_b / s_out with mcd_requant / quantize.requantize.
'add_bc' is the add record's arithmetic (ops/add.py) with b broadcast the same way.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import quantize as Q
from ..errors import UnsupportedOpError
from . import OpRecord, clip8, fnode, register
from .lut import scalar_op


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def mul_handler(a, k):
    x, y = a[0], a[1]
    if _num(y) and isinstance(x, str):
        return scalar_op("mul_const", y)(x)
    if _num(x) and isinstance(y, str):
        return scalar_op("mul_const", x)(y)
    if isinstance(x, str) and isinstance(y, str):
        return fnode("mul", [x, y])
    return "multiplication by a constant tensor (only tensor * tensor and tensor * number are supported)"


def add_handler(a, k, sign: float = 1.0):
    x, y = a[0], a[1]
    alpha = k.get("alpha", 1)
    if _num(y) and isinstance(x, str):
        return scalar_op("add_const", sign * alpha * y)(x)
    if _num(x) and isinstance(y, str) and sign > 0:
        return scalar_op("add_const", x)(y)
    if isinstance(x, str) and isinstance(y, str) and sign > 0 and alpha == 1:
        return fnode("add", [x, y])
    return "this form of add/sub (only tensor + tensor, tensor + number and tensor - number are supported)"


def div_handler(a, k):
    if _num(a[1]) and a[1] != 0 and isinstance(a[0], str):
        return scalar_op("mul_const", 1.0 / a[1])(a[0])
    return "division by a tensor (only division by a non-zero number is supported)"


def bcast_mode(a_shape, b_shape, where: str = "") -> int:
    """The broadcast mode of b onto a (device layouts), or UnsupportedOpError."""
    a_shape, b_shape = tuple(a_shape), tuple(b_shape)
    if a_shape == b_shape:
        return 0
    if int(np.prod(b_shape)) == 1:
        return 2
    if len(a_shape) == 3 and b_shape in ((1, 1, a_shape[2]), (a_shape[2],)):
        return 1
    if len(a_shape) == 3 and b_shape == (a_shape[0], a_shape[1], 1):
        return 3
    raise UnsupportedOpError(f"broadcast of shapes {a_shape} and {b_shape} (HWC) {where}: supported are equal "
                             "shapes, N x C x 1 x 1, N x 1 x H x W and single values")


def broadcast(b: np.ndarray, a_shape, mode: int) -> np.ndarray:
    """b (N, ...) as an array of a's shape (N, H, W, C)."""
    n = len(b)
    if mode == 0:
        return b.reshape((n,) + tuple(a_shape))
    if mode == 1:
        return np.broadcast_to(b.reshape(n, 1, 1, -1), (n,) + tuple(a_shape)) if len(a_shape) == 3 else b
    if mode == 2:
        return np.broadcast_to(b.reshape((n,) + (1,) * len(a_shape)), (n,) + tuple(a_shape))
    return np.broadcast_to(b.reshape(n, a_shape[0], a_shape[1], 1), (n,) + tuple(a_shape))


def _ordered(n, ctx):
    """Inputs with the full-size tensor first (mul and add commute)."""
    a, b = ctx.tins
    if a.size < b.size:
        n.inputs.reverse()
        a, b = b, a
    return a, b


def mul_lower(n, ctx):
    a, b = _ordered(n, ctx)
    mode = bcast_mode(a.shape, b.shape, f"in {n.where}")
    mult, shift = Q.quantize_multiplier(a.scale * b.scale / ctx.tout.scale)
    return {"mode": mode, "mult": mult, "shift": shift, "act": [-128, 127]}, {}


def mul_reference(op, xs, tins, tout):
    a = xs[0].astype(np.int64) - tins[0].zero_point
    b = broadcast(xs[1], tins[0].shape, op.attrs["mode"]).astype(np.int64) - tins[1].zero_point
    y = Q.requantize(a * b, op.attrs["mult"], op.attrs["shift"]) + tout.zero_point
    return clip8(np.clip(y, *op.attrs["act"]))


def add_bc_reference(op, xs, tins, tout):
    a = op.attrs
    ls = a["left_shift"]
    x2 = broadcast(xs[1], tins[0].shape, a["mode"])
    y1 = Q.requantize((xs[0].astype(np.int64) - tins[0].zero_point) << ls, a["mult"][0], a["shift"][0])
    y2 = Q.requantize((x2.astype(np.int64) - tins[1].zero_point) << ls, a["mult"][1], a["shift"][1])
    y = Q.requantize(y1 + y2, a["out_mult"], a["out_shift"]) + tout.zero_point
    return clip8(np.clip(y, *a["act"]))


register(OpRecord(
    name="mul", channels="elementwise", reference=mul_reference, lower=mul_lower,
    aten={"mul.Tensor": mul_handler, "mul_.Tensor": mul_handler, "mul.Scalar": mul_handler,
          "add.Tensor": add_handler, "add_.Tensor": add_handler, "add.Scalar": add_handler,
          "sub.Tensor": lambda a, k: add_handler(a, k, -1.0), "sub.Scalar": lambda a, k: add_handler(a, k, -1.0),
          "div.Tensor": div_handler, "div.Scalar": div_handler},
    float_fn=lambda n, xs: xs[0] * xs[1],
    select=lambda g, op: "generic",
    c_files=["mul_s8.c"],
    c_decl="void mcd_mul_s8(int32_t pixels, int32_t c, const int8_t *a, const int8_t *b, int32_t b_mode, "
           "int32_t zp_a, int32_t zp_b, int32_t mult, int32_t shift, int32_t out_zp, int32_t act_min, "
           "int32_t act_max, int8_t *out);",
    c_call="mcd_mul_s8({{ l.out_dims[0] * l.out_dims[1] }}, {{ l.out_dims[2] }}, {{ l.ins[0] }}, {{ l.ins[1] }}, "
           "{{ l.attrs.mode }}, {{ l.ins_zp[0] }}, {{ l.ins_zp[1] }}, {{ l.attrs.mult }}, {{ l.attrs.shift }}, "
           "{{ l.out_zp }}, {{ l.attrs.act[0] }}, {{ l.attrs.act[1] }}, {{ l.out }});",
    in_place=True,
    supported="x * y with broadcasting (N x C x 1 x 1, N x 1 x H x W, scalar); +, -, *, / by a number",
    rounding="single (mcd_requant) of (a - zp_a) * (b - zp_b)",
))

register(OpRecord(
    name="add_bc", channels="elementwise", reference=add_bc_reference,
    select=lambda g, op: "generic",
    c_files=["add_bc_s8.c"],
    c_decl="void mcd_add_bc_s8(const mcd_add_params *p, int32_t pixels, int32_t c, const int8_t *a, const int8_t *b, "
           "int32_t b_mode, int8_t *out);",
    c_call="static const mcd_add_params p = { {{ l.ins_zp[0] }}, {{ l.ins_zp[1] }}, {{ l.out_zp }}, "
           "{{ l.attrs.left_shift }}, {{ l.attrs.mult[0] }}, {{ l.attrs.shift[0] }}, {{ l.attrs.mult[1] }}, "
           "{{ l.attrs.shift[1] }}, {{ l.attrs.out_mult }}, {{ l.attrs.out_shift }}, {{ l.attrs.act[0] }}, "
           "{{ l.attrs.act[1] }} };\nmcd_add_bc_s8(&p, {{ l.out_dims[0] * l.out_dims[1] }}, {{ l.out_dims[2] }}, "
           "{{ l.ins[0] }}, {{ l.ins[1] }}, {{ l.attrs.mode }}, {{ l.out }});",
    in_place=True,
    supported="x + y with broadcasting (N x C x 1 x 1, N x 1 x H x W, scalar)",
    rounding="single (mcd_requant), TFLite ADD scheme (left shift 20)",
))

_ = torch  # float semantics above use torch tensors
