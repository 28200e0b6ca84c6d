"""Learnable per-channel gates trained with the task loss plus a differentiable resource penalty.

    >>> gates = ChannelGates(model, analysis, rm)          # hooks multiply channels by their gate
    >>> train_to_budget(model, gates, {"ram": 4096}, x, y, epochs=2)
    >>> small = gates.shrunk(model)                         # channels whose gate is 0 removed

One gate per channel root of ``structured.analyze`` (so a residual stage or a concat branch is
gated, and later removed, as one), applied to the outputs of the modules that write the channel
(after the BatchNorm that follows a conv, and after a depthwise conv's BatchNorm too, so a closed
channel is exactly 0 everywhere it flows). The forward pass uses hard 0/1 gates and the backward
pass the sigmoid's gradient (a straight-through estimator): the network trained is always the one
that will be cut out, and ``shrunk`` computes the same function with fewer channels (tested).

What is learnt, and how the budget is kept:

* the logits ``theta`` (initialised from the BN-folded filter norms) descend the task loss plus
  ``sum_r relu(R_r(sigmoid(theta)) / T_r - 1)``, R from ``resources.ResourceModel``: the arena's
  gradient reaches only the channels of the buffers live at the peak step, so the layers that set
  the peak are the ones pushed down;
* each channel's Taylor importance ``|dL/dgate|`` (an exponential average over steps) says what
  closing it costs the task;
* every ``project_every`` steps the hard mask is ``theta > 0`` fitted to the targets: ``tighten``
  closes the channel with the least importance per byte (or cycle) saved, ``relax`` reopens the
  most important ones while the estimate still fits. The network trained is therefore always within
  the estimated budget, and the budget is used, not undershot;
* no group closes below its width floor, ``max(MIN_WIDTH, ceil(min_width_frac * dense width))``
  (``width_floor``): per byte the penalty sees, a narrow late layer can be the cheapest to close,
  and on dwnet_wide at 1/4 of its arena the gates left 7 of 128 channels there, a bottleneck that
  cost more accuracy than uniform pruning lost. At the floor, ``tighten`` closes the next-cheapest
  channel elsewhere; a budget the floors cannot reach shows as a measured miss.

Weights keep training the whole time under one cosine schedule; the gates move during the first
``gate_frac`` of it and are frozen for the rest, which is plain fine-tuning of the final network.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .resources import ResourceModel
from .structured import Analysis, shrink

GATE_FRAC = 0.6        # library default share of the schedule in which the gates learn
MIN_WIDTH_FRAC = 0.125  # library default of the width floor's share of a group's dense channels
MIN_WIDTH = 4           # the floor's absolute part (a group narrower than this keeps all its channels)


def width_floor(dense: int, gated: int, frac: float = MIN_WIDTH_FRAC) -> int:
    """Channels a group keeps at least: ``max(MIN_WIDTH, ceil(frac * dense))``, at most the ``gated``
    ones it has; ``frac`` <= 0 turns the floor off (one channel, so a group is never emptied)."""
    want = 1 if frac <= 0 else max(MIN_WIDTH, math.ceil(frac * dense - 1e-9))
    return max(1, min(want, gated))


class ChannelGates:
    def __init__(self, model: nn.Module, analysis: Analysis, rm: ResourceModel,
                 min_width_frac: float = MIN_WIDTH_FRAC):
        self.analysis, self.rm = analysis, rm
        pos = {r: i for i, r in enumerate(rm.roots)}
        n = len(rm.roots)
        init = torch.full((n,), 2.0)
        self.groups: list[torch.Tensor] = []
        self.floors: list[int] = []   # per entry of self.groups: channels it keeps at least
        self.min_width_frac = min_width_frac
        for g in analysis.groups:
            if not g.prunable:
                continue
            idx = [pos[r] for r in g.channels if r in pos]
            if not idx:
                continue
            s = torch.tensor([g.scores[g.channels.index(rm.roots[i])] for i in idx])
            init[idx] = 0.5 + 3.0 * s / s.max().clamp_min(1e-12)
            self.groups.append(torch.tensor(idx, dtype=torch.long))
            self.floors.append(width_floor(len(g.channels), len(idx), min_width_frac))
        self.theta = nn.Parameter(init)
        self.frozen: torch.Tensor | None = None
        self.mask: torch.Tensor | None = None
        self.importance = torch.zeros(n)   # EMA of |dL/dgate| (Taylor): the loss a channel holds
        self.current = torch.ones(n)
        self._handles: list = []
        self._targets = _gated_modules(analysis, pos, n)

    # --- gate values --------------------------------------------------------------------------
    def keep_one(self) -> set[int]:
        """The strongest channel of every group: a group is never emptied."""
        return {int(idx[self.theta[idx].argmax()]) for idx in self.groups}

    def at_floor(self, h: torch.Tensor) -> set[int]:
        """The open channels of every group with no more open than its floor: not to be closed."""
        out: set[int] = set()
        for idx, f in zip(self.groups, self.floors):
            if int((h[idx] > 0).sum()) <= f:
                out.update(int(i) for i in idx)
        return out

    def fill_floors(self, h: torch.Tensor) -> torch.Tensor:
        """``h`` with every group below its floor opened up to it, strongest logits first."""
        with torch.no_grad():
            for idx, f in zip(self.groups, self.floors):
                need = f - int((h[idx] > 0).sum())
                if need > 0:
                    shut = idx[h[idx] == 0]
                    h[shut[self.theta[shut].topk(need).indices]] = 1.0
        return h

    def hard(self) -> torch.Tensor:
        """0/1 per channel: the frozen mask, else the last projection to the budget, else logit > 0
        (every group at least at its floor)."""
        if self.frozen is not None:
            return self.frozen
        if self.mask is not None:
            return self.mask
        with torch.no_grad():
            h = (self.theta > 0).float()
            h[list(self.keep_one())] = 1.0
        return self.fill_floors(h)

    def ste(self) -> torch.Tensor:
        """Forward: the hard gates; backward: the sigmoid's gradient."""
        s = torch.sigmoid(self.theta)
        return self.hard() + s - s.detach()

    def project(self, targets: dict[str, float], scale: dict[str, float]) -> tuple[int, int]:
        """The hard mask: logit > 0, then fitted to ``targets`` (``tighten``, ``relax``)."""
        self.mask = None
        self.mask = self.hard().clone()
        return len(tighten(self, targets, scale)), len(relax(self, targets, scale))

    def freeze(self) -> None:
        self.frozen = self.hard().clone()

    def set_hard(self, h: torch.Tensor) -> None:
        if self.frozen is not None:
            self.frozen = h
        else:
            self.mask = h

    # --- hooks ---------------------------------------------------------------------------------
    def attach(self, model: nn.Module) -> None:
        self.detach()
        for name, idx in self._targets.items():
            mod = model.get_submodule(name)
            self._handles.append(mod.register_forward_hook(self._hook(idx)))

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def _hook(self, idx: torch.Tensor):
        def fn(_mod, _inp, out):
            g = torch.cat([self.current, self.current.new_ones(1)])[idx]
            return out * g.view(1, -1, *([1] * (out.dim() - 2)))
        return fn

    def dropped_roots(self) -> set[int]:
        h = self.hard()
        return {self.rm.roots[i] for i in range(len(h)) if h[i] == 0}

    def shrunk(self, model: nn.Module) -> nn.Module:
        """A copy of ``model`` without hooks and with every closed channel removed."""
        self.detach()
        small = copy.deepcopy(model)
        return shrink(small, self.analysis, self.dropped_roots()).eval()


