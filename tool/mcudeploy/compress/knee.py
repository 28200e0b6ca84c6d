"""Kneedle (Satopää, Albrecht, Irwin & Raghavan 2011): the knee of a curve, as Combine-Net uses it
to choose a pruning rate without a hand-set budget.

    >>> knee_index([0.1, 0.3, 0.5, 0.7, 0.9], [90, 89.5, 88, 80, 40])       # -> 3 (rate 0.7)
    >>> sweep_rates(0.1, 0.95, 0.05)                                        # the default grid

Accuracy against pruning rate is flat while the pruned weights were redundant and then falls
off: a concave, decreasing curve. Kneedle scales both axes to [0, 1], takes the difference between
the curve and the straight line joining its ends (for a concave decreasing curve:
``y_n - (1 - x_n)``), and puts the knee where that difference is largest: the point where, in
normalized units, one more step of rate starts to cost more accuracy than it did on average. The
other three shapes flip the axes the same way. The paper's online variant (local maxima with a
sensitivity threshold, smoothing of noisy data) is left out: the sweep here is short and finished
before the choice, so the global maximum is the knee. A curve with no bend (a straight line, or
fewer than three points) has no knee: ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def difference_curve(x: Sequence[float], y: Sequence[float], curve: str = "concave",
                     direction: str = "decreasing") -> np.ndarray:
    """Kneedle's difference curve (curve minus the chord, in normalized units) at each point."""
    if curve not in ("concave", "convex") or direction not in ("increasing", "decreasing"):
        raise ValueError(f"curve/direction must be concave|convex and increasing|decreasing, "
                         f"not {curve}/{direction}")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length, not {x.shape} and {y.shape}")
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]

    def norm(v):
        span = v.max() - v.min() if len(v) else 0.0
        return (v - v.min()) / span if span > 0 else np.zeros_like(v)

    xn, yn = norm(xs), norm(ys)
    if direction == "decreasing":
        xn = 1.0 - xn          # mirror so the curve increases
    d = yn - xn if curve == "concave" else xn - yn
    out = np.empty_like(d)
    out[order] = d
    return out


def knee_index(x: Sequence[float], y: Sequence[float], curve: str = "concave",
               direction: str = "decreasing") -> int | None:
    """Index (into ``x``) of the knee, or None if the curve does not bend (all differences <= 0)."""
    if len(x) < 3:
        return None
    d = difference_curve(x, y, curve, direction)
    i = int(np.argmax(d))
    return i if d[i] > 1e-12 else None


def sweep_rates(start: float = 0.1, stop: float = 0.95, step: float = 0.05) -> list[float]:
    """The pruning rates the knee search tries: ``start`` to ``stop`` inclusive."""
    n = round((stop - start) / step) + 1
    return [round(start + i * step, 6) for i in range(n) if start + i * step <= stop + 1e-9]


def sweep(make: Callable[[float], object], score: Callable[[object], float | None], rates: Sequence[float],
          log: Callable[[str], None] | None = None) -> dict:
    """Score ``make(rate)`` (a pruned, not fine-tuned candidate) at every rate and find the knee.

    Returns ``{"curve": [{"rate", "accuracy"}...], "rate": knee rate or None, "index": ...}``.
    """
    say = log or (lambda s: None)
    curve = []
    for r in rates:
        s = score(make(r))
        curve.append({"rate": r, "accuracy": s})
        say(f"knee sweep: rate {r:.2f}: accuracy {s:.2f}")
    i = knee_index([c["rate"] for c in curve], [c["accuracy"] for c in curve])
    return {"curve": curve, "index": i, "rate": None if i is None else curve[i]["rate"]}
