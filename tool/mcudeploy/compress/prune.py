"""Unstructured magnitude pruning: 0/1 masks over conv and linear weights.

    >>> masks = magnitude_masks(model, 0.9)                      # one global threshold
    >>> masks = magnitude_masks(model, 0.8, scope="layer")       # 80 % of every layer
    >>> masks = magnitude_masks(model, {"fc1.weight": 0.95})     # per-layer targets
    >>> apply_masks(model, masks); sparsity_report(model)["total"]["sparsity"]

Why magnitude and why global by default: after training, a weight's magnitude is a cheap, good
first-order proxy of how much the loss moves when it is zeroed (Han et al., "Learning both Weights
and Connections", 2015). One threshold over all layers lets the big, redundant layers (LeNet's fc1
holds 78 % of the weights and has the smallest ones, its fan-in being largest) give up most, while
small layers (conv1: 150 weights) keep what they need, with no per-layer tuning.

Masks are monotone: a weight pruned before (masked or exactly zero) ranks below every live one, so
pruning again to a higher sparsity only adds zeros. The count is exact (ranks, not a float
threshold), so ties never overshoot the target.

``search_level`` is the accuracy-budget search shared with structured pruning: raise the level along
a schedule, fine-tune after each step, stop at the first failure, then bisect between the last level
that passed and the first that failed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """Conv and linear weights by parameter name, in model order.

    A ``torch.export`` module (``ep.module()``) has no Conv/Linear submodules left, only the
    parameters its aten ops read: there every parameter of rank >= 2 is a conv or linear weight
    (BatchNorm and biases are rank 1).
    """
    mods = [(n, m) for n, m in model.named_modules() if isinstance(m, _WEIGHTED)]
    if mods:
        return {f"{n}.weight" if n else "weight": m.weight for n, m in mods if m.weight is not None}
    return {n: p for n, p in model.named_parameters() if p.ndim >= 2}


def layer_key(weights, name: str) -> str:
    """``conv1`` or ``conv1.weight`` -> the prunable weight's name; ValueError if unknown."""
    for cand in (name, f"{name}.weight"):
        if cand in weights:
            return cand
    raise ValueError(f"no prunable weight named '{name}'; prunable: {sorted(weights)}")


def magnitude_masks(model: nn.Module, sparsity: float | dict[str, float], scope: str = "global",
                    masks: dict[str, torch.Tensor] | None = None,
                    exclude: tuple[str, ...] = (),
                    per_layer: dict[str, float] | None = None) -> dict[str, torch.Tensor]:
    """0/1 float masks (1 = keep) zeroing the smallest-magnitude weights.

    ``sparsity`` is the fraction of weights to zero: over all prunable weights together
    (``scope="global"``), in every layer (``scope="layer"``), or a dict of per-layer fractions
    (layers not named stay as they are). ``masks`` are earlier masks that stay pruned; names in
    ``exclude`` are never pruned. ``per_layer`` (with a float ``sparsity``) fixes the fraction of
    the layers it names (``conv1`` or ``conv1.weight``); with ``scope="global"`` the other layers
    then share one threshold chosen so that the total still reaches ``sparsity`` (as near as the
    fixed layers allow), with ``scope="layer"`` each of them takes ``sparsity``.
    """
    if per_layer:
        allw = {n: p for n, p in prunable_weights(model).items() if n not in exclude}
        fixed = {layer_key(allw, k): float(v) for k, v in per_layer.items()}
        if isinstance(sparsity, dict):
            raise ValueError("per_layer goes with a float sparsity")
        out = magnitude_masks(model, fixed, masks=masks, exclude=exclude)
        rest = tuple(exclude) + tuple(fixed)
        if scope == "global":
            total = sum(p.numel() for p in allw.values())
            fixed_zeros = sum(int((out[n] == 0).sum()) for n in fixed)
            rest_n = total - sum(allw[n].numel() for n in fixed)
            level = min(max((sparsity * total - fixed_zeros) / max(rest_n, 1), 0.0), 1.0)
        else:
            level = float(sparsity)
        out.update(magnitude_masks(model, level, scope, masks=masks, exclude=rest))
        return out
    weights = {n: p.detach() for n, p in prunable_weights(model).items() if n not in exclude}
    masks = masks or {}
    score = {}
    for n, w in weights.items():
        s = w.abs().float().flatten()
        if n in masks:
            s = torch.where(masks[n].flatten() == 0, torch.full_like(s, -1.0), s)
        score[n] = s
    out: dict[str, torch.Tensor] = {}
    if isinstance(sparsity, dict):
        unknown = set(sparsity) - set(weights)
        if unknown:
            raise ValueError(f"no prunable weight named {sorted(unknown)}; prunable: {sorted(weights)}")
        for n, s in score.items():
            out[n] = _keep(s, sparsity.get(n, _sparsity_of(masks.get(n))))
    elif scope == "layer":
        out = {n: _keep(s, float(sparsity)) for n, s in score.items()}
    elif scope == "global":
        flat = torch.cat(list(score.values())) if score else torch.zeros(0)
        keep = _keep(flat, float(sparsity))
        for n, part in zip(score, keep.split([len(s) for s in score.values()])):
            out[n] = part
    else:
        raise ValueError(f"scope must be 'global' or 'layer', not '{scope}'")
    return {n: m.reshape(weights[n].shape) for n, m in out.items()}


def _sparsity_of(mask: torch.Tensor | None) -> float:
    return 0.0 if mask is None else float((mask == 0).sum()) / max(mask.numel(), 1)


