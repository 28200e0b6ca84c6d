"""The numpy integer interpreter of ``ir.Graph``: the oracle every C kernel must match byte for byte.

Usage::

    xq = prepare_input(g, x_float_nchw)       # (N, MCD_INPUT_BYTES) int8, device layout
    yq = run(g, xq)                            # (N, MCD_OUTPUT_BYTES) int8
    y  = dequantize_output(g, yq)              # float, torch's layout

Written for clarity and for batches, not for speed of one sample: every op works on
(N,) + device shape arrays. Convolutions sum exactly in float64 (integers below 2^53), which lets
numpy use BLAS. Integer semantics (see ``quantize`` for the two requantization rules; the graph's
``meta["rounding"]`` picks one for every requantization below):

* conv/fc:  acc = bias + sum over the window of (q_in - zp_in) * w   (padding is real 0)
* fused max-pool: max of the accumulators of each window, then requantize (monotonic, so equal
  to pooling the requantized values)
* avgpool:  sum of q over the window (padding counts as zp_in when count_include_pad), divided
  by the count with rounding half away from zero; same quantization in and out
* add:      TFLite's: each (q - zp) << 20 rescaled to twice the larger input scale, summed,
  rescaled to the output
* concat:   copy, or (q - zp_in) requantized to the output scale

Which rule TFLite's reference kernels (LiteRT BUILTIN_REF, int8) apply per op, and so what an
imported .tflite (rounding "double") must do: conv, depthwise, fully connected
(MultiplyByQuantizedMultiplier) and add (MultiplyByQuantizedMultiplierSmallerThanOneExp, for the
two input rescales and the output) all round twice, gemmlowp's way; average pool has no
multiplier (an integer division rounded half away from zero, as here, under either rule); max
pool, reshape and clamp do not requantize; int8 concatenation requires equal input and output
quantization in TFLite (a copy), so its rescale here exists only on the PyTorch path.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import ops as OPS
from . import quantize as Q
from .ir import Graph, Op


def prepare_input(g: Graph, x: np.ndarray) -> np.ndarray:
    """Float NCHW (or N x F) samples -> int8 device bytes (N, input bytes), HWC order."""
    t = g.tensors[g.input]
    x = np.asarray(x, dtype=np.float32)
    q = Q.quantize_tensor(x, t.scale, t.zero_point)
    if q.ndim == 4:
        q = q.transpose(0, 2, 3, 1)
    elif q.ndim == 3:  # N x C x L (1-D signals): device 1 x L x C
        q = q.transpose(0, 2, 1)
    return np.ascontiguousarray(q.reshape(len(q), -1))


def dequantize_output(g: Graph, yq: np.ndarray) -> np.ndarray:
    t = g.tensors[g.output]
    y = Q.dequantize(np.asarray(yq).reshape((len(yq),) + tuple(t.shape)), t.scale, t.zero_point)
    y = y.transpose(0, 3, 1, 2) if y.ndim == 4 else y
    if "output_shape_torch" in g.meta:  # a C x L signal stored as 1 x L x C
        y = y.reshape((len(y),) + tuple(g.meta["output_shape_torch"]))
    return y


def _finish(acc, op: Op, zp_out: int, mult=None, shift=None) -> np.ndarray:
    mult = op.arrays["mult"] if mult is None else mult
    shift = op.arrays["shift"] if shift is None else shift
    y = Q.requantize(acc, mult, shift, _rounding(op)) + zp_out
    lo, hi = op.attrs["act"]
    return np.clip(y, lo, hi).astype(np.int8)


def _rounding(op: Op) -> str:
    """The op's rule: its own ``attrs["rounding"]``, else the graph's ``meta["rounding"]`` (handed
    to each op by ``run``)."""
    return op.attrs.get("_rounding", "single")


def _windows(x, k, stride, pad, fill):
    """(N, H, W, C) -> (N, OH, OW, C, kh, kw) views of the padded input."""
    t, l_, b, r = pad if len(pad) == 4 else (pad[0], pad[1], pad[0], pad[1])
    xp = np.pad(x, ((0, 0), (t, b), (l_, r), (0, 0)), constant_values=fill)
    win = sliding_window_view(xp, tuple(k), axis=(1, 2))
    return win[:, ::stride[0], ::stride[1]]


def _maxpool_windows(a, k, s):
    return _windows(a, k, s, [0, 0, 0, 0], 0).max(axis=(-2, -1))


def conv2d(op: Op, x, tin, tout):
    w = op.arrays["weight"]
    o, kh, kw, c = w.shape
    win = _windows(x.astype(np.int32) - tin.zero_point, (kh, kw), op.attrs["stride"], op.attrs["pad"], 0)
    n, oh, ow = win.shape[:3]
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, kh * kw * c).astype(np.float64)
    acc = np.rint(cols @ w.reshape(o, -1).T.astype(np.float64)).astype(np.int64).reshape(n, oh, ow, o)
    acc += op.arrays["bias"]
    if op.attrs.get("pool"):
        acc = _maxpool_windows(acc, op.attrs["pool"]["k"], op.attrs["pool"]["s"])
    return _finish(acc, op, tout.zero_point)


def dwconv2d(op: Op, x, tin, tout):
    w = op.arrays["weight"]  # (kh, kw, C)
    kh, kw, _c = w.shape
    win = _windows(x.astype(np.int64) - tin.zero_point, (kh, kw), op.attrs["stride"], op.attrs["pad"], 0)
    acc = np.einsum("nhwcij,ijc->nhwc", win, w.astype(np.int64)) + op.arrays["bias"]
    if op.attrs.get("pool"):
        acc = _maxpool_windows(acc, op.attrs["pool"]["k"], op.attrs["pool"]["s"])
    return _finish(acc, op, tout.zero_point)


def fc(op: Op, x, tin, tout):
    xs = (x.astype(np.float64) - tin.zero_point)
    acc = np.rint(xs @ op.arrays["weight"].T.astype(np.float64)).astype(np.int64) + op.arrays["bias"]
    return _finish(acc, op, tout.zero_point)


def _pool_pad4(op: Op, x, tout) -> list[int]:
    """[t, l, b, r]: bottom/right padding follows from the output size (ceil_mode adds a partial
    window past the symmetric padding)."""
    k, s, p = op.attrs["k"], op.attrs["stride"], op.attrs["pad"]
    oh, ow = (tout.shape[0], tout.shape[1]) if len(tout.shape) == 3 else (1, 1)
    return [p[0], p[1], max(p[0], (oh - 1) * s[0] + k[0] - x.shape[1] - p[0]),
            max(p[1], (ow - 1) * s[1] + k[1] - x.shape[2] - p[1])]


def _pool_windows(op: Op, x, tout, fill):
    win = _windows(x, op.attrs["k"], op.attrs["stride"], _pool_pad4(op, x, tout), fill)
    oh, ow = (tout.shape[0], tout.shape[1]) if len(tout.shape) == 3 else (1, 1)
    return win[:, :oh, :ow]


def maxpool(op: Op, x, tin, tout):
    return _pool_windows(op, x, tout, Q.INT8_MIN).max(axis=(-2, -1))


def avgpool(op: Op, x, tin, tout):
    k, s, p = op.attrs["k"], op.attrs["stride"], op.attrs["pad"]
    total = _pool_windows(op, x.astype(np.int64), tout, 0).sum(axis=(-2, -1))
    valid = _pool_windows(op, np.ones((1,) + x.shape[1:3] + (1,), np.int64), tout, 0).sum(axis=(-2, -1))
    if op.attrs["count_include_pad"]:  # torch's divisor: the window clipped to the padded input
        oh, ow = total.shape[1:3]
        y0, x0 = np.arange(oh) * s[0] - p[0], np.arange(ow) * s[1] - p[1]
        ch = np.minimum(y0 + k[0], x.shape[1] + p[0]) - y0
        cw = np.minimum(x0 + k[1], x.shape[2] + p[1]) - x0
        count = (ch[:, None] * cw[None, :])[None, :, :, None]
        total = total + (count - valid) * tin.zero_point
    else:
        count = valid
    avg = np.sign(total) * ((np.abs(total) + count // 2) // count)  # half away from zero
    return np.clip(avg, Q.INT8_MIN, Q.INT8_MAX).astype(np.int8)


def add(op: Op, x1, t1, tout, x2, t2):
    a = op.attrs
    ls = a["left_shift"]
    r = _rounding(op)
    y1 = Q.requantize((x1.astype(np.int64) - t1.zero_point) << ls, a["mult"][0], a["shift"][0], r)
    y2 = Q.requantize((x2.astype(np.int64) - t2.zero_point) << ls, a["mult"][1], a["shift"][1], r)
    return _finish(y1 + y2, op, tout.zero_point, a["out_mult"], a["out_shift"])


def concat(op: Op, xs, tins, tout):
    parts = []
    for x, t, m, s, copy in zip(xs, tins, op.attrs["mult"], op.attrs["shift"], op.attrs["copy"]):
        if copy:
            parts.append(x)
        else:
            y = Q.requantize(x.astype(np.int64) - t.zero_point, m, s, _rounding(op)) + tout.zero_point
            parts.append(np.clip(y, Q.INT8_MIN, Q.INT8_MAX).astype(np.int8))
    return np.concatenate(parts, axis=-1)


def run(g: Graph, xq: np.ndarray, keep: bool = False):
    """Run the int8 graph on (N, input bytes) int8. Returns (N, output bytes), or every tensor if keep."""
    xq = np.asarray(xq, dtype=np.int8)
    n = len(xq)
    vals = {g.input: xq.reshape((n,) + tuple(g.tensors[g.input].shape))}
    rounding = g.meta.get("rounding", "single")
    for op in g.ops:
        op = Op(op.name, op.kind, op.inputs, op.output, dict(op.attrs, _rounding=op.attrs.get("rounding", rounding)),
                op.arrays)
        tin = g.tensors[op.inputs[0]]
        tout = g.tensors[op.output]
        x = vals[op.inputs[0]]
        rec = OPS.REGISTRY.get(op.kind)
        if rec is not None:  # an op record's integer semantics
            with Q.default_rounding("double" if op.attrs["_rounding"] == "double" else "single"):
                y = rec.reference(op, [vals[i] for i in op.inputs], [g.tensors[i] for i in op.inputs], tout)
        elif op.kind in ("conv2d", "dwconv2d", "fc", "maxpool", "avgpool"):
            y = globals()[op.kind](op, x, tin, tout)
        elif op.kind == "add":
            y = add(op, x, tin, tout, vals[op.inputs[1]], g.tensors[op.inputs[1]])
        elif op.kind == "concat":
            y = concat(op, [vals[i] for i in op.inputs], [g.tensors[i] for i in op.inputs], tout)
        elif op.kind == "clamp":
            y = np.clip(x, *op.attrs["act"]).astype(np.int8)
        elif op.kind == "reshape":
            y = x.reshape((n,) + tuple(tout.shape))

        elif op.kind == "to_chw":
            y = x.transpose(0, 3, 1, 2).reshape((n,) + tuple(tout.shape))
        else:
            raise AssertionError(f"reference has no op '{op.kind}'")
        if op.kind == "avgpool" and len(tout.shape) == 1:  # a global mean to a vector (mean without keepdim)
            y = y.reshape((n,) + tuple(tout.shape))
        assert y.shape == (n,) + tuple(tout.shape), (op.name, y.shape, tout.shape)
        vals[op.output] = y
    out = vals[g.output].reshape(n, -1)
    return vals if keep else out
