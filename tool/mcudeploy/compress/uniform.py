"""Uniform structured pruning at a budget: the baseline budget-driven pruning is compared with.

    >>> ratio, est = uniform_ratio_for(model, example, calib_x, {"ram": 4096}, dense)

Today's ``compress --structured --sparsity R`` removes the same fraction R of every group. To compare
at equal budgets, R is the smallest level on a 0.05 grid whose pruned (not yet fine-tuned) model meets
every bounded resource by the same functions the budget-driven pruning uses: the memory planner's
arena of its int8 graph, its weight bytes plus the dense engine's code, and the dense model's cycle
table scaled by each layer's MACs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .measure import int8_graph
from .resources import ResourceModel
from .structured import analyze, prune_channels

LEVELS = [round(0.05 * i, 2) for i in range(1, 20)]


def uniform_estimate(model: nn.Module, example: torch.Tensor, calib: np.ndarray, dense: dict) -> dict[str, float]:
    _ep, g, p = int8_graph(model, calib)
    rm = ResourceModel.build(analyze(model, example), g, p, None, dense["engine_code_bytes"])
    ones = torch.ones(len(rm.roots))
    est = {"ram": float(p.arena_bytes), "flash": float(rm.flash(ones))}
    dg = dense.get("_macs")
    est["cycles"] = dense["cycles"] * (sum(op.macs for op in g.ops) / dg) if dg else None
    return est


def uniform_ratio_for(model: nn.Module, example: torch.Tensor, calib: np.ndarray, limits: dict[str, int],
                      dense: dict) -> tuple[float | None, dict]:
    """(smallest grid ratio whose estimate meets ``limits``, that estimate), or (None, {})."""
    dense = dict(dense)
    _ep, g, _p = int8_graph(model, calib)
    dense["_macs"] = sum(op.macs for op in g.ops)
    for r in LEVELS:
        small = prune_channels(model, example, r)[0]
        est = uniform_estimate(small, example, calib, dense)
        if all(est[k] is not None and est[k] <= v for k, v in limits.items()):
            return r, est
    return None, {}
