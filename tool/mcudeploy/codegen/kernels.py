"""What each C kernel needs from the generator: its weight layout and its scratch bytes.

These are the Python twins of the kernels' ``*_scratch_bytes`` functions and of the packed
weight layout documented in firmware_template/kernels/mcd_simd.h; tests compile the C and
compare the two.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ..ops import REGISTRY
from ..quantize import requantize
from .fc_pack import pack_fc_pairs, pairs_raw_ok


def rows2d(w: np.ndarray) -> np.ndarray:
    """(C_out, the rest) view of a weight array; by size, so a gated-off layer with no output channel
    (which the budget penalty's descent reaches) gives (0, taps), not a reshape error."""
    return w.reshape(w.shape[0], int(np.prod(w.shape[1:])))


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


def pack_pairs(w2d: np.ndarray) -> np.ndarray:
    """(O, K) int8 -> the dense conv's 2x4 GEMM layout (mcd_gemm2x4_s8.h): K zero padded to K4, rows
    in pairs (an odd last row gets a zero partner), per tap pair (k, k+1) a pair's word
    (r0[k], r1[k], r0[k+1], r1[k+1]) (SXTB16 gives row 0's taps, SXTB16 ROR 8 row 1's); the two
    pairs of each block of four rows alternate word by word. Pair o/2 starts at byte o * K4."""
    o, k = w2d.shape
    kk, oe = k4(k), o + (o & 1)
    full = np.zeros((oe, kk), np.int8)
    full[:o, :k] = w2d
    pairs = full.reshape(oe // 2, 2, kk // 2, 2).transpose(0, 2, 3, 1).reshape(oe // 2, kk // 2, 4)
    nb = o // 4  # blocks of four real rows; the rest stay pair by pair
    head = pairs[:2 * nb].reshape(nb, 2, kk // 2, 4).transpose(0, 2, 1, 3).reshape(-1)
    return np.concatenate([head, pairs[2 * nb:].reshape(-1)]).astype(np.int8)


def pack_pw4(w2d: np.ndarray) -> np.ndarray:
    """(O, K) int8 -> the 4-pixel pointwise kernel's layout (mcd_pwconv2d_s8_4px): K zero padded
    to K4, rows in pairs (an odd last row gets a zero partner), per pair and group of four taps
    k0..k3 the words (r0[k0], r1[k0], r0[k2], r1[k2]) and (r0[k1], r1[k1], r0[k3], r1[k3]): the
    input word's SXTB16 gives (k0, k2), its ROR 8 (k1, k3), so the columns need no repacking.
    Pair o/2 starts at byte o * K4."""
    o, k = w2d.shape
    kk, oe = k4(k), o + (o & 1)
    full = np.zeros((oe, kk), np.int8)
    full[:o, :k] = w2d
    # tap 4g + 2h + e of row 2q + r -> byte (q, g, e, h, r)
    return np.ascontiguousarray(full.reshape(oe // 2, 2, kk // 4, 2, 2).transpose(0, 2, 4, 3, 1)).reshape(-1)


def pw4_in_place(g: Graph, op: Op) -> bool:
    """Whether a pointwise layer on the 4-pixel kernel may write its output over its input: it
    widens each block of four input pixels before it writes their outputs, so any stride works
    while an output pixel is no wider than an input pixel (C_out <= C_in)."""
    return bool(op.attrs.get("pw4")) and g.tensors[op.output].shape[-1] <= g.tensors[op.inputs[0]].shape[-1]


def pointwise_4px(g: Graph) -> list[str]:
    """Mark the plain pointwise layers (mcd_pwconv2d_s8) that take the 4-pixel kernel
    (attrs["pw4"]): those where its larger scratch (four widened pixels) does not raise the
    arena's peak, counting that it writes in place where pw4_in_place allows (which usually
    lowers the layer's footprint by a whole output). Why: it reads the weights once per four
    pixels instead of two, which halves the flash passes and feeds each weight word to 8 SMLADs.
    Layers with constant channels take its live twin (mcd_pwconv2d_s8_live_4px). Returns the
    names marked."""
    from ..plan import plan

    def arena() -> int:
        return plan(g, scratch=scratch_for(g)).arena_bytes

    for op in g.ops:
        op.attrs.pop("pw4", None)
    cands = [op for op in g.ops if op.kind == "conv2d" and variant(op) == "pointwise"]
    if not cands:
        return []
    peak, marked = arena(), []  # the limit stays the unmarked arena: an in-place layer's saving is not spent twice
    for op in sorted(cands, key=lambda op: -op.macs):
        op.attrs["pw4"] = True
        if arena() > peak:
            del op.attrs["pw4"]
        else:
            marked.append(op.name)
    return marked


ROW_BLOCK = {"conv2d": 2, "fc": 4}  # output channels per pass of the pointwise GEMM / fc kernel


ADD_LUT_MIN = 256  # MCD_ADD_LUT_MIN: adds this large read their input rescale from tables (ops/add.py)
ROWS_MAX_C_IN, ROWS_MAX_C_OUT = 4, 64  # mcd_conv2d_rows_s8: first layers (MCD_ROWS_MAX_COUT)
# From 16 output channels the 2x4 GEMM (conv2d_s8.c) beats the rows kernel even on 1-3 input
# channels: its im2col is shared by more MACs (est. cycles/MAC: IC's 3-channel conv 4.03 -> 3.48,
# KWS's 1-channel 10x4 conv 3.60 -> 2.46); with 6 (LeNet-5's conv1: 2.48 -> 7.39) it does not.
ROWS_BELOW_C_OUT = 16
# With a fused 2x2 max-pool the rows kernel computes two channels at the four positions of a window
# a tap pair (mcd_rows_quad2: 8 SMLAD per 6 loads, no im2col), which beats the 2x4 GEMM from 16
# channels too when the input has few channels (LeNet-5's conv2, 6 -> 16: 1.79 -> ~1.1 est. c/MAC).
ROWS_POOL_MAX_C_IN = 8
# Unpooled convs (not 1x1) on <= 4 input channels from 8 output channels: mcd_conv2d_few_s8 (two blocks of four
# channels and more), est. cycles zero-wait / flash: IC's first conv (3 -> 16) 1.23 M / 1.42 M with
# the 2x4 GEMM -> 0.73 M / 0.74 M, KWS's (1 -> 64, 10x4, stride 2) 0.71 M / 0.79 M -> 0.53 M / 0.56 M,
# VWW's (3 -> 8, stride 2) 1.17 M / 1.28 M with the rows kernel -> 0.97 M / 1.01 M. Below 8 (one block,
# or one and a part) the rows kernel stays: not measured against it.
FEW_MIN_C_OUT = 8
DW_MAX_K = 8  # MCD_DW_MAX_KH, MCD_DW_MAX_KW: larger depthwise kernels (fused pools, strides > 2) take the generic kernel


def dw_in_place_ok(g: Graph, op: Op) -> bool:
    """Whether the depthwise fast kernel (mcd_dwconv2d_s8.h) may write its output over its input
    (TinyEngine's in-place depthwise, here at no cost): it widens every input row into its ring
    once, before the first output row that reads it, and writes output row oy only after the
    rows of its window are in the ring. So output row oy may overwrite any input row already
    read: checked for every oy, the end of output row oy against the start of the first input
    row not yet read. The generic kernel (fused pool, stride > 2 across, kernels > 8) reads the
    input directly and is never in place."""
    kh, kw, _c = op.arrays["weight"].shape
    if op.attrs.get("pool") or kh > DW_MAX_K or kw > DW_MAX_K or op.attrs["stride"][1] not in (1, 2):
        return False
    h, w, _ = g.tensors[op.inputs[0]].shape
    oh, ow, _ = g.tensors[op.output].shape
    oy = np.arange(oh)
    read = np.minimum(oy * op.attrs["stride"][0] - op.attrs["pad"][0] + kh, h)  # input rows read after oy's window
    return bool(np.all((read >= h) | ((oy + 1) * ow <= read * w)))


def variant(op: Op) -> str:
    """Which C kernel runs the op: ``sparse`` where the op's weights are stored sparse, ``lowbit``
    where they are packed in 2 or 4 bits, ``few`` (unpooled, 8+ output channels) or ``rows`` (no im2col)
    for dense convs on few input channels."""
    if op.attrs.get("format") in LOWBIT:
        return "lowbit"
    if op.attrs.get("format") == TERNARY_SPARSE:
        return TERNARY_SPARSE
    if op.attrs.get("format") == "sparse":
        return "sparse_tile" if tile_ok(op) else "sparse"
    if op.kind == "conv2d":
        o, kh, kw, c = op.arrays["weight"].shape
        pool = op.attrs.get("pool")
        if c <= ROWS_MAX_C_IN and not pool and o >= FEW_MIN_C_OUT and kh * kw > 1 and few_ok(op):
            return "few"  # mcd_conv2d_few_s8: the rows kernel's reads, aligned, records from registers
        if c <= ROWS_MAX_C_IN and o < min(ROWS_BELOW_C_OUT, ROWS_MAX_C_OUT + 1):
            return "rows"
        if pool and pool["k"] == [2, 2] and c <= ROWS_POOL_MAX_C_IN and ROWS_BELOW_C_OUT <= o <= ROWS_MAX_C_OUT:
            return "rows"  # in strips that keep its scratch within the GEMM's (ops/conv2d.py: rows_strip_w)
        if (kh, kw) == (1, 1) and not any(op.attrs["pad"]) and not op.attrs.get("pool"):
            return "pointwise"  # mcd_pwconv2d_s8: GEMM over the HWC pixels (any stride), no im2col
    return "default"


def few_ok(op: Op) -> bool:
    """Whether mcd_conv2d_few_s8's unrolled window applies (MCD_ROWS_ASM_OK, MCD_ROWS_UNROLL in
    mcd_conv2d_rows_s8.h: four channels' weights and a kernel row within LDR's 4 KB immediates,
    at most 32 tap pairs a window); elsewhere the 2x4 GEMM, which needs no such bound."""
    _o, kh, kw, c = op.arrays["weight"].shape
    r2 = kw * c + (kw * c & 1)
    return kh * (r2 // 2) <= 32 and 4 * kh * r2 * 2 <= 4095


def few_dbl(g: Graph, op: Op) -> bool:
    """mcd_conv2d_few_s8's mode bit 0: doubled weights and bias and mcd_rq_out_dbl_relu, where the
    double rule's cheaper form is exact (the clamp starts at or above the output zero point; the
    reasoning of dw_doubled, which rq_fits' bound |acc| < 2^30 makes safe to double)."""
    if op_rounding(g, op) != "double" or not rq_fits(op, "double", g):
        return False
    return max((op.attrs.get("act") or FULL_RANGE)[0], -128) >= g.tensors[op.output].zero_point


def few_tail_words(op: Op) -> int:
    """mcd_few_tail_words: tail words a pixel where a kernel row's length k_w * C_in is odd (its
    last taps go in pairs across the rows) and they fit between pixel pairs; else 0."""
    _o, kh, kw, c = op.arrays["weight"].shape
    return (kh + 1) // 2 if (kw * c) & 1 and (kh + 1) // 2 <= op.attrs["stride"][1] * c else 0


def few_channel_halfwords(op: Op) -> int:  # mcd_few_channel_halfwords
    _o, kh, kw, c = op.arrays["weight"].shape
    tw = few_tail_words(op)
    return kh * (kw * c & ~1) + 2 * tw if tw else kh * (kw * c + (kw * c & 1))


def few_pack(g: Graph, op: Op) -> np.ndarray:
    """The one int32 array mcd_conv2d_few_s8 reads: per block of four output channels (zero
    channels pad the last) each channel's int16 weights, then bias[4], then (mult, cz, s)[4] from
    rq_records; weights and bias doubled where few_dbl. A channel's weights: per kernel row its
    taps in pairs, R2 = k_w * C_in rounded up to even (the pad tap 0); or, with tail words
    (few_tail_words), the row's pairs without its last tap, then the rows' last taps in pairs
    (row 0, row 1), (row 2, row 3 or 0), ..."""
    w = op.arrays["weight"]
    o, kh, kw, c = w.shape
    r = kw * c
    ob = o + (-o % 4)
    tw = few_tail_words(op)
    wt = np.zeros((ob, few_channel_halfwords(op)), np.int32)
    rows = w.reshape(o, kh, r).astype(np.int32)
    if tw:
        wt[:o, :kh * (r - 1)] = rows[:, :, :r - 1].reshape(o, -1)
        wt[:o, kh * (r - 1):kh * (r - 1) + kh] = rows[:, :, r - 1]
    else:
        wt[:o] = np.pad(rows, ((0, 0), (0, 0), (0, r & 1))).reshape(o, -1)
    bias = np.zeros(ob, np.int64)
    bias[:o] = op.arrays["bias"] if op.arrays.get("bias") is not None else 0
    if few_dbl(g, op):
        wt, bias = wt * 2, bias * 2
    rec = np.zeros((ob, 3), np.int64)
    rec[:o] = rq_records(g, op, w.reshape(o, kh * kw * c))[:, 1:]
    blocks = []
    for b in range(0, ob, 4):
        words = np.frombuffer(wt[b:b + 4].astype("<i2").tobytes(), "<i4")
        blocks += [words, bias[b:b + 4], rec[b:b + 4].reshape(-1)]
    out = np.concatenate(blocks).astype(np.int64)
    return ((out + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


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
        return pack_lowbit(rows2d(w), LOWBIT[op.attrs["format"]])
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
    if op.kind == "conv2d" and variant(op) == "default":
        return pack_pairs(rows2d(w))  # OHWI -> row pairs of [K4] (mcd_conv2d_s8)
    if op.kind == "fc":  # mcd_fc_s8.h: rows in pairs, the even row +128 (codegen/fc_pack.py)
        return pack_fc_pairs(rows2d(w), pairs_raw_ok(rows2d(w), op.arrays["bias"]))
    if op.kind == "conv2d" and variant(op) == "pointwise" and op.attrs.get("pw4"):
        return pack_pw4(rows2d(w))  # OHWI -> row pairs, taps (k0, k2), (k1, k3) (mcd_pwconv2d_s8_4px)
    if op.kind in ROW_BLOCK:
        return interleave_rows(pack_rows(rows2d(w)), ROW_BLOCK[op.kind])  # OHWI -> [O][K4]
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
    rows = rows2d(w) if op.kind != "dwconv2d" else w.reshape(-1, w.shape[-1]).T
    return int((np.abs(op.arrays["bias"].astype(np.int64)) + 256 * np.abs(rows).sum(axis=1)).max(initial=0))


def weight_rows(op: Op) -> np.ndarray:
    """(C_out, taps) int64: the weights of each output channel (depthwise: its k_h * k_w taps)."""
    w = op.arrays["weight"].astype(np.int64)
    return rows2d(w) if op.kind != "dwconv2d" else w.reshape(-1, w.shape[-1]).T


FULL_RANGE = (-128, 127)


def input_bounds(g: Graph, op: Op, ranges: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """Per input channel of op, the least and greatest raw int8 value its kernel can read: the
    channel's range from channel_ranges (else all of int8), widened by the zero point that the
    padding holds."""
    t = g.tensors[op.inputs[0]]
    c = t.shape[-1]
    lo, hi = (ranges or {}).get(op.inputs[0], (np.full(c, FULL_RANGE[0]), np.full(c, FULL_RANGE[1])))
    if any(op.attrs.get("pad") or ()):
        lo, hi = np.minimum(lo, t.zero_point), np.maximum(hi, t.zero_point)
    return np.asarray(lo, np.int64), np.asarray(hi, np.int64)


def acc_range(g: Graph, op: Op, rows: np.ndarray | None = None,
              ranges: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel, the least and greatest accumulator of the record kernels, which add
    bias_adj to raw int8 inputs (-128 .. 127, or the input channels' ranges, zero-point padding
    included): exact bounds, not estimates, so that a channel whose whole range requantizes to
    one value is known constant."""
    rows = weight_rows(op) if rows is None else rows.astype(np.int64)
    base = bias_adj(g, op, rows)
    c = g.tensors[op.inputs[0]].shape[-1] if ranges is not None else 0
    if ranges is not None and op.kind == "dwconv2d" and rows.shape[0] == c:
        lo, hi = input_bounds(g, op, ranges)
        xl, xh = lo[:, None], hi[:, None]
    elif ranges is not None and op.kind == "conv2d" and c and rows.shape[1] % c == 0:
        lo, hi = input_bounds(g, op, ranges)
        xl, xh = np.tile(lo, rows.shape[1] // c)[None, :], np.tile(hi, rows.shape[1] // c)[None, :]  # OHWI
    else:
        xl, xh = FULL_RANGE
    return base + np.minimum(rows * xl, rows * xh).sum(axis=1), base + np.maximum(rows * xl, rows * xh).sum(axis=1)


def _out_range(g: Graph, op: Op, rows: np.ndarray | None, ranges: dict | None) -> tuple[np.ndarray, ...]:
    """(valid, y_lo, y_hi) per output channel: the output's least and greatest int8 value, valid
    where the accumulator range cannot wrap int32. Requantization is monotonic in acc."""
    lo, hi = acc_range(g, op, rows, ranges)
    zp_out = conv_out_zp(g, op)
    a_lo, a_hi = (getattr(op, "attrs", {}) or {}).get("act") or FULL_RANGE
    rule = op_rounding(g, op)
    mult, shift = op.arrays["mult"].astype(np.int64), op.arrays["shift"].astype(np.int64)
    ok = (lo >= -(2**31)) & (hi < 2**31)
    lo, hi = np.clip(lo, -(2**31), 2**31 - 1), np.clip(hi, -(2**31), 2**31 - 1)
    y_lo = np.clip(requantize(lo, mult, shift, rule) + zp_out, max(a_lo, -128), min(a_hi, 127))
    y_hi = np.clip(requantize(hi, mult, shift, rule) + zp_out, max(a_lo, -128), min(a_hi, 127))
    return ok, y_lo, y_hi


def conv_out_zp(g: Graph, op: Op) -> int:
    """The zero point the op's requantization writes: its output's, or for a conv with a fused add
    (codegen/fuse.py) the conv's own output's, which the add then reads."""
    fused = (getattr(op, "attrs", None) or {}).get("add")
    return fused["mid_zp"] if fused else g.tensors[op.output].zero_point


def channel_ranges(g: Graph) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per channel of every conv2d / dwconv2d output, its least and greatest int8 value over all
    inputs of the graph (interval arithmetic through the weights, bias and requantization, from
    the producers' ranges; any other op's output: all of int8). A channel dead upstream (a ReLU
    that never opens) is then known constant downstream too."""
    ranges: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for op in getattr(g, "ops", ()):
        if op.kind in ("conv2d", "dwconv2d") and "mult" in op.arrays and "weight" in op.arrays \
                and "add" not in op.attrs:  # a fused add's output: any int8 (codegen/fuse.py)
            ok, y_lo, y_hi = _out_range(g, op, None, ranges)
            ranges[op.output] = (np.where(ok, y_lo, -128), np.where(ok, y_hi, 127))
    return ranges


def constant_channels(g: Graph, op: Op, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mask, value) per output channel: the channels whose output is the same int8 value for
    every input, with that value (output zero point and activation clamp included). VWW's
    pointwise layers have many: zero multipliers (dead channels), shifts up to 31 whose scale
    maps the whole accumulator range to one step, ReLUs that never open, and channels fed only
    by such channels upstream (channel_ranges). Requantization is monotonic in acc, so equal
    outputs at both ends of the exact range mean equal everywhere; an accumulator range that
    could wrap int32 is never called constant."""
    ok, y_lo, y_hi = _out_range(g, op, rows, channel_ranges(g) if hasattr(g, "ops") else None)
    return ok & (y_lo == y_hi), y_lo


def rq_fits(op: Op, rounding: str = "single", g: Graph | None = None, rows: np.ndarray | None = None) -> bool:
    """Whether every shift of the op fits the requantization records of ``rounding`` (else s = -1
    in all rows; see mcd_rq_out in mcd_simd.h). With the graph, constant channels (see
    constant_channels) do not count: their records hold the constant, whatever their shift, and
    the double rule's |acc| < 2^30 is checked on each channel's exact range."""
    shift = op.arrays["shift"].astype(np.int64)
    live = np.ones(shift.shape, bool)
    if g is not None:
        live = ~constant_channels(g, op, rows)[0]
        lo, hi = acc_range(g, op, rows, channel_ranges(g) if hasattr(g, "ops") else None)
        big = bool((np.maximum(np.abs(lo), np.abs(hi))[live] >= 2**30).any())
    if rounding == "double":
        if g is None:
            big = acc_bound(op) >= 2**30
        return bool(((shift >= 1) & (shift <= RQ_DOUBLE_SHIFT_MAX))[live].all()) and not big
    return bool(((shift >= 2) & (shift <= RQ_SHIFT_MAX))[live].all())


def rq_records(g: Graph, op: Op, w2d: np.ndarray) -> np.ndarray:
    """(C, 4) int32 per output channel: bias_adj = bias - zp_in * sum(w), mult, cz, s (see
    mcd_rq_out in mcd_simd.h): requantization plus output zero point as one SMMLA(R) and
    one shift. s = -1 in every row when some shift is outside 2 .. RQ_SHIFT_MAX. A constant
    channel (constant_channels) holds mult = 0, s = 1, cz = 2 * value: either rule then gives
    (0 + cz) >> 1 = value, with no test in the kernel."""
    zp_out = conv_out_zp(g, op)
    mult = op.arrays["mult"].astype(np.int64)
    shift = op.arrays["shift"].astype(np.int64)
    s = shift if op_rounding(g, op) == "double" else shift - 1  # the double rule shifts h, not acc * mult
    cz = np.where(s >= 1, np.left_shift(1, np.maximum(s - 1, 0)), 0) + zp_out * np.left_shift(1, np.maximum(s, 0))
    if not rq_fits(op, op_rounding(g, op), g, w2d):
        s = np.full_like(s, -1)
        cz = np.zeros_like(cz)
    else:
        const, value = constant_channels(g, op, w2d)
        mult, s, cz = np.where(const, 0, mult), np.where(const, 1, s), np.where(const, 2 * value, cz)
    rec = np.stack([bias_adj(g, op, w2d), mult, cz, s], axis=1)
    return ((rec + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)  # bias_adj wraps as the C sum does


PW_LIVE_MIN_CONST = 1  # constant channels from which a pointwise layer computes only the others


def pw_live(g: Graph, op: Op) -> np.ndarray | None:
    """The output channels a pointwise layer computes (mcd_pwconv2d_s8_live), or None for the
    plain kernel: a layer with constant output or input channels (constant_channels,
    pw_live_inputs) whose live channels all fit the records. The constant outputs are copied
    instead of computed and the constant inputs folded into the bias: the outputs are the same
    for every input, the MACs of those channels are skipped."""
    if op.kind != "conv2d" or variant(op) != "pointwise" or "mult" not in op.arrays:
        return None
    w2d = op.arrays["weight"].reshape(op.arrays["weight"].shape[0], -1)
    const = constant_channels(g, op, w2d)[0]
    n_const_in = w2d.shape[1] - len(pw_live_inputs(g, op)[0])
    if const.sum() + n_const_in < PW_LIVE_MIN_CONST or not rq_fits(op, op_rounding(g, op), g, w2d):
        return None
    if const.all() or n_const_in == w2d.shape[1]:  # nothing left to compute: the plain kernel, whose records
        return None                                # (mult 0) give every constant channel its value
    return np.flatnonzero(~const)


def rq_fast_code(g: Graph, op: Op) -> int:
    """The kernels' fast_rq literal: 0 generic rule, 1 records; 2 records with constant channels
    (mult 0) that the depthwise kernel stores instead of computing; plus 4 where dw_doubled."""
    fits = rq_fits(op, op_rounding(g, op), g)
    if fits and op.kind == "dwconv2d" and constant_channels(g, op)[0].any():
        return 2 | (4 if dw_doubled(g, op) else 0)
    return int(fits) | (4 if fits and dw_doubled(g, op) else 0)


def dw_doubled(g: Graph, op: Op) -> bool:
    """Whether the depthwise fast kernel gets doubled weights and bias_adj and the cheaper double
    rule (mcd_rq_out_dbl_relu: fast_rq bit 4). The double rule's tie correction for a negative
    high word only changes outputs at or below the zero point, so it can go where the clamp
    starts at or above the zero point (ReLU, ReLU6; VWW's and KWS's depthwise layers); the
    doubling saves the kernel's LSL and needs |2 acc| < 2^31, which rq_fits already checks."""
    if op.kind != "dwconv2d" or op_rounding(g, op) != "double" or not rq_fits(op, "double", g):
        return False
    kh, kw, _c = op.arrays["weight"].shape
    if op.attrs.get("pool") or kh > DW_MAX_K or kw > DW_MAX_K or op.attrs["stride"][1] not in (1, 2):
        return False  # the generic kernel (dwconv2d_s8.c) reads the weights as they are
    a_lo = (op.attrs.get("act") or FULL_RANGE)[0]
    return max(a_lo, -128) >= g.tensors[op.output].zero_point


def pw_live_inputs(g: Graph, op: Op) -> tuple[np.ndarray, np.ndarray]:
    """(live, values): the input channels of a pointwise layer that vary, and the value of every
    input channel (meaningful where constant: channel_ranges gives one value)."""
    lo, hi = input_bounds(g, op, channel_ranges(g))
    return np.flatnonzero(lo != hi), lo


def pw_live_arrays(g: Graph, op: Op, rq: np.ndarray) -> dict[str, np.ndarray]:
    """What mcd_pwconv2d_s8_live reads in place of the plain kernel's weight and rq (records rq
    [O * 4] of all channels): the live channels' weights (live input columns only) and records
    (bias_adj plus the constant inputs' share), their output positions (live), the output pixel
    with the constants in place (cst) and, when some input channels are constant, the live
    input channels (lin). Empty for the plain kernel."""
    live = pw_live(g, op)
    if live is None:
        return {}
    w2d = op.arrays["weight"].reshape(op.arrays["weight"].shape[0], -1).astype(np.int64)
    const, value = constant_channels(g, op, w2d)
    lin, x = pw_live_inputs(g, op)
    dead = np.setdiff1d(np.arange(w2d.shape[1]), lin)
    rec = rq.reshape(-1, 4)[live].astype(np.int64)
    rec[:, 0] += w2d[live][:, dead] @ x[dead]  # the constant inputs' share of every accumulator
    wl = w2d[live][:, lin].astype(np.int8)
    out = {"weight": pack_pw4(wl) if op.attrs.get("pw4") else interleave_rows(pack_rows(wl), ROW_BLOCK["conv2d"]),
           "rq": (((rec + (1 << 31)) % (1 << 32)) - (1 << 31)).astype(np.int32).reshape(-1),
           "live": live.astype(np.uint16), "cst": np.where(const, value, 0).astype(np.int8)}
    if len(dead):
        out["lin"] = lin.astype(np.uint16)
    return out


def layer_bytes(g: Graph, op: Op) -> dict[str, int]:
    """Flash bytes of the op's constants: values, indices, requantization scales, bias."""
    a = kernel_arrays(g, op)
    rec = a["sp_rec"].nbytes // 2 if "sp_rec" in a else 0  # records: a value byte and an index byte a slot
    rq = a["rq"].nbytes // 4 if "rq" in a else 0  # requantization records: bias_adj + 3 scale words
    return {"values": int(sum(a[k].nbytes for k in ("weight", "sp_val") if k in a)) + rec,
            "indices": int(sum(a[k].nbytes for k in ("sp_ptr", "sp_delta", "ts_count", "ts_gap", "live", "cst", "lin")
                               if k in a)) + rec,
            "scales": int(sum(a[k].nbytes for k in ("mult", "shift") if k in a)) + 3 * rq,
            "bias": int(sum(a[k].nbytes for k in ("bias", "bias_adj") if k in a)) + rq}


def scratch_bytes(g: Graph, op: Op) -> int:
    """Bytes of kernel scratch the op's record asks for (its ``scratch``; the C twin is ``c_scratch``)."""
    rec = REGISTRY[op.kind]
    return rec.scratch(g, op) if rec.scratch else 0


def gemm_stage_bytes(op: Op) -> int:
    """Bytes mcd_conv2d_s8 copies when it stages a conv whole: its weights ([O rounded to a pair][K4])
    and, with attrs["stage_rq"] (fast bit 8), its records after them (16 B a channel)."""
    o, kh, kw, c = op.arrays["weight"].shape
    return (o + (o & 1)) * k4(kh * kw * c) + (16 * o if op.attrs.get("stage_rq") else 0)


def staged_bytes(op: Op) -> int:
    """SRAM for the weights of a conv staged out of flash (attrs["stage_weights"], see stage_weights;
    "input": staged into its input's dead rows, no scratch)."""
    if op.attrs.get("stage_weights") in (None, False, "input"):
        return 0
    o, kh, kw, c = op.arrays["weight"].shape
    if op.attrs["stage_weights"] == "block":  # mcd_conv2d_s8's blocked staging: nb channels' weights and records
        return op.attrs["stage_block"] * (k4(kh * kw * c) + 16)
    if variant(op) == "rows":  # int16 [O][k_h][R2] (kernel_weights)
        return o * kh * (kw * c + (kw * c & 1)) * 2
    if variant(op) == "few":  # few_pack: per block of four channels the weights, bias and records
        return (o + (-o % 4)) * (few_channel_halfwords(op) * 2 + 16)
    if op.attrs.get("pw4"):  # mcd_pwconv2d_s8_4px copies its records too
        return (o + (o & 1)) * k4(c) + 16 * o
    return gemm_stage_bytes(op)


def stage_weights(g: Graph, peak: int = 0) -> list[str]:
    """Mark the dense convs (mcd_conv2d_s8, mcd_conv2d_rows_s8) whose weights can be copied to SRAM at the start of
    the layer without raising the arena's peak: the copy goes into the layer's scratch, placed by
    the planner in memory that is free while the layer runs.

    Why: the kernel reads a layer's weights once per pixel pair, and a layer's weights are many
    more than the ART's 8-line data cache holds, so on the F446RE every pass re-reads them from
    flash (5 wait states a 16-byte line). Read once into SRAM, they cost that once. Layers at the
    peak stage into their input's dead rows where they can, and _stage_more adds the records and
    the staging in blocks of channels. Returns the names marked, in graph order (attrs changed in
    place)."""
    from ..plan import plan

    def arena() -> int:
        return plan(g, scratch={op.name: s for op in g.ops if (s := scratch_bytes(g, op))}).arena_bytes

    for op in g.ops:
        for key in ("stage_weights", "stage_block", "stage_rq", "stage_out_tail"):
            op.attrs.pop(key, None)
    cands = [op for op in g.ops if op.kind == "conv2d" and (variant(op) in ("default", "rows", "few") or (
        op.attrs.get("pw4") and pw_live(g, op) is None))]  # the live pointwise kernel: not staged
    if not cands:
        return []
    peak, marked = max(arena(), peak), []  # peak: a larger arena the caller allows (codegen/fuse.py)
    for op in sorted(cands, key=lambda op: -op.macs):  # the most MACs per staged byte first
        op.attrs["stage_weights"] = True
        if arena() > peak:
            del op.attrs["stage_weights"]
            if variant(op) == "default" and stage_in_input_ok(g, op):  # mcd_conv2d_s8 only
                op.attrs["stage_weights"] = "input"
                marked.append(op.name)
        else:
            marked.append(op.name)
    for op in sorted(cands, key=lambda op: -op.macs):
        if variant(op) == "default" and "add" not in op.attrs:  # mcd_conv2d_s8's bits (the fused kernel stages its own)
            _stage_more(g, op, arena, peak, marked)
    return [op.name for op in g.ops if op.name in marked]  # graph order


def _out_tail_ok(g: Graph, op: Op) -> bool:
    """For a conv staged into its input's dead rows ("input"): whether the pixels before those rows
    are dead (mcd_conv2d_s8's `stop`, its formula here) write nothing into the last bytes of the
    output, so a first copy of the weights (and records) can wait there (fast bit 32; IC's conv2d_2:
    6 of 32 rows read 2.3 KB of weights from flash a pixel pair before). The output's buffer is this
    layer's alone while it runs (the planner's), unless it is the caller's buffer."""
    if op.output == g.output:
        return False
    oh, ow, co = g.tensors[op.output].shape[-3:]
    _, w, c = g.tensors[op.inputs[0]].shape[-3:]
    need = gemm_stage_bytes(op)
    sh, pt, row, n = op.attrs["stride"][0], op.attrs["pad"][0], w * c, oh * ow
    stop = min(n, (((need + row - 1) // row + pt + sh - 1) // sh * ow + 1) & ~1)
    return stop < n and stop * co <= (n * co - need) & ~3


STAGE_BLOCK_MIN = 8  # fewer channels a block: the im2col rebuilt per block would cost about what the block saves


def _stage_more(g: Graph, op: Op, arena, peak: int, marked: list[str]) -> None:
    """After stage_weights' first pass, for one mcd_conv2d_s8 layer: stage its requantization records
    with its weights (fast bit 8: every pixel pair re-reads them, 16 B a channel, from flash), and
    when its weights fit nowhere whole, stage them in blocks of output channels (fast >> 16: the
    most channels, a multiple of 4 and at least STAGE_BLOCK_MIN, whose weights and records fit the
    free arena while the layer runs; no fused pool). Neither may raise the arena's peak."""
    a = op.attrs
    if a.get("stage_weights"):
        a["stage_rq"] = True
        if (arena() > peak) if a["stage_weights"] is True else not stage_in_input_ok(g, op):
            del a["stage_rq"]
        if a["stage_weights"] == "input" and _out_tail_ok(g, op):
            a["stage_out_tail"] = True
        return
    if a.get("pool"):
        return
    o = op.arrays["weight"].shape[0]
    a["stage_weights"] = "block"
    for nb in range((o - 1) // 4 * 4, STAGE_BLOCK_MIN - 1, -4):
        a["stage_block"] = nb
        if arena() <= peak:
            marked.append(op.name)
            return
    a.pop("stage_weights")
    a.pop("stage_block", None)


def stage_in_input_ok(g: Graph, op: Op) -> bool:
    """A conv at the arena's peak may still stage its weights, into the rows of its own input that
    no later output row reads (mcd_conv2d_s8, fast bit 2): the input's buffer is dead there, so this
    costs no RAM. Only when nothing else can see that buffer: the input has this conv as its one
    consumer, is not the graph's input, and was written by a conv or an add (not an alias of an
    older buffer, as a reshape's output is), the layer has no fused pool, and the weights fit in the
    input rows dead by the middle output row. IC's second 3x3 conv (at the peak): 2,304 B of
    weights into its 16 KB input once output row 6 is done."""
    t = op.inputs[0]
    prod = g.producer(t)
    if t in (g.input, g.output) or prod is None or prod.kind not in ("conv2d", "add") or g.consumers(t) != [op]:
        return False
    if (op.attrs.get("pool") or {"k": [1, 1]})["k"] != [1, 1]:
        return False
    _, w, c = g.tensors[t].shape[-3:]
    dead_rows = g.tensors[op.output].shape[-3] // 2  # the input rows dead by the middle output row
    return gemm_stage_bytes(op) <= (dead_rows * op.attrs["stride"][0] - op.attrs["pad"][0] - 1) * w * c


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
    a = encode_ternary_sparse(rows2d(w))
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
    rows = rows2d(w)
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
        a = encode_ternary_sparse(rows2d(w))
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