def _gated_modules(analysis: Analysis, pos: dict[int, int], n: int) -> dict[str, torch.Tensor]:
    """Module name -> gate index per output channel (``n`` = always open): every BatchNorm, and
    every conv/linear/depthwise conv whose output no BatchNorm takes."""
    uses, find = analysis.uses, analysis.find
    bn_inputs = [u["in"] for u in uses.values() if u["kind"] == "bn"]
    out = {}
    for name, u in uses.items():
        if u["kind"] in ("conv", "linear", "depthwise") and any(b is u["out"] for b in bn_inputs):
            continue
        idx = torch.tensor([pos.get(find(i), n) for i in u["out"]], dtype=torch.long)
        if bool((idx < n).any()):
            out[name] = idx
    return out


def over_budget(est: dict[str, float], targets: dict[str, float]) -> dict[str, float]:
    return {r: est[r] / t for r, t in targets.items() if est.get(r) is not None and est[r] > t}


def scaled_estimate(rm: ResourceModel, G: torch.Tensor, scale: dict[str, float], names) -> dict[str, float]:
    with torch.no_grad():
        return {r: float(rm.resource(r, G)) * scale.get(r, 1.0) for r in names}


def tighten(gates: ChannelGates, targets: dict[str, float], scale: dict[str, float]) -> list[int]:
    """Close the weakest channels (lowest logit) whose closing lowers an over-target resource
    (the penalty's gradient says which) until the estimate meets ``targets``; returns them. A group
    at its width floor closes nothing more: the next-cheapest channel elsewhere closes instead."""
    rm, closed = gates.rm, []
    h = gates.hard().clone()
    while True:
        keep = gates.keep_one() | gates.at_floor(h)
        hv = h.clone().requires_grad_(True)
        est = {r: rm.resource(r, hv) * scale.get(r, 1.0) for r in targets}
        over = [r for r in targets if est[r].item() > targets[r]]
        if not over:
            break
        sum(est[r] / targets[r] for r in over).backward()
        cand = [i for i in range(len(h)) if h[i] > 0 and hv.grad[i] > 0 and i not in keep]
        if not cand:
            break
        i = min(cand, key=lambda j: _worth(gates, j) / hv.grad[j].item())  # least loss per resource saved
        h[i] = 0.0
        closed.append(i)
    gates.set_hard(h)
    return closed


def _worth(gates: ChannelGates, j: int) -> float:
    """What keeping channel j is worth: its Taylor importance, ranked with its learnt logit."""
    return (gates.importance[j].item() + 1e-9) * torch.sigmoid(gates.theta[j]).item()


