"""What each C kernel needs from the generator: its weight layout and its scratch bytes.

These are the Python twins of the kernels' ``*_scratch_bytes`` functions and of the packed
weight layout documented in firmware_template/kernels/mcd_simd.h; tests compile the C and
compare the two.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op


def k4(k: int) -> int:
    return (k + 3) & ~3


def pack_rows(w2d: np.ndarray) -> np.ndarray:
    """(O, K) int8 -> (O, K4): zero padded to a multiple of 4, each group of four as (w0, w2, w1, w3)."""
    o, k = w2d.shape
    out = np.zeros((o, k4(k)), np.int8)
    out[:, :k] = w2d
    return np.ascontiguousarray(out.reshape(o, -1, 4)[:, :, [0, 2, 1, 3]].reshape(o, -1))


def interleave_rows(packed: np.ndarray, block: int) -> np.ndarray:
    """Rows in blocks of ``block``: within a block, the four-weight groups of its rows alternate
    (row0 g0, row1 g0, ..., row0 g1, ...), so the kernel walks one pointer through the block.
    Rows past the last full block stay row-major. Row o's data still starts at byte o * K4."""
    o, kk = packed.shape
    nb = o // block
    head = packed[:nb * block].reshape(nb, block, kk // 4, 4).transpose(0, 2, 1, 3).reshape(-1)
    return np.concatenate([head, packed[nb * block:].reshape(-1)]).astype(np.int8)


ROW_BLOCK = {"conv2d": 2, "fc": 4}  # output channels per pass of the conv GEMM / fc kernel


ADD_LUT_MIN = 256  # MCD_ADD_LUT_MIN: adds this large tabulate their input rescale
ROWS_MAX_C_IN, ROWS_MAX_C_OUT = 4, 64  # mcd_conv2d_rows_s8: first layers (MCD_ROWS_MAX_COUT)


def variant(op: Op) -> str:
    """Which C kernel runs the op: ``rows`` (no im2col) for convs on few input channels."""
    if op.kind == "conv2d":
        o, _kh, _kw, c = op.arrays["weight"].shape
        if c <= ROWS_MAX_C_IN and o <= ROWS_MAX_C_OUT:
            return "rows"
    return "default"


def conv_out_w(g: Graph, op: Op) -> int:
    """Width of the conv output before any fused pool."""
    w = g.tensors[op.inputs[0]].shape[1]
    _t, left, _b, right = op.attrs["pad"]
    kw = op.arrays["weight"].shape[2] if op.kind == "conv2d" else op.arrays["weight"].shape[1]
    return (w + left + right - kw) // op.attrs["stride"][1] + 1


def kernel_weights(op: Op) -> np.ndarray:
    """The weight array in the layout the op's kernel reads."""
    w = op.arrays["weight"]
    if variant(op) == "rows":  # int16 [O][k_h][R2], R2 = k_w * C_in rounded up to even
        o, kh, kw, c = w.shape
        r = kw * c
        out = np.zeros((o, kh, r + (r & 1)), np.int16)
        out[:, :, :r] = w.reshape(o, kh, r)
        return out
    if op.kind in ROW_BLOCK:
        return interleave_rows(pack_rows(w.reshape(w.shape[0], -1)), ROW_BLOCK[op.kind])  # OHWI -> [O][K4]
    return w


def scratch_bytes(g: Graph, op: Op) -> int:
    if variant(op) == "rows":
        o, kh, kw, c = op.arrays["weight"].shape
        row = ((conv_out_w(g, op) - 1) * op.attrs["stride"][1] + kw) * c + 2
        pooled_w = g.tensors[op.output].shape[1] if op.attrs.get("pool") else 0
        return ((kh * row * 2 + 3) & ~3) + pooled_w * o * 4
    if op.kind == "conv2d":
        o, kh, kw, c = op.arrays["weight"].shape
        return 2 * k4(kh * kw * c) * 2 + 3 * o * 4
    if op.kind == "fc":
        return k4(op.arrays["weight"].shape[1]) * 2
    if op.kind == "add" and g.tensors[op.output].size >= ADD_LUT_MIN:
        return 2 * 256 * 4
    return 0


def scratch_for(g: Graph) -> dict[str, int]:
    return {op.name: s for op in g.ops if (s := scratch_bytes(g, op))}
