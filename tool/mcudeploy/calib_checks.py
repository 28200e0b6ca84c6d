"""Calibration data checked before it sets the int8 ranges of a model.

    >>> warnings = check_inputs(x)          # before lowering: NaN/inf (an error), too few, constant
    >>> warnings += check_outputs(logits, out_scale, out_zero_point)
    >>> enforce(warnings, strict=False)     # prints "warning: ..." lines; strict=True raises instead

Min/max calibration believes whatever it is given: all-zero data yields an input scale of
3.9e-11 and a model right on 10.6 % of the digits test set (float 96.7 %), one sample yields ranges that real inputs overshoot, and both compile without a word.
Each pathology here is one line with its numbers; ``compile --strict`` turns them into an
error before anything is written. Non-finite values are always an error: no range covers them.

The clipping check counts float logits outside the int8 output range. With min/max ranges taken
over the very samples checked it stays at 0; it is there for ranges that did not see these
samples (an output quantization given by an imported model, or a narrower calibration method).
"""

from __future__ import annotations

import sys

import numpy as np

from .errors import DataError
from .quantize import INT8_MAX, INT8_MIN, choose_qparams

MIN_SAMPLES = 32
MAX_CLIPPED = 0.01  # fraction of calibration logits the output range may clip


class CalibrationError(DataError):
    """The calibration data cannot calibrate the model (or --strict refused a warning)."""


def check_inputs(x: np.ndarray) -> list[str]:
    """Warnings about calibration inputs ``x`` (N samples first); raises on NaN or infinity."""
    x = np.asarray(x)
    _finite(x, "calibration data", "remove or repair those samples")
    n = len(x)
    warnings = []
    if n < MIN_SAMPLES:
        warnings.append(f"{n} calibration sample{'s' if n != 1 else ''} (< {MIN_SAMPLES}): ranges seen on so "
                        f"few miss the extremes of real inputs; give at least {MIN_SAMPLES} (more data or "
                        "--calib-limit)")
    if x.size and x.min() == x.max():
        scale = choose_qparams(float(x.min()), float(x.max()))[0]
        warnings.append(f"constant calibration input: all {x.size:,} values of the {n} samples are "
                        f"{float(x.flat[0]):g}, which gives an input scale of {scale:.2g} per step (real "
                        "inputs saturate); calibrate on real samples of the model's input")
    elif n > 1 and (x == x[:1]).all():
        warnings.append(f"all {n} calibration samples are identical: ranges calibrated on one input; "
                        "calibrate on varied real samples")
    return warnings


def check_outputs(logits: np.ndarray, scale: float, zero_point: int) -> list[str]:
    """Warnings about the float outputs on the calibration data against the int8 output range."""
    logits = np.asarray(logits)
    _finite(logits, "the model's outputs on the calibration data", "check the model and its weights")
    # real values the int8 output can hold, widened by half a step (rounding, not clipping)
    lo = scale * (INT8_MIN - zero_point - 0.5)
    hi = scale * (INT8_MAX - zero_point + 0.5)
    clipped = int(np.count_nonzero((logits < lo) | (logits > hi)))
    if logits.size and clipped > MAX_CLIPPED * logits.size:
        return [(f"{clipped:,} of {logits.size:,} calibration logits ({100 * clipped / logits.size:.1f} %) fall "
                f"outside the int8 output range [{lo + scale / 2:.4g}, {hi - scale / 2:.4g}] and clip "
                f"(> {100 * MAX_CLIPPED:g} %); calibrate the output on data that covers these values")]
    return []


def enforce(warnings: list[str], strict: bool) -> None:
    """Print each warning as one ``warning:`` line on stderr, or with ``strict`` raise on the first."""
    if strict and warnings:
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        raise CalibrationError(f"{warnings[0]}{more}; refused by --strict (without it this is a warning)")
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)


def _finite(a: np.ndarray, what: str, fix: str) -> None:
    if a.dtype.kind not in "fc" or np.isfinite(a).all():
        return
    nan, inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
    first = int(np.argwhere(~np.isfinite(a.reshape(len(a), -1)))[0][0]) if a.ndim else 0
    raise CalibrationError(f"{what}: {nan:,} NaN and {inf:,} infinite values (the first in sample {first}); "
                           f"{fix}")
