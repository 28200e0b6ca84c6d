"""The numpy integer interpreter of ``ir.Graph``: the oracle every C kernel must match byte for byte.

Usage::

    xq = prepare_input(g, x_float_nchw)       # (N, MCD_INPUT_BYTES) int8, device layout
    yq = run(g, xq)                            # (N, MCD_OUTPUT_BYTES) int8
    y  = dequantize_output(g, yq)              # float, torch's layout

Each op's integer semantics is its record's ``reference`` (``mcudeploy/ops``); this module runs
them in order and holds the helpers they share (windows, requantize-and-clip). Written for
clarity and for batches, not for speed of one sample: every op works on
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


def run(g: Graph, xq: np.ndarray, keep: bool = False):
    """Run the int8 graph on (N, input bytes) int8. Returns (N, output bytes), or every tensor if keep."""
    xq = np.asarray(xq, dtype=np.int8)
    n = len(xq)
    vals = {g.input: xq.reshape((n,) + tuple(g.tensors[g.input].shape))}
    rounding = g.meta.get("rounding", "single")
    for op in g.ops:
        op = Op(op.name, op.kind, op.inputs, op.output, dict(op.attrs, _rounding=op.attrs.get("rounding", rounding)),
                op.arrays)
        tout = g.tensors[op.output]
        rec = OPS.REGISTRY.get(op.kind)
        if rec is None or rec.reference is None:
            raise AssertionError(f"reference has no op '{op.kind}'")
        with Q.default_rounding("double" if op.attrs["_rounding"] == "double" else "single"):
            y = rec.reference(op, [vals[i] for i in op.inputs], [g.tensors[i] for i in op.inputs], tout)
        assert y.shape == (n,) + tuple(tout.shape), (op.name, y.shape, tout.shape)
        vals[op.output] = y
    out = vals[g.output].reshape(n, -1)
    return vals if keep else out
