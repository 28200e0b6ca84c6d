"""Quantization: the fixed-point requantization rule, and calibration of float ranges to int8.

The rounding rule (written down once; ``firmware_template/kernels/mcd_common.h`` is its C twin)
-----------------------------------------------------------------------------------------------
A real multiplier ``r`` (> 0) is stored as an int32 ``mult`` in [2^30, 2^31) and an int ``shift``
so that ``r = mult * 2^-(31 + shift)``. An int32 accumulator ``acc`` is rescaled as

    total = 31 + shift                                   # 1 <= total <= 62
    y     = (acc * mult + 2^(total - 1)) >> total        # 64-bit product, arithmetic shift
    y     = saturate_int32(y)

i.e. one rounding, to nearest with ties toward +infinity (-2.5 -> -2, 2.5 -> 3). This is
TFLite's single-rounding ``MultiplyByQuantizedMultiplier`` (TFLITE_SINGLE_ROUNDING), which
CMSIS-NN also offers; it is exact in 64-bit arithmetic because |acc * mult| < 2^62. Then the
output zero point is added and the result clamped to the activation range [act_min, act_max].
Multipliers below 2^-32 cannot be represented with ``total <= 62`` and are stored as
``mult = 0, shift = 0`` (the output is then the zero point, which is what such a scale means).

The second rule, ``double`` (gemmlowp's; LiteRT's reference kernels and CMSIS-NN's default)
------------------------------------------------------------------------------------------
The same (mult, shift) applied in two roundings, in 32-bit arithmetic:

    x = acc << max(-shift, 0)                            # int32, wraps as the C does
    h = x * mult / 2^31, rounded half toward +infinity   # SaturatingRoundingDoublingHighMul
    y = h / 2^max(shift, 0), rounded half away from zero # RoundingDivideByPOT

Rounding twice can differ from rounding once by 1 (a tie of the second rounding that the first
one made, or a negative tie of the shift: -6 * 2^-2 is -2 here, -1 under ``single``). Which rule
a graph uses is ``graph.meta["rounding"]`` ("single" when absent, the PyTorch path's rule), and
an op's ``attrs["rounding"]`` overrides it (an imported .tflite follows LiteRT's reference
kernels: double, but single for FULLY_CONNECTED). The C twin is chosen at compile time by
``MCD_ROUNDING_DOUBLE`` and ``MCD_ROUNDING_DOUBLE_FC`` (engine/mcd_config.h).

Activations are int8 asymmetric per tensor: ``real = scale * (q - zero_point)``. Weights are
int8 symmetric per output channel in [-127, 127]; bias is int32 with scale ``s_in * s_w``.
"""

from __future__ import annotations

import contextlib
import contextvars
import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Split a positive real multiplier into (mult, shift) with real = mult * 2^-(31+shift)."""
    if real < 0 or not math.isfinite(real):
        raise ValueError(f"multiplier must be finite and >= 0, got {real}")
    if real == 0:
        return 0, 0
    m, e = math.frexp(real)  # real = m * 2^e, 0.5 <= m < 1
    mult = round(m * (1 << 31))
    if mult == 1 << 31:  # m rounded up to 1.0
        mult //= 2
        e += 1
    shift = -e
    if shift > 31:  # below 2^-32: not representable with total <= 62
        return 0, 0
    if shift < -30:
        raise ValueError(f"multiplier {real} is too large (>= 2^30)")
    return mult, shift


ROUNDINGS = ("single", "double")

# The rule ``requantize`` applies when a caller names none: the op records' references (mcudeploy/ops)
# call it without one, and reference.run sets this around each of them to the op's rule, as the
# generated mcd_config.h does for their kernels' mcd_requant.
_DEFAULT_ROUNDING: contextvars.ContextVar[str] = contextvars.ContextVar("rounding", default="single")


@contextlib.contextmanager
def default_rounding(rounding: str):
    """Within the block, ``requantize(..)`` without ``rounding`` uses ``rounding``."""
    token = _DEFAULT_ROUNDING.set(rounding)
    try:
        yield
    finally:
        _DEFAULT_ROUNDING.reset(token)


def requantize(acc, mult, shift, rounding: str | None = None) -> np.ndarray:
    """The rounding rule above, vectorised; ``mult``/``shift`` broadcast (per channel on the last axis)."""
    rounding = rounding or _DEFAULT_ROUNDING.get()
    if rounding == "double":
        return requantize_double(acc, mult, shift)
    if rounding != "single":
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.asarray(mult, dtype=np.int64)
    total = 31 + np.asarray(shift, dtype=np.int64)
    if np.any(np.abs(acc) > 2**31):
        raise OverflowError("requantize: accumulator exceeds int32")
    y = (acc * mult + (np.int64(1) << (total - 1))) >> total
    return np.clip(y, INT32_MIN, INT32_MAX)


def _wrap32(v: np.ndarray) -> np.ndarray:
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def requantize_double(acc, mult, shift) -> np.ndarray:
    """The ``double`` rule above, vectorised, in int64 numpy arithmetic that mirrors the C."""
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if np.any(np.abs(acc) > 2**31):
        raise OverflowError("requantize: accumulator exceeds int32")
    left = np.maximum(-shift, 0)
    right = np.maximum(shift, 0)
    x = _wrap32(acc << left)
    ab = x * mult  # |ab| < 2^62
    # gemmlowp's (ab + nudge) / 2^31 truncated toward zero, nudge 2^30 or 1 - 2^30 by sign, is
    # floor((ab + 2^30) / 2^31) for either sign: ab / 2^31 rounded half toward +infinity
    h = (ab + (1 << 30)) >> 31
    h = np.where((x == INT32_MIN) & (mult == INT32_MIN), INT32_MAX, h)
    # divide by 2^right, half away from zero: floor, plus one if the remainder passes the threshold
    mask = (np.int64(1) << right) - 1
    threshold = (mask >> 1) + (h < 0)
    return (h >> right) + ((h & mask) > threshold)


def choose_qparams(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric int8 (scale, zero_point) covering [lo, hi], with 0 exactly representable."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-8:
        hi = lo + 1e-8
    scale = (hi - lo) / 255.0
    zp = round(INT8_MIN - lo / scale)
    return scale, int(np.clip(zp, INT8_MIN, INT8_MAX))


def quantize_tensor(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float -> int8 with round-half-to-even (host side only: inputs; never on the device)."""
    q = np.round(np.asarray(x, dtype=np.float64) / scale) + zero_point
    return np.clip(q, INT8_MIN, INT8_MAX).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.float32) - zero_point) * np.float32(scale)


