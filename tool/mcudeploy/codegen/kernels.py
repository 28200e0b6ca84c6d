"""What each C kernel needs from the generator: its weight layout and its scratch bytes.

These are the Python twins of the kernels' ``*_scratch_bytes`` functions and of the packed
weight layout documented in firmware_template/kernels/mcd_simd.h; tests compile the C and
compare the two.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ..ops import REGISTRY


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
DW_MAX_K = 8  # MCD_DW_MAX_KH, MCD_DW_MAX_KW: larger depthwise kernels (fused pools, strides > 2) take the generic kernel


def variant(op: Op) -> str:
    """Which C kernel runs the op: ``sparse`` where the op's weights are stored sparse, ``lowbit``
    where they are packed in 2 or 4 bits, ``rows`` (no im2col) for dense convs on few input channels."""
    if op.attrs.get("format") in LOWBIT:
        return "lowbit"
    if op.attrs.get("format") == TERNARY_SPARSE:
        return TERNARY_SPARSE
    if op.attrs.get("format") == "sparse":
        return "sparse_tile" if tile_ok(op) else "sparse"
    if op.kind == "conv2d":
        o, kh, kw, c = op.arrays["weight"].shape
        if c <= ROWS_MAX_C_IN and o <= ROWS_MAX_C_OUT:
            return "rows"
        if (kh, kw) == (1, 1) and not any(op.attrs["pad"]) and not op.attrs.get("pool"):
            return "pointwise"  # mcd_pwconv2d_s8: GEMM over the HWC pixels (any stride), no im2col
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
    if variant(op) == "lowbit":  # int32 words [O][KP / (32 / bits)]
        return pack_lowbit(w.reshape(w.shape[0], -1), LOWBIT[op.attrs["format"]])
    if variant(op) == "rows":  # int16 [O][k_h][R2], R2 = k_w * C_in rounded up to even
        o, kh, kw, c = w.shape
        r = kw * c
        out = np.zeros((o, kh, r + (r & 1)), np.int16)
        out[:, :, :r] = w.reshape(o, kh, r)
        return out
    if op.kind == "dwconv2d":  # int16 [C][k_h][KW2]: taps in pairs, KW2 = k_w rounded up to even
        kh, kw, c = w.shape
        out = np.zeros((c, kh, kw + (kw & 1)), np.int16)
        out[:, :, :kw] = w.transpose(2, 0, 1)
        return out
    if op.kind in ROW_BLOCK:
        return interleave_rows(pack_rows(w.reshape(w.shape[0], -1)), ROW_BLOCK[op.kind])  # OHWI -> [O][K4]
    return w


def kernel_arrays(g: Graph, op: Op) -> dict[str, np.ndarray]:
    """Every constant array the op's kernel reads, in its layout (what weights.c holds): the op's
    arrays as lowered, replaced or dropped by its record's ``arrays``."""
    arrays = dict(op.arrays)
    if "shift" in arrays:  # -30 .. 31: one byte a channel in flash
        arrays["shift"] = arrays["shift"].astype(np.int8)
    rec = REGISTRY[op.kind]
    if rec.arrays is None:
        return arrays
    merged = {**arrays, **rec.arrays(g, op)}  # a record's None drops an array (e.g. dense weights of a sparse layer)
    return {k: v for k, v in merged.items() if v is not None}


RQ_SHIFT_MAX = 23  # records hold shifts 2 .. 23 (mcd_rq_out: |H + cz| < 2^31)


def bias_adj(g: Graph, op: Op, w2d: np.ndarray) -> np.ndarray:
    """bias - zp_in * sum(w) per output row of w2d (int64): the bias of kernels that read raw int8
    inputs, zero-point padding included (a padded tap then adds zp_in * w - zp_in * w = 0)."""
    zp_in = g.tensors[op.inputs[0]].zero_point
    return op.arrays["bias"].astype(np.int64) - zp_in * w2d.astype(np.int64).sum(axis=1)


