"""Elementwise functions of one int8 tensor as a 256-entry table (TFLite's int8 LUT approach):
Sigmoid, Tanh, Hardswish, Hardsigmoid, SiLU, GELU, LeakyReLU, ELU, and x * c, x + c, x - c,
x / c by a constant.

Usage::

    y = torch.sigmoid(x)        # -> one 'lut' op: out[i] = table[in[i] + 128]

The table is built on the host in float64 from the function itself: entry q holds
round(f(s_in * (q - zp_in)) / s_out) + zp_out, rounded half away from zero (std::round, as
TFLite's LUTPopulate does) and clamped to int8. So an int8 input gets the correctly rounded
int8 output of the float function: within half a step, and exact for every one of the 256
inputs. Sigmoid and Tanh take TFLite's fixed output quantization (1/256, -128 and 1/128, 0).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from . import OpRecord, fnode, register

FUNCS = {
    "sigmoid": lambda x, a: torch.sigmoid(x),
    "tanh": lambda x, a: torch.tanh(x),
    "hardswish": lambda x, a: F.hardswish(x),
    "hardsigmoid": lambda x, a: F.hardsigmoid(x),
    "silu": lambda x, a: F.silu(x),
    "gelu": lambda x, a: F.gelu(x, approximate=a or "none"),
    "leaky_relu": lambda x, a: F.leaky_relu(x, a),
    "elu": lambda x, a: F.elu(x, a),
    "mul_const": lambda x, a: x * a,
    "add_const": lambda x, a: x + a,
}
FIXED_QUANT = {"sigmoid": (1.0 / 256, -128), "tanh": (1.0 / 128, 0)}


def _unary(fn: str, default=None, arg_index: int = 1, kw: str | None = None):
    def handler(a, k):
        arg = a[arg_index] if len(a) > arg_index else k.get(kw, default) if kw else default
        return fnode("lut", [a[0]], {"fn": fn, "arg": arg})
    return handler


def scalar_op(fn: str, value: float):
    """x * c or x + c (the mul/add handlers call this when one operand is a Python number)."""
    return lambda x: fnode("lut", [x], {"fn": fn, "arg": float(value)})


def float_fn(n, xs):
    return FUNCS[n.attrs["fn"]](xs[0], n.attrs["arg"])


def quant(n, tins):
    return FIXED_QUANT.get(n.attrs["fn"])


def round_half_away(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def table(fn: str, arg, s_in: float, zp_in: int, s_out: float, zp_out: int) -> np.ndarray:
    q = np.arange(-128, 128, dtype=np.float64)
    x = torch.from_numpy((q - zp_in) * s_in)
    y = FUNCS[fn](x, arg).numpy()
    return np.clip(round_half_away(y / s_out) + zp_out, -128, 127).astype(np.int8)


def lower(n, ctx):
    tin, tout = ctx.tins[0], ctx.tout
    t = table(n.attrs["fn"], n.attrs["arg"], tin.scale, tin.zero_point, tout.scale, tout.zero_point)
    return {"fn": n.attrs["fn"], "arg": n.attrs["arg"]}, {"table": t}


def reference(op, xs, tins, tout):
    return op.arrays["table"][xs[0].astype(np.int16) + 128]


def _check_finite(v):
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


ATEN = {
    "sigmoid.default": _unary("sigmoid"), "sigmoid_.default": _unary("sigmoid"),
    "tanh.default": _unary("tanh"), "tanh_.default": _unary("tanh"),
    "hardswish.default": _unary("hardswish"), "hardswish_.default": _unary("hardswish"),
    "hardsigmoid.default": _unary("hardsigmoid"), "hardsigmoid_.default": _unary("hardsigmoid"),
    "silu.default": _unary("silu"), "silu_.default": _unary("silu"),
    "gelu.default": _unary("gelu", "none", kw="approximate"),
    "leaky_relu.default": _unary("leaky_relu", 0.01), "leaky_relu_.default": _unary("leaky_relu", 0.01),
    "elu.default": _unary("elu", 1.0),
}

register(OpRecord(
    name="lut", channels="elementwise", reference=reference, aten=ATEN, float_fn=float_fn, quant=quant, lower=lower,
    select=lambda g, op: "generic",
    c_files=["lut_s8.c"],
    c_decl="void mcd_lut_s8(int32_t n, const int8_t *in, const int8_t *table, int8_t *out);",
    c_call="mcd_lut_s8({{ l.out_n }}, {{ l.ins[0] }}, mcd_{{ l.c }}_table, {{ l.out }});",
    in_place=True,
    supported="Sigmoid/Tanh/Hardswish/Hardsigmoid/SiLU/GELU/LeakyReLU/ELU and x*c, x+c by a constant (int8 table)",
    rounding="float table, half away from zero (TFLite LUTPopulate)",
))