def _keep(score: torch.Tensor, sparsity: float) -> torch.Tensor:
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], not {sparsity}")
    k = round(sparsity * score.numel())
    keep = torch.ones_like(score)
    if k:
        # stable sort: among equal scores the earlier index goes first, so results are reproducible
        keep[torch.sort(score, stable=True).indices[:k]] = 0.0
    return keep


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> nn.Module:
    """Zero the masked weights in place (+0.0, not -0.0: masked_fill, not a multiply)."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for n, m in masks.items():
            params[n].masked_fill_(m.to(params[n].device) == 0, 0.0)
    return model


def masks_from_zeros(model: nn.Module) -> dict[str, torch.Tensor]:
    """Masks that keep today's zeros at zero (to fine-tune a model pruned earlier)."""
    return {n: (p.detach() != 0).float() for n, p in prunable_weights(model).items()}


def sparsity_report(model: nn.Module) -> dict:
    """Per-layer and total counts of the prunable weights: params, non-zeros, sparsity."""
    rows = []
    for n, p in prunable_weights(model).items():
        nz = int((p.detach() != 0).sum())
        rows.append({"name": n, "shape": list(p.shape), "params": p.numel(), "nonzeros": nz,
                     "sparsity": round(1 - nz / max(p.numel(), 1), 6)})
    total = sum(r["params"] for r in rows)
    nz = sum(r["nonzeros"] for r in rows)
    all_params = sum(p.numel() for p in model.parameters())
    all_nz = sum(int((p.detach() != 0).sum()) for p in model.parameters())
    return {"layers": rows, "total": {"params": total, "nonzeros": nz,
                                      "sparsity": round(1 - nz / max(total, 1), 6),
                                      "all_params": all_params, "all_nonzeros": all_nz}}


def schedule(target: float, steps: int) -> list[float]:
    """Cubic ramp to ``target`` (Zhu & Gupta 2017): big steps first, while much is redundant."""
    steps = max(int(steps), 1)
    return [round(target * (1 - (1 - t / steps) ** 3), 6) for t in range(1, steps + 1)]


def prune_to(model: nn.Module, sparsity: float, finetune: Callable[[nn.Module, dict], nn.Module] | None,
             scope: str = "global", steps: int = 1, masks: dict | None = None,
             exclude: tuple[str, ...] = (), per_layer: dict[str, float] | None = None
             ) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """Prune ``model`` in place to ``sparsity`` in ``steps`` rounds, calling ``finetune(model, masks)``
    after each (``None``: prune only). ``per_layer`` fractions (see ``magnitude_masks``) ramp on the
    same schedule. Returns the model and its final masks."""
    ramps = {n: schedule(v, steps) for n, v in (per_layer or {}).items()}
    for i, level in enumerate(schedule(sparsity, steps)):
        fixed = {n: r[i] for n, r in ramps.items()} or None
        masks = magnitude_masks(model, level, scope, masks=masks, exclude=exclude, per_layer=fixed)
        apply_masks(model, masks)
        if finetune is not None:
            model = finetune(model, masks) or model
            apply_masks(model, masks)
    return model, masks or {}


@dataclass
class SearchResult:
    """The highest level that kept the score within budget, the model at that level and every try."""

    level: float
    model: object
    baseline: float
    trials: list[dict] = field(default_factory=list)
    extra: object = None


def search_level(model, trial: Callable[[object, float], tuple[object, object]],
                 score: Callable[[object], float], max_drop: float, levels: list[float],
                 refine: int = 2, incremental: bool = True, log: Callable[[str], None] | None = None
                 ) -> SearchResult:
    """Find the highest level in ``levels`` (then refined by bisection) whose score stays within
    ``max_drop`` of the unpruned model's.

    ``trial(base, level) -> (model, extra)`` prunes (and fine-tunes) a copy of ``base`` to
    ``level``. With ``incremental`` the base is the last model that passed (iterative pruning:
    each step starts from an already-adapted sparse model); otherwise always the original.
    Scores are in the unit of ``max_drop`` (use points of accuracy for both).
    """
    baseline = score(model)
    best = SearchResult(0.0, model, baseline)
    say = log or (lambda s: None)
    failed = None
    for level in levels:
        cand, extra = trial(copy.deepcopy(best.model if incremental else model), level)
        s = score(cand)
        ok = baseline - s <= max_drop
        best.trials.append({"level": level, "score": s, "drop": round(baseline - s, 4), "pass": ok})
        say(f"level {level:.4f}: score {s:.2f} (drop {baseline - s:+.2f}) {'ok' if ok else 'over budget'}")
        if not ok:
            failed = level
            break
        best.level, best.model, best.extra = level, cand, extra
    for _ in range(refine if failed is not None else 0):
        level = (best.level + failed) / 2
        cand, extra = trial(copy.deepcopy(best.model if incremental else model), level)
        s = score(cand)
        ok = baseline - s <= max_drop
        best.trials.append({"level": level, "score": s, "drop": round(baseline - s, 4), "pass": ok})
        say(f"level {level:.4f}: score {s:.2f} (drop {baseline - s:+.2f}) {'ok' if ok else 'over budget'}")
        if ok:
            best.level, best.model, best.extra = level, cand, extra
        else:
            failed = level
    return best


def halving_levels(start: float = 0.5, stop: float = 0.99) -> list[float]:
    """0.5, 0.75, 0.875, ...: each step halves the weights left, up to ``stop``."""
    out, kept = [], 1 - start
    while 1 - kept <= stop + 1e-9:
        out.append(round(1 - kept, 6))
        kept /= 2
    return out or [start]