def op_rounding(g: Graph, op: Op) -> str:
    """The op's requantization rule: its own attrs["rounding"], else the graph's (quantize.py)."""
    attrs, meta = getattr(op, "attrs", {}), getattr(g, "meta", {})  # stand-ins in unit tests carry neither
    return attrs.get("rounding", meta.get("rounding", "single"))


RQ_DOUBLE_SHIFT_MAX = 21  # double rule: 1 .. 21, and every |acc| < 2^30 (SMMULR of 2 * acc)


def acc_bound(op: Op) -> int:
    """An upper bound of |acc| of the record kernels, which read raw int8 inputs (|x| <= 128) and
    add bias_adj = bias - zp_in * sum(w) (|zp_in| <= 128): |bias| + 256 * sum|w| per channel."""
    w = op.arrays["weight"].astype(np.int64)
    rows = w.reshape(w.shape[0], -1) if op.kind != "dwconv2d" else w.reshape(-1, w.shape[-1]).T
    return int((np.abs(op.arrays["bias"].astype(np.int64)) + 256 * np.abs(rows).sum(axis=1)).max())


def rq_fits(op: Op, rounding: str = "single") -> bool:
    """Whether every shift of the op fits the requantization records of ``rounding`` (else s = -1
    in all rows; see mcd_rq_out in mcd_simd.h)."""
    if rounding == "double":
        shift = op.arrays["shift"].astype(np.int64)
        return bool(((shift >= 1) & (shift <= RQ_DOUBLE_SHIFT_MAX)).all()) and acc_bound(op) < 2**30
    shift = op.arrays["shift"].astype(np.int64)
    return bool(((shift >= 2) & (shift <= RQ_SHIFT_MAX)).all())


