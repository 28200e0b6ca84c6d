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
import types
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from ..errors import McdError
from ..train import train_classifier
from .distill import Distiller
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


def allow_train_mode(model: nn.Module) -> nn.Module:
    """Let ``model.train()`` / ``.eval()`` work on an ``ep.module()`` (which refuses them), so the
    trainer and ``evaluate`` can toggle modes; the exported graph itself ignores the flag. Marks
    the module ``_mcd_exported``."""
    try:
        model.train(model.training)
    except NotImplementedError:
        # bound methods, so that a deepcopy of the module rebinds them to the copy
        model.train = types.MethodType(_flag_train, model)
        model.eval = types.MethodType(_flag_eval, model)
        model._mcd_exported = True
    return model


def _flag_train(self, mode: bool = True):
    self.training = mode
    return self


def _flag_eval(self):
    return _flag_train(self, False)


class _ExportedTrainable(nn.Module):
    """``ep.module()`` refuses ``.train()``; this wrapper lets the trainer toggle a flag instead.

    The exported graph stays what it was exported as (eval-mode BatchNorm with frozen statistics,
    no dropout), which is what fine-tuning a deployed graph should do anyway. An archive exported
    for batch 1 only (its guards reject other batch sizes) is run one sample at a time and the
    outputs concatenated: slower, but autograd sees the same loss as a batched run.
    """

    def __init__(self, gm: nn.Module):
        super().__init__()
        self.gm = gm
        self.batched: bool | None = None

    def forward(self, x):
        if self.batched is None:
            try:
                with torch.no_grad():
                    self.gm(x[:2])
                self.batched = True
            except Exception:  # noqa: BLE001 - a guard failure is an AssertionError, shape errors vary
                self.batched = len(x) < 2
        if self.batched:
            return self.gm(x)
        return torch.cat([self.gm(x[i:i + 1]) for i in range(len(x))])

    def train(self, mode: bool = True):
        self.training = mode
        return self


class Finetuner:
    """Callable ``(model, masks) -> model`` that trains a pruned model with its masks kept."""

    def __init__(self, x: np.ndarray | None = None, y: np.ndarray | None = None, epochs: int = 2,
                 lr: float = 1e-3, batch_size: int = 64, seed: int = 0, hook: Hook | None = None,
                 log: Callable[[str], None] | None = None, distill: Distiller | None = None):
        if hook is None and (x is None or y is None):
            raise McdError("fine-tuning needs labelled training data (x and y) or a hook")
        self.x, self.y, self.epochs, self.lr = x, y, epochs, lr
        self.batch_size, self.seed, self.hook, self.log = batch_size, seed, hook, log
        if distill is not None and hook is not None:
            raise McdError("distillation goes with the built-in fine-tuning loop; a hook brings its own loss: "
                           "drop --distill or --finetune-hook")
        self.distill = distill  # None: plain cross-entropy on the labels
        self.calls = 0
        self.rounds: int | None = None  # prune + fine-tune rounds planned (compress/run.py), for "round 2/3"

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
        allow_train_mode(model)
        target, prefix = model, ""
        if getattr(model, "_mcd_exported", False):  # an ExportedProgram's module: maybe batch 1 only
            target, prefix = _ExportedTrainable(model), "gm."
        cb = None
        rnd = f"round {self.calls}" + (f"/{self.rounds}" if self.rounds else "")
        if self.log:
            cb = lambda e, loss, m: self.log(f"  fine-tune {rnd}, epoch {e + 1}/{self.epochs}: loss {loss:.4f}")
        train_classifier(target, self.x, self.y, epochs=self.epochs, lr=self.lr,
                         batch_size=self.batch_size, callback=cb, seed=self.seed,
                         masks={prefix + n: m for n, m in masks.items()}, loss_fn=self.distill,
                         label=f"fine-tune {rnd}")
        return model