def relax(gates: ChannelGates, targets: dict[str, float], scale: dict[str, float]) -> list[int]:
    """Reopen closed channels, strongest logit first, while the estimate stays within ``targets``:
    an unused byte of the budget buys nothing."""
    rm, opened = gates.rm, []
    h = gates.hard().clone()
    for i in sorted((j for j in range(len(h)) if h[j] == 0), key=lambda j: -_worth(gates, j)):
        h[i] = 1.0
        if over_budget(scaled_estimate(rm, h, scale, targets), targets):
            h[i] = 0.0
        else:
            opened.append(i)
    gates.set_hard(h)
    return opened


def train_to_budget(model: nn.Module, gates: ChannelGates, targets: dict[str, float], x: np.ndarray,
                    y: np.ndarray, epochs: float = 2, lr: float = 1e-3, batch_size: int = 64,
                    gate_lr: float | None = None, gate_frac: float = GATE_FRAC, scale: dict[str, float] | None = None,
                    seed: int = 0, log: Callable[[str], None] | None = None, project_every: int = 10,
                    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> dict:
    """One schedule: weights and gates together, then the gates frozen and the weights fine-tuned
    (see the module docstring); returns the steps taken and a per-epoch history of loss and estimate.

    ``loss_fn(logits, idx)`` replaces cross-entropy as the task loss (``idx``: the batch's rows of
    ``x``), e.g. a ``distill.Distiller`` of the dense model: the gates' Taylor importance is then
    what a channel holds of the dense model's outputs, not only of the labels."""
    say = log or (lambda s: None)
    scale = scale or {}
    rm = gates.rm
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)
    task = loss_fn or (lambda logits, idx: F.cross_entropy(logits, yt[idx]))
    per_epoch = max(1, math.ceil(len(xt) / batch_size))
    total = max(1, round(epochs * per_epoch))
    gate_steps = round(gate_frac * total) if gates.frozen is None else 0
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
    if gate_lr is None:  # Adam moves a logit about lr a step: let the gate phase cross the init range
        gate_lr = min(0.1, max(0.01, 6.0 / max(gate_steps, 1)))
    opt_g = torch.optim.Adam([gates.theta], lr=gate_lr)
    gates.attach(model)
    model.train()
    if not gates.importance.any():  # Taylor importance of every channel before the first projection
        for j in range(min(8, per_epoch)):
            G = gates.hard().clone().requires_grad_(True)
            gates.current = G
            sl = torch.arange(j * batch_size, min((j + 1) * batch_size, len(xt)))
            task(model(xt[sl]), sl).backward()
            gates.importance.add_(G.grad.abs() / 8)
        model.zero_grad()
    lam, history, order, k = 1.0, [], rng.permutation(len(xt)), 0  # lam: Adam makes only the sign matter
    try:
        for step in range(total):
            if k + batch_size > len(order):
                order, k = rng.permutation(len(xt)), 0
            b = torch.as_tensor(order[k:k + batch_size])
            k += batch_size
            gating = step < gate_steps
            if step == gate_steps and gates.frozen is None:
                closed, opened = gates.project(targets, scale)
                gates.freeze()
                say(f"  gates frozen after {step} steps: {int(gates.hard().sum())}/{len(gates.theta)} channels "
                    f"open ({closed} closed, {opened} reopened to fit the estimate to the budget)")
            if gating and step % project_every == 0:
                gates.project(targets, scale)
            G = gates.ste() if gating else gates.hard().clone().requires_grad_(True)
            if gating:
                G.retain_grad()
            gates.current = G
            loss = task(model(xt[b]), b)
            total_loss = loss
            if gating:
                soft = torch.sigmoid(gates.theta)
                pen = sum(torch.relu(rm.resource(r, soft) * scale.get(r, 1.0) / t - 1) for r, t in targets.items())
                total_loss = loss + lam * pen
            opt.zero_grad()
            opt_g.zero_grad()
            total_loss.backward()
            opt.step()
            sched.step()
            if G.grad is not None:
                gates.importance.mul_(0.9).add_(0.1 * G.grad.detach().abs())
            if gating:
                opt_g.step()
            if step % per_epoch == per_epoch - 1 or step == total - 1:
                est = scaled_estimate(rm, gates.hard(), scale, targets)
                history.append({"step": step + 1, "loss": round(loss.item(), 4),
                                "estimate": {r: round(v) for r, v in est.items()}})
                say(f"  step {step + 1}/{total}: loss {loss.item():.4f}, open "
                    f"{int(gates.hard().sum())}/{len(gates.theta)}, estimate "
                    + ", ".join(f"{r} {v:,.0f} (target {targets[r]:,.0f})" for r, v in est.items()))
        if gates.frozen is None:
            gates.project(targets, scale)
            gates.freeze()
    finally:
        gates.current = gates.hard()
        gates.detach()
        model.eval()
    return {"steps": total, "gate_steps": gate_steps, "history": history}
