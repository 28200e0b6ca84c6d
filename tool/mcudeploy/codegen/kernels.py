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
    """Which C kernel runs the op: ``sparse`` where the op's weights are stored sparse, ``rows``
    (no im2col) for dense convs on few input channels."""
    if op.attrs.get("format") == "sparse":
        return "sparse"
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
    if op.kind == "dwconv2d":  # int16 [k_h][k_w][C4], each group of four channels as lanes (c0, c2, c1, c3)
        kh, kw, c = w.shape
        c4 = k4(c)
        out = np.zeros((kh, kw, c4), np.int16)
        out[:, :, :c] = w
        return np.ascontiguousarray(out.reshape(kh, kw, c4 // 4, 4)[..., [0, 2, 1, 3]].reshape(kh, kw, c4))
    if op.kind in ROW_BLOCK:
        return interleave_rows(pack_rows(w.reshape(w.shape[0], -1)), ROW_BLOCK[op.kind])  # OHWI -> [O][K4]
    return w


def kernel_arrays(g: Graph, op: Op) -> dict[str, np.ndarray]:
    """Every constant array the op's kernel reads, in its layout (what weights.c holds)."""
    arrays = dict(op.arrays)
    if "shift" in arrays:  # -30 .. 31: one byte a channel in flash
        arrays["shift"] = arrays["shift"].astype(np.int8)
    if variant(op) == "sparse":
        del arrays["weight"], arrays["bias"]
        arrays.update(sparse_arrays(g, op))
    elif "weight" in arrays:
        arrays["weight"] = kernel_weights(op)
    return arrays


def layer_bytes(g: Graph, op: Op) -> dict[str, int]:
    """Flash bytes of the op's constants: values, indices, requantization scales, bias."""
    a = kernel_arrays(g, op)
    return {"values": int(sum(a[k].nbytes for k in ("weight", "sp_val") if k in a)),
            "indices": int(sum(a[k].nbytes for k in ("sp_ptr", "sp_delta") if k in a)),
            "scales": int(sum(a[k].nbytes for k in ("mult", "shift") if k in a)),
            "bias": int(sum(a[k].nbytes for k in ("bias", "bias_adj") if k in a))}


def scratch_bytes(g: Graph, op: Op) -> int:
    if variant(op) == "sparse":
        if op.kind == "fc" or not any(op.attrs["pad"]):
            return 0
        h, w, c = g.tensors[op.inputs[0]].shape
        t, left, b, r = op.attrs["pad"]
        return (h + t + b) * (w + left + r) * c
    if variant(op) == "rows":  # mcd_conv2d_rows_s8_scratch_bytes
        o, kh, kw, c = op.arrays["weight"].shape
        row = ((conv_out_w(g, op) - 1) * op.attrs["stride"][1] + kw) * c + 2
        pool = op.attrs.get("pool")
        pool_2x2 = bool(pool) and pool["k"] == [2, 2]
        pooled_w = g.tensors[op.output].shape[1] if pool else 0
        n_rows = kh + op.attrs["stride"][0] if pool_2x2 else kh
        return ((n_rows * row * 2 + 3) & ~3) + (0 if pool_2x2 else pooled_w * o * 4)
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


# --- sparse storage ---------------------------------------------------------------------------
# Per-layer choice between dense and sparse weights, by a cost model of estimated M4 cycles
# (fitted on this repository's kernels with mcudeploy.cycles) and flash bytes.
# Estimated M4 cycles per MAC (dense) or per non-zero MAC (sparse), measured on LeNet-5 and the
# ResNet-style example with `mcudeploy bench` (benchmarks/kernels_vs_cmsis.py).
DENSE_CYCLES_PER_MAC = {"conv2d": 2.2, "rows": 3.3, "fc": 2.0}
SPARSE_CYCLES_PER_NZ = {"conv2d_pool4": 7.0, "conv2d": 12.0, "fc": 17.0}
FORMATS = ("dense", "sparse")


def window_offsets(g: Graph, op: Op) -> np.ndarray:
    """Input offset of each reduction index k, as the sparse kernels walk it (increasing in k)."""
    w = op.arrays["weight"]
    if op.kind == "fc":
        return np.arange(w.shape[1])
    _o, kh, kw, c = w.shape
    _t, left, _b, right = op.attrs["pad"]
    wp = g.tensors[op.inputs[0]].shape[1] + left + right
    ky, kx, ch = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(c), indexing="ij")
    return ((ky * wp + kx) * c + ch).reshape(-1)


def encode_sparse(rows: np.ndarray, offsets: np.ndarray) -> dict[str, np.ndarray]:
    """(O, K) int8 -> ptr (uint16, O+1), delta (uint8), val (int8): see conv2d_sparse_s8.c."""
    ptr, deltas, vals = [0], [], []
    for row in rows:
        prev = 0
        for k in np.flatnonzero(row):
            gap = int(offsets[k]) - prev
            while gap > 255:  # filler: moves the pointer, multiplies by zero
                deltas.append(255)
                vals.append(0)
                gap -= 255
            deltas.append(gap)
            vals.append(int(row[k]))
            prev = int(offsets[k])
        ptr.append(len(vals))
    if ptr[-1] >= 1 << 16:
        raise ValueError("too many non-zeros for 16-bit row pointers")
    return {"sp_ptr": np.array(ptr, np.uint16), "sp_delta": np.array(deltas or [0], np.uint8),
            "sp_val": np.array(vals or [0], np.int8)}


def sparse_arrays(g: Graph, op: Op) -> dict[str, np.ndarray]:
    w = op.arrays["weight"]
    rows = w.reshape(w.shape[0], -1)
    zp = g.tensors[op.inputs[0]].zero_point
    bias_adj = op.arrays["bias"].astype(np.int64) - zp * rows.astype(np.int64).sum(axis=1)
    out = encode_sparse(rows, window_offsets(g, op))
    out["bias_adj"] = bias_adj.astype(np.int32)
    return out


def sparse_ok(op: Op) -> bool:
    if op.kind == "fc":
        return True
    return op.kind == "conv2d"


def estimate(g: Graph, op: Op, fmt: str) -> tuple[float, int]:
    """(estimated cycles, weight bytes) of the op in a format: the cost model behind 'auto'."""
    w = op.arrays["weight"]
    macs = op.macs
    if fmt == "dense":
        dense = Op(op.name, op.kind, op.inputs, op.output, {**op.attrs, "format": "dense"}, op.arrays)
        key = "rows" if variant(dense) == "rows" else op.kind
        return DENSE_CYCLES_PER_MAC[key] * macs, int(k4(w[0].size) * w.shape[0] + op.arrays["bias"].nbytes)
    nz = int(np.count_nonzero(w))
    density = nz / max(w.size, 1)
    pool4 = op.kind == "conv2d" and (op.attrs.get("pool") or {}).get("k") == [2, 2]
    key = "conv2d_pool4" if pool4 else op.kind
    arrays = sparse_arrays(g, op)
    return SPARSE_CYCLES_PER_NZ[key] * macs * density, int(sum(a.nbytes for a in arrays.values()))


def choose_format(g: Graph, op: Op, mode: str = "auto") -> str:
    """'dense' or 'sparse' for a conv/fc op. ``mode`` dense|sparse forces it; auto takes the
    fewer estimated cycles (by 10%), else the fewer bytes at no more cycles."""
    if op.kind not in ("conv2d", "fc") or not sparse_ok(op):
        return "dense"
    nz = int(np.count_nonzero(op.arrays["weight"]))
    if nz >= (1 << 16) - (1 << 12):  # 16-bit row pointers (with room for fillers): dense, even if asked
        return "dense"
    if mode in FORMATS:
        return mode
    if nz > op.arrays["weight"].size // 2:  # two bytes a non-zero cannot beat one byte a weight
        return "dense"
    cd, bd = estimate(g, op, "dense")
    cs, bs = estimate(g, op, "sparse")
    if cs < 0.9 * cd:
        return "sparse"
    if cs <= cd and bs < bd:
        return "sparse"
    return "dense"
