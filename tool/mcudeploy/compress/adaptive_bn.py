"""Adaptive BatchNorm (Combine-Net; Li et al., EagleEye 2020): re-estimate BN statistics after pruning.

    >>> recalibrate_bn(pruned, x_train, samples=512)   # in place; returns how many BN layers it touched

Pruning removes channels or weights feeding a BatchNorm, so the mean and variance it stored while
the dense model trained no longer describe its input: a pruned candidate judged with stale
statistics looks much worse than it is, and candidates are ranked by that noise. Running a few
hundred training samples through the pruned net in train mode (no gradients, ``momentum=None`` so
the stored values become the plain cumulative average of the batches, not an exponential one
biased to the last batch) replaces them with the statistics of what the layer now sees. Only the
BN layers switch to train mode: dropout and the rest stay in eval mode. Weights do not change.

An archive's ``ep.module()`` has no BatchNorm modules (its BN ops are frozen aten calls): nothing
to recalibrate, and the count returned is 0 so the caller can say so.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def bn_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, BN) and m.track_running_stats]


def recalibrate_bn(model: nn.Module, x: np.ndarray | torch.Tensor, samples: int = 512,
                   batch_size: int = 64, seed: int = 0) -> int:
    """Reset and re-estimate the running statistics of every BatchNorm in ``model`` from
    ``samples`` rows of ``x`` (drawn without replacement, seeded); returns the BN layer count.

    The model's train/eval mode and each BN's momentum are restored afterwards.
    """
    bns = bn_layers(model)
    if not bns or x is None or len(x) == 0:
        return 0
    x = torch.as_tensor(x, dtype=torch.float32)
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:samples]
    was = model.training
    momenta = [bn.momentum for bn in bns]
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average: every batch weighs the same
        bn.train()
    try:
        parts = list(idx.split(batch_size))
        if len(parts) > 1 and len(parts[-1]) < batch_size:
            parts.pop()  # the cumulative average weighs batches equally: no short last batch
        with torch.no_grad():
            for part in parts:
                if len(part) > 1:  # a batch of one has no variance
                    model(x[part])
    finally:
        for bn, m in zip(bns, momenta):
            bn.momentum = m
        model.train(was)
    return len(bns)
