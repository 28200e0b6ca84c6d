"""The dense fc kernel's weight layout and flags (firmware_template/kernels/mcd_fc_s8.h).

Why a pair layout: two rows share each weight word, the even row stored +128 (unsigned) and the
odd row as is, so one UXTB16 and two SMLADs do four MACs (the raw word, read as two int16
lanes, carries the even row plus 256 times the odd one; the kernel recovers the odd row's sum as
(A - B) >> 8). That is exact only while 256 * |acc| of every odd row fits an int32, which
``pairs_raw_ok`` checks from the weights and bias alone (any int8 input, any zero point).

Usage::

    flags = fc_flags(op, rounding)            # MCD_FC_PAIRS_RAW | MCD_FC_RQ_FAST | MCD_FC_RQ_UNIFORM
    words = pack_fc_pairs(w2d, raw=bool(flags & PAIRS_RAW))
"""

from __future__ import annotations

import numpy as np

PAIRS_RAW, RQ_FAST, RQ_UNIFORM = 1, 2, 4  # MCD_FC_PAIRS_RAW, MCD_FC_RQ_FAST, MCD_FC_RQ_UNIFORM
BLOCK_PAIRS = 4  # pairs (eight rows) per pass of the kernel's asm block
ODD_ACC_LIMIT = 1 << 23  # |acc| of an odd row: 256 * acc must fit an int32
X_MAX = 255  # |q - zp| for any int8 input and zero point


def _k4(k: int) -> int:
    return (k + 3) & ~3


def pairs_raw_ok(w2d: np.ndarray, bias: np.ndarray) -> bool:
    """Whether every odd row's accumulator is bounded below 2^23 for any input:
    |bias| + 255 * sum |w| (the recovery (A - B) >> 8 is then exact)."""
    w = np.abs(w2d.astype(np.int64))[1::2]
    b = np.abs(bias.astype(np.int64))[1::2]
    return bool((b + X_MAX * w.sum(axis=1) < ODD_ACC_LIMIT).all()) if len(w) else True


def pack_fc_pairs(w2d: np.ndarray, raw: bool) -> np.ndarray:
    """(O, K) int8 -> int8 words: K zero padded to K4, rows in pairs (an odd last row gets a zero
    partner), per tap pair (k, k+1) the bytes (r0[k] + 128, r1[k], r0[k+1] + 128, r1[k+1]). With
    ``raw`` the pairs of each full block of four alternate word by word; the rest (and all pairs
    without ``raw``) follow pair after pair."""
    o, k = w2d.shape
    kk, oe = _k4(k), o + (o & 1)
    full = np.zeros((oe, kk), np.int16)
    full[:o, :k] = w2d
    lo, hi = full[0::2] + 128, full[1::2]
    words = np.stack([lo[:, 0::2], hi[:, 0::2], lo[:, 1::2], hi[:, 1::2]], axis=-1)  # (pairs, kk / 2, 4)
    nb = o // (2 * BLOCK_PAIRS) if raw else 0  # blocks of eight real rows (the kernel: o + 8 <= out_n)
    head = words[:nb * BLOCK_PAIRS].reshape(nb, BLOCK_PAIRS, kk // 2, 4).transpose(0, 2, 1, 3).reshape(-1)
    flat = np.concatenate([head, words[nb * BLOCK_PAIRS:].reshape(-1)])
    return (flat & 0xFF).astype(np.uint8).view(np.int8)


def fc_flags(op, rounding: str) -> int:
    """The kernel's flags literal for a dense fc op."""
    from .kernels import rq_fits

    w2d = op.arrays["weight"].reshape(op.arrays["weight"].shape[0], -1)
    mult, shift = op.arrays["mult"], op.arrays["shift"]
    uniform = bool((mult == mult[0]).all() and (shift == shift[0]).all())
    return ((PAIRS_RAW if pairs_raw_ok(w2d, op.arrays["bias"]) else 0) | (RQ_FAST if rq_fits(op, rounding) else 0)
            | (RQ_UNIFORM if uniform else 0))
