"""Knowledge distillation for fine-tuning (Hinton, Vinyals & Dean 2015; Combine-Net's retraining step).

    >>> d = Distiller.from_teacher(dense_model, x_train, y_train, temperature=4.0, alpha=0.7)
    >>> train_classifier(pruned, x_train, y_train, loss_fn=d)    # d(logits, idx) -> loss

A pruned net fine-tuned on hard labels only learns "which class"; the dense model's outputs
softened by a temperature T also say how similar the other classes looked, which is more signal
per sample and lets a short fine-tuning recover more. The loss is

    alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, y)

with the KL averaged over the batch. The T^2 keeps the soft term's gradients on the scale of the
hard term's as T changes (the soft gradients shrink as 1/T^2). The teacher is the model before
pruning and does not change, so its logits are computed once for the whole training set, in eval
mode, and looked up by sample index during training.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import McdError


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, y: torch.Tensor,
                 temperature: float = 4.0, alpha: float = 0.7) -> torch.Tensor:
    """The loss above for one batch of logits (student, teacher) and labels ``y``."""
    t = float(temperature)
    soft = F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1),
                    reduction="batchmean", log_target=True)
    return alpha * t * t * soft + (1.0 - alpha) * F.cross_entropy(student, y)


@torch.no_grad()
def teacher_logits(model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The model's outputs on every row of ``x``, in eval mode (its mode is restored after)."""
    was = model.training
    model.eval()
    x = torch.as_tensor(x, dtype=torch.float32)
    out = torch.cat([model(xb) for xb in x.split(batch_size)])
    model.train(was)
    return out.detach().float()


class Distiller:
    """``loss_fn(logits, idx)`` for ``train_classifier``: the distillation loss against the
    teacher's stored logits for the samples ``idx`` of the training set."""

    def __init__(self, logits: torch.Tensor, y: np.ndarray | torch.Tensor, temperature: float = 4.0,
                 alpha: float = 0.7):
        if not temperature > 0:
            raise McdError(f"distillation temperature {temperature} must be > 0 (e.g. 4)")
        if not 0.0 <= alpha <= 1.0:
            raise McdError(f"distillation weight alpha {alpha} must be in [0, 1] (e.g. 0.7)")
        self.logits, self.y = logits, torch.as_tensor(y, dtype=torch.int64)
        if len(self.logits) != len(self.y):
            raise McdError(f"internal: {len(self.logits)} teacher outputs for {len(self.y)} labels")
        self.temperature, self.alpha = float(temperature), float(alpha)

    @classmethod
    def from_teacher(cls, model: nn.Module, x, y, temperature: float = 4.0, alpha: float = 0.7) -> Distiller:
        return cls(teacher_logits(model, x), y, temperature, alpha)

    def __call__(self, logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return distill_loss(logits, self.logits[idx], self.y[idx], self.temperature, self.alpha)

    def describe(self) -> str:
        return f"distilled from the dense model, T {self.temperature:g}, alpha {self.alpha:g}"