def quantize_weights_per_channel(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output channel (axis 0): returns (q in [-127, 127], scales)."""
    w = np.asarray(w, dtype=np.float64)
    flat = w.reshape(w.shape[0], -1)
    amax = np.abs(flat).max(axis=1)
    scales = np.where(amax > 0, amax / 127.0, 1.0)
    q = np.clip(np.round(flat / scales[:, None]), -127, 127).astype(np.int8)
    return q.reshape(w.shape), scales


def quantize_weights_and_bias(w: np.ndarray, b: np.ndarray | None, s_in: float):
    """Per-channel weights and int32 bias, with every bias inside +-2^30.

    A channel whose weights are all (nearly) zero gets a tiny scale max|w|/127, and its bias then
    does not fit int32 (real models have such dead channels: MLPerf Tiny's VWW has hundreds). Such
    a channel's weight scale is widened until the bias fits with headroom for the sum (TFLite
    adjusts weight scales for the bias the same way); its near-zero weights quantize to 0.
    """
    w = np.asarray(w, dtype=np.float64)
    flat = w.reshape(w.shape[0], -1)
    amax = np.abs(flat).max(axis=1)
    scales = np.where(amax > 0, amax / 127.0, 1.0)
    if b is not None:
        need = np.abs(np.asarray(b, dtype=np.float64)) / (s_in * 2.0 ** 30)
        scales = np.maximum(scales, need)
    q = np.clip(np.round(flat / scales[:, None]), -127, 127).astype(np.int8)
    return q.reshape(w.shape), scales, quantize_bias(b, s_in, scales)


def levels_per_channel(w: np.ndarray, rtol: float = 1e-5) -> int | None:
    """1 when every output channel (axis 0) of ``w`` is ternary {-s, 0, s}; 7 when every channel
    is ``s * q`` with integer q in [-7, 7] and s = max|w| / 7 (int4); else None. What
    ``mcudeploy compress --weight-bits 2|4`` exports, up to float32 rounding of the products."""
    flat = np.asarray(w, np.float64).reshape(np.shape(w)[0], -1)
    amax = np.abs(flat).max(axis=1, keepdims=True)
    for levels in (1, 7):
        r = flat * levels / np.where(amax > 0, amax, 1.0)
        if np.all(np.abs(r - np.round(r)) <= rtol * levels):
            return levels
    return None


def quantize_lowbit_weights_and_bias(w: np.ndarray, b: np.ndarray | None, s_in: float, levels: int):
    """Weights already on a grid of ``levels`` steps a side (``levels_per_channel``) as int8 q in
    [-levels, levels] with scale max|w| / levels per channel: the same int8 arithmetic as any layer,
    exact (no rounding of the weights), and values the compiler can store in 2 or 4 bits. None when
    some bias would not fit int32 at that scale (then the layer takes the ordinary int8 rule)."""
    w = np.asarray(w, dtype=np.float64)
    flat = w.reshape(w.shape[0], -1)
    amax = np.abs(flat).max(axis=1)
    scales = np.where(amax > 0, amax / levels, 1.0)
    if b is not None and np.any(np.abs(np.asarray(b, np.float64)) / (s_in * 2.0 ** 30) > scales):
        return None
    q = np.clip(np.round(flat / scales[:, None]), -levels, levels).astype(np.int8)
    return q.reshape(w.shape), scales, quantize_bias(b, s_in, scales)


def quantize_bias(b: np.ndarray | None, s_in: float, s_w: np.ndarray) -> np.ndarray:
    if b is None:
        return np.zeros(len(s_w), dtype=np.int32)
    q = np.round(np.asarray(b, dtype=np.float64) / (s_in * s_w))
    return np.clip(q, INT32_MIN, INT32_MAX).astype(np.int32)


def channel_multipliers(s_in: float, s_w: np.ndarray, s_out: float) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(s_in * float(sw) / s_out) for sw in s_w]
    return (np.array([p[0] for p in pairs], dtype=np.int32), np.array([p[1] for p in pairs], dtype=np.int32))


class RangeObserver:
    """Running min/max of a tensor over calibration batches (TFLite's post-training default)."""

    def __init__(self) -> None:
        self.lo, self.hi = math.inf, -math.inf

    def update(self, x) -> None:
        x = np.asarray(x)
        self.lo = min(self.lo, float(x.min()))
        self.hi = max(self.hi, float(x.max()))

    def qparams(self) -> tuple[float, int]:
        return choose_qparams(self.lo, self.hi)