def rq_records(g: Graph, op: Op, w2d: np.ndarray) -> np.ndarray:
    """(C, 4) int32 per output channel: bias_adj = bias - zp_in * sum(w), mult, cz, s (see
    mcd_rq_out in mcd_simd.h): requantization plus output zero point as one SMMLA(R) and
    one shift. s = -1 in every row when some shift is outside 2 .. RQ_SHIFT_MAX."""
    zp_out = g.tensors[op.output].zero_point
    mult = op.arrays["mult"].astype(np.int64)
    shift = op.arrays["shift"].astype(np.int64)
    s = shift if op_rounding(g, op) == "double" else shift - 1  # the double rule shifts h, not acc * mult
    cz = np.where(s >= 1, np.left_shift(1, np.maximum(s - 1, 0)), 0) + zp_out * np.left_shift(1, np.maximum(s, 0))
    if not rq_fits(op, op_rounding(g, op)):
        s = np.full_like(s, -1)
        cz = np.zeros_like(cz)
    rec = np.stack([bias_adj(g, op, w2d), mult, cz, s], axis=1)
    return ((rec + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)  # bias_adj wraps as the C sum does


def layer_bytes(g: Graph, op: Op) -> dict[str, int]:
    """Flash bytes of the op's constants: values, indices, requantization scales, bias."""
    a = kernel_arrays(g, op)
    rec = a["sp_rec"].nbytes // 2 if "sp_rec" in a else 0  # records: a value byte and an index byte a slot
    rq = a["rq"].nbytes // 4 if "rq" in a else 0  # requantization records: bias_adj + 3 scale words
    return {"values": int(sum(a[k].nbytes for k in ("weight", "sp_val") if k in a)) + rec,
            "indices": int(sum(a[k].nbytes for k in ("sp_ptr", "sp_delta", "ts_count", "ts_gap") if k in a)) + rec,
            "scales": int(sum(a[k].nbytes for k in ("mult", "shift") if k in a)) + 3 * rq,
            "bias": int(sum(a[k].nbytes for k in ("bias", "bias_adj") if k in a)) + rq}


def scratch_bytes(g: Graph, op: Op) -> int:
    """Bytes of kernel scratch the op's record asks for (its ``scratch``; the C twin is ``c_scratch``)."""
    rec = REGISTRY[op.kind]
    return rec.scratch(g, op) if rec.scratch else 0


def scratch_for(g: Graph) -> dict[str, int]:
    return {op.name: s for op in g.ops if (s := scratch_bytes(g, op))}


# --- low-bit storage ---------------------------------------------------------------------------
# Weights whose int8 values are ternary (q in [-1, 1]) or int4 (q in [-7, 7]): what lower() makes
# of layers on such a grid (quantize.quantize_lowbit_weights_and_bias). Stored packed, unpacked in
# registers (mcd_lowbit_s8.h); the arithmetic is the dense kernels' exactly.
LOWBIT = {"ternary": 2, "int4": 4}
LOWBIT_MAX = {"ternary": 1, "int4": 7}


def lowbit_kp(bits: int, k: int) -> int:
    """K rounded up to whole 32-bit words of 32 / bits weights (mcd_lb_kp)."""
    g = 32 // bits
    return -(-k // g) * g


def lowbit_ok(op: Op, fmt: str) -> bool:
    return op.kind in ("conv2d", "fc") and int(np.abs(op.arrays["weight"].astype(np.int32)).max(initial=0)) <= LOWBIT_MAX[fmt]


def pack_lowbit(rows: np.ndarray, bits: int) -> np.ndarray:
    """(O, K) int8 in range -> int32 words (O * KP * bits / 32), the layout of mcd_lowbit_s8.h:
    weight 4j + m of a word is a ``bits``-wide two's complement field whose top bit is bit
    8L + 7 - bits * j, L = (0, 2, 1, 3)[m]."""
    o, k = rows.shape
    kp = lowbit_kp(bits, k)
    q = np.zeros((o, kp), np.int64)
    q[:, :k] = rows
    per = 32 // bits
    idx = np.arange(per)
    j, m = idx // 4, idx % 4
    lane = np.array([0, 2, 1, 3])[m]
    shift = 8 * lane + 8 - bits * (j + 1)  # lowest bit of the field
    codes = (q.reshape(o, kp // per, per) & ((1 << bits) - 1)) << shift
    words = codes.sum(axis=2).astype(np.uint64).astype(np.uint32)
    return words.reshape(-1).view(np.int32)


# --- sparse ternary storage (fc_ternary_sparse_s8.c) -----------------------------------------
# A pruned ternary fc row is two sets of positions (+1, -1): one gap byte a non-zero, two count
# bytes a row, additions only. Offered where every weight is in {-1, 0, 1} and each set of a row
# has at most 255 members (the count bytes).
TERNARY_SPARSE = "ternary_sparse"
# Estimated M4 cycles per gap byte and per output row, fitted with `mcudeploy bench` on a 400 x 120
# fc at 5 % and 30 % density (31,367 and 108,272 est. cycles). Against the generic sparse format
# (SMLAD, two non-zeros a record) on the same weights: 27,616 and 117,824: additions alone are
# slower on very sparse rows (per-row set-up) and faster on denser ones, at 60 % of its bytes.
TERNARY_SPARSE_CYCLES = {"nz": 6.4, "row": 134.0}


def ternary_sparse_ok(op: Op) -> bool:
    if op.kind != "fc":
        return False
    w = op.arrays["weight"].astype(np.int32).reshape(op.arrays["weight"].shape[0], -1)
    return bool(np.abs(w).max(initial=0) <= 1 and (w > 0).sum(1).max(initial=0) <= 255
                and (w < 0).sum(1).max(initial=0) <= 255)


def encode_ternary_sparse(rows: np.ndarray) -> dict[str, np.ndarray]:
    """(O, K) int8 in {-1, 0, 1} -> ts_count (uint8 [O][2]: +1 then -1 members per row) and
    ts_gap (uint8): per row, the gaps between successive +1 positions (from -1), then those of
    the -1 positions; gaps over 255 are bridged by fillers 0 (advance 255, add nothing)."""
    count, gaps = [], []
    for row in rows:
        for sign in (1, -1):
            prev, n = -1, 0
            for k in np.flatnonzero(row == sign):
                gap = int(k) - prev
                while gap > 255:
                    gaps.append(0)
                    n += 1
                    gap -= 255
                gaps.append(gap)
                n += 1
                prev = int(k)
            if n > 255:
                raise ValueError("a ternary row has over 255 gap bytes in one sign: not ternary_sparse")
            count.append(n)
    return {"ts_count": np.array(count, np.uint8), "ts_gap": np.array(gaps or [0], np.uint8)}


def ternary_sparse_fill(op: Op) -> int:
    """1 when the layer's gaps hold fillers (then the kernel runs its loop that tests for them)."""
    w = op.arrays["weight"]
    a = encode_ternary_sparse(w.reshape(w.shape[0], -1))
    n = int(a["ts_count"].astype(np.int64).sum())
    return int(bool((a["ts_gap"][:n] == 0).any()))


# --- sparse storage ---------------------------------------------------------------------------
# Per-layer choice between dense and sparse weights, by a cost model of estimated M4 cycles
# (fitted on this repository's kernels with mcudeploy.cycles) and flash bytes.
# Estimated M4 cycles per MAC of the packed low-bit kernels, (kind, bits), on padded rows; measured
# with `mcudeploy bench` on LeNet-5 (conv2 with its fused pool, fc1, fc2). Convs on few input
# channels (the dense `rows` kernel's) are not offered low-bit by auto: their im2col per output
# position dominates (LeNet conv1: ~3.3x the rows kernel's cycles) and their weights are few.
LOWBIT_CYCLES_PER_MAC = {("conv2d", 2): 2.6, ("conv2d_pool4", 2): 2.6, ("fc", 2): 2.25,
                         ("conv2d", 4): 2.71, ("conv2d_pool4", 4): 2.71, ("fc", 4): 2.36}
# Estimated M4 cycles per MAC (dense) or per non-zero MAC (sparse), measured on LeNet-5 and the
# ResNet-style example with `mcudeploy bench` (benchmarks/kernels_vs_cmsis.py).
DENSE_CYCLES_PER_MAC = {"conv2d": 2.2, "rows": 2.55, "fc": 2.0}
SPARSE_CYCLES_PER_NZ = {"conv2d_pool4": 7.0, "conv2d": 12.0, "fc": 17.0}
FORMATS = ("dense", "sparse", "ternary", "int4", "ternary_sparse")


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


TILE_CHUNK_NOPOOL = 8      # MCD_SPT_CHUNK_NOPOOL (mcd_conv2d_sparse_tile_s8.h)
TILE_STRIP_BYTES = 1024    # MCD_SPT_STRIP_BYTES
TILE_MAX_STEP = 252        # largest byte step of one tile record (63 words)


def tile_ok(op: Op) -> bool:
    """Sparse convs the 2 x 4 tile kernel takes: stride 1, no pool or a 2x2 stride-2 max-pool."""
    if op.kind != "conv2d" or list(op.attrs["stride"]) != [1, 1]:
        return False
    pool = op.attrs.get("pool")
    return not pool or (list(pool["k"]) == [2, 2] and list(pool["s"]) == [2, 2])


def tile_geometry(g: Graph, op: Op) -> tuple[int, int]:
    """(tiles per strip, strip width Wz) of the tile kernel: mcd_spt_group's twin."""
    _o, kh, kw, c = op.arrays["weight"].shape
    if op.attrs.get("pool"):
        n_tx = (g.tensors[op.output].shape[1] + 1) // 2
    else:
        n_tx = (conv_out_w(g, op) + 3) // 4
    grp = n_tx
    while grp > 1 and c * kh * (4 * grp + kw - 1) * 4 > TILE_STRIP_BYTES:
        grp -= 1
    return grp, 4 * grp + kw - 1


def tile_offsets(g: Graph, op: Op) -> np.ndarray:
    """Word offset in the row-pair strip of each reduction index k = (ky, kx, c) (OHWI order):
    (c * k_h + ky) * Wz + kx, see conv2d_sparse_tile_s8.c."""
    _o, kh, kw, c = op.arrays["weight"].shape
    wz = tile_geometry(g, op)[1]
    ky, kx, ch = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(c), indexing="ij")
    return ((ch * kh + ky) * wz + kx).reshape(-1)


def encode_tile(rows: np.ndarray, offsets: np.ndarray, unit: int = 4,
                max_step: int = TILE_MAX_STEP) -> dict[str, np.ndarray]:
    """(O, K) int8 -> ptr (uint16, O+1, in records), rec (int32): per row, non-zeros in increasing
    offset as (byte step = unit * offset step, value) slots, two a 32-bit record (d0, w0, d1, w1);
    steps over ``max_step`` bytes are bridged by fillers (max_step, 0), odd counts padded with
    (0, 0). The tile conv walks words (unit 4, steps <= 252), the sparse fc bytes (unit 1, 255)."""
    ptr, slots = [0], []
    for row in rows:
        prev, mine = 0, []
        ks = np.flatnonzero(row)
        for k in ks[np.argsort(offsets[ks], kind="stable")]:
            step = unit * (int(offsets[k]) - prev)
            while step > max_step:
                mine.append((max_step, 0))
                step -= max_step
            mine.append((step, int(row[k])))
            prev = int(offsets[k])
        if len(mine) & 1:
            mine.append((0, 0))
        slots += mine
        ptr.append(len(slots) // 2)
    if ptr[-1] >= 1 << 16:
        raise ValueError("too many non-zeros for 16-bit record pointers")
    b = np.array(slots or [(0, 0), (0, 0)], np.int64).reshape(-1, 4)  # d0 w0 d1 w1
    b = (b & 0xFF).astype(np.uint8)
    rec = np.ascontiguousarray(b).view("<u4").reshape(-1).view(np.int32)
    return {"sp_ptr": np.array(ptr, np.uint16), "sp_rec": rec}


def sparse_arrays(g: Graph, op: Op) -> dict[str, np.ndarray]:
    w = op.arrays["weight"]
    rows = w.reshape(w.shape[0], -1)
    if op.kind == "fc":
        out = encode_tile(rows, np.arange(rows.shape[1]), unit=1, max_step=255)
    elif tile_ok(op):
        out = encode_tile(rows, tile_offsets(g, op))
    else:
        out = encode_sparse(rows, window_offsets(g, op))
    out["bias_adj"] = bias_adj(g, op, rows).astype(np.int32)
    return out


# The tile kernel (conv2d_sparse_tile_s8.c), in estimated M4 cycles: per 32-bit record (two
# non-zeros, 16 MACs) per tile, per output channel per tile (set-up, pool max, store), per output
# value (bias, requantization), per strip word filled. Fitted on LeNet-5's conv1/conv2.
TILE_CYCLES = {"record": 36, "channel": 42, "output": 40, "strip_word": 6}


def tile_cycles(g: Graph, op: Op, records: int) -> float:
    """Estimated cycles of the tile kernel for an op whose channels hold ``records`` records."""
    o, kh, _kw, c = op.arrays["weight"].shape
    oh, ow, _ = g.tensors[op.output].shape
    if op.attrs.get("pool"):
        n_ty, n_tx = oh, (ow + 1) // 2
    else:
        n_ty, n_tx = (oh + 1) // 2, (conv_out_w(g, op) + 3) // 4
    grp, wz = tile_geometry(g, op)
    fills = n_ty * -(-n_tx // grp)
    t = TILE_CYCLES
    return (n_ty * n_tx * (t["record"] * records + t["channel"] * o) + t["output"] * oh * ow * o
            + t["strip_word"] * fills * c * kh * wz)


def sparse_ok(op: Op) -> bool:
    if op.kind == "fc":
        return True
    return op.kind == "conv2d"


def estimate(g: Graph, op: Op, fmt: str) -> tuple[float, int]:
    """(estimated cycles, weight bytes) of the op in a format: the cost model behind 'auto'."""
    w = op.arrays["weight"]
    macs = op.macs
    if fmt == TERNARY_SPARSE:
        a = encode_ternary_sparse(w.reshape(w.shape[0], -1))
        t = TERNARY_SPARSE_CYCLES
        return t["nz"] * a["ts_gap"].size + t["row"] * w.shape[0], int(sum(v.nbytes for v in a.values())
                                                                         + op.arrays["bias"].nbytes)
    if fmt in LOWBIT:
        bits = LOWBIT[fmt]
        key = op.kind + ("_pool4" if op.kind == "conv2d" and op.attrs.get("pool") else "")
        kp = lowbit_kp(bits, w[0].size)
        return LOWBIT_CYCLES_PER_MAC[(key, bits)] * macs * kp / w[0].size, int(kp * bits // 8 * w.shape[0]
                                                                              + op.arrays["bias"].nbytes)
    if fmt == "dense":
        dense = Op(op.name, op.kind, op.inputs, op.output, {**op.attrs, "format": "dense"}, op.arrays)
        key = "rows" if variant(dense) == "rows" else op.kind
        return DENSE_CYCLES_PER_MAC[key] * macs, int(k4(w[0].size) * w.shape[0] + op.arrays["bias"].nbytes)
    if tile_ok(op):
        arrays = sparse_arrays(g, op)
        return tile_cycles(g, op, int(arrays["sp_ptr"][-1])), int(sum(a.nbytes for a in arrays.values()))
    nz = int(np.count_nonzero(w))
    density = nz / max(w.size, 1)
    pool4 = op.kind == "conv2d" and (op.attrs.get("pool") or {}).get("k") == [2, 2]
    key = "conv2d_pool4" if pool4 else op.kind
    arrays = sparse_arrays(g, op)
    return SPARSE_CYCLES_PER_NZ[key] * macs * density, int(sum(a.nbytes for a in arrays.values()))


def choose_format(g: Graph, op: Op, mode: str = "auto") -> str:
    """'dense', 'sparse', 'ternary' or 'int4' for a conv/fc op. ``mode`` names one to force it (a
    low-bit format only where the values fit). Between dense and sparse, auto takes the fewer
    estimated cycles (by 10%), else the fewer bytes at no more cycles; a low-bit format (ternary
    tried first) where the values fit and it has fewer bytes than that choice at no more than
    LOWBIT_MAX_SLOWDOWN times its estimated cycles."""
    if op.kind not in ("conv2d", "fc") or not sparse_ok(op):
        return "dense"
    if mode in LOWBIT:  # asked for: only where the values fit, else the best of the others
        return mode if lowbit_ok(op, mode) else choose_format(g, op, "auto")
    if mode == TERNARY_SPARSE:
        return mode if ternary_sparse_ok(op) else choose_format(g, op, "auto")
    nz = int(np.count_nonzero(op.arrays["weight"]))
    if nz >= (1 << 16) - (1 << 12):  # 16-bit row pointers (with room for fillers): not sparse, even if asked
        best = "dense"
    elif mode in FORMATS:
        return mode
    else:
        best = _choose_dense_sparse(g, op)
    if mode != "auto":
        return best
    if op.kind == "conv2d" and op.arrays["weight"].shape[3] <= ROWS_MAX_C_IN:
        return best
    cb, bb = estimate(g, op, best)
    for fmt in LOWBIT_FORMATS:  # the fewest bytes among those within the slowdown
        if lowbit_ok(op, fmt) if fmt in LOWBIT else ternary_sparse_ok(op):
            c, b = estimate(g, op, fmt)
            if b < bb and c <= LOWBIT_MAX_SLOWDOWN * cb:
                best, bb = fmt, b
    return best


LOWBIT_FORMATS = (TERNARY_SPARSE, "ternary", "int4")
LOWBIT_MAX_SLOWDOWN = 1.25  # packed weights are taken for fewer bytes at up to this many more cycles


def _choose_dense_sparse(g: Graph, op: Op) -> str:
    nz = int(np.count_nonzero(op.arrays["weight"]))
    if nz > op.arrays["weight"].size // 2 and not tile_ok(op):  # two bytes a non-zero vs one a weight
        return "dense"
    cd, bd = estimate(g, op, "dense")
    cs, bs = estimate(g, op, "sparse")
    if cs < 0.9 * cd:
        return "sparse"
    if cs <= cd and bs < bd:
        return "sparse"
    return "dense"
