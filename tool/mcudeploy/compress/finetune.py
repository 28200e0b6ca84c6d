"""Fine-tuning after pruning: the built-in classification loop, or the user's own training code.

    >>> ft = Finetuner(x_train, y_train, epochs=2, lr=1e-3)          # built-in loop
    >>> ft = Finetuner(hook=my_train)   # my_train(model, masks) -> model | None, any loss, any data
    >>> model = ft(model, masks)

Masks stay applied whatever the hook does: while it runs, a forward pre-hook on the model zeroes
the masked weights before every forward pass and a gradient hook zeroes their gradients (so
momentum and Adam moments of pruned weights stay zero too); after it returns they are zeroed once
more. A hook therefore needs no knowledge of pruning: a plain ``for x, y in loader: ...`` loop
works. The built-in loop is ``mcudeploy.train.train_classifier``, which re-applies masks after
each optimizer step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from ..errors import McdError
from ..train import train_classifier
from .prune import apply_masks

Hook = Callable[[nn.Module, dict], "nn.Module | None"]


@contextlib.contextmanager
def masks_enforced(model: nn.Module, masks: dict[str, torch.Tensor]) -> Iterator[nn.Module]:
    """Keep ``masks`` applied to ``model`` for the duration of the block (see module docstring)."""
    params = dict(model.named_parameters())
    zero = {n: (m == 0) for n, m in masks.items()}

    def pre_forward(_module, _args):
        apply_masks(model, masks)

    handles = [model.register_forward_pre_hook(pre_forward)]
    for n, z in zero.items():
        handles.append(params[n].register_hook(lambda g, z=z: g.masked_fill(z, 0.0)))
    try:
        apply_masks(model, masks)
        yield model
    finally:
        for h in handles:
            h.remove()
        apply_masks(model, masks)


class _ExportedTrainable(nn.Module):
    """``ep.module()`` refuses ``.train()``; this wrapper lets the trainer toggle a flag instead.

    The exported graph stays what it was exported as (eval-mode BatchNorm with frozen statistics,
    no dropout), which is what fine-tuning a deployed graph should do anyway.
    """

    def __init__(self, gm: nn.Module):
        super().__init__()
        self.gm = gm

    def forward(self, x):
        return self.gm(x)

    def train(self, mode: bool = True):
        self.training = mode
        return self


class Finetuner:
    """Callable ``(model, masks) -> model`` that trains a pruned model with its masks kept."""

    def __init__(self, x: np.ndarray | None = None, y: np.ndarray | None = None, epochs: int = 2,
                 lr: float = 1e-3, batch_size: int = 64, seed: int = 0, hook: Hook | None = None,
                 log: Callable[[str], None] | None = None):
        if hook is None and (x is None or y is None):
            raise McdError("fine-tuning needs labelled training data (x and y) or a hook")
        self.x, self.y, self.epochs, self.lr = x, y, epochs, lr
        self.batch_size, self.seed, self.hook, self.log = batch_size, seed, hook, log
        self.calls = 0

    def __call__(self, model: nn.Module, masks: dict[str, torch.Tensor] | None = None) -> nn.Module:
        masks = masks or {}
        self.calls += 1
        if self.hook is not None:
            with masks_enforced(model, masks):
                out = self.hook(model, masks)
            model = out if isinstance(out, nn.Module) else model
            return apply_masks(model, masks)
        if self.epochs <= 0:
            return model
        try:
            model.train()
            model.eval()
            target, prefix = model, ""
        except NotImplementedError:  # an ExportedProgram's module
            target, prefix = _ExportedTrainable(model), "gm."
        cb = None
        if self.log:
            cb = lambda e, loss, m: self.log(f"  fine-tune epoch {e + 1}/{self.epochs}: loss {loss:.4f}")
        try:
            train_classifier(target, self.x, self.y, epochs=self.epochs, lr=self.lr,
                             batch_size=self.batch_size, callback=cb, seed=self.seed,
                             masks={prefix + n: m for n, m in masks.items()})
        except RuntimeError as exc:
            if prefix and "shape" in str(exc).lower():
                raise McdError("this .pt2 was exported for batch 1 only and cannot be fine-tuned in "
                               "batches; export it with a dynamic batch dimension or compress the "
                               "FILE.py:FACTORY model") from exc
            raise
        return model
