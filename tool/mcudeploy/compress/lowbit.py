"""Low-bit weights: ternary ({-1, 0, +1} x a per-channel scale, 2 bits) and int4 (15 levels x a
per-channel scale, 4 bits), learned with a straight-through estimator (STE).

    >>> model = lowbit_finetune(model, bits=2, finetune=ft, masks=masks)   # quantized in place
    >>> levels_per_channel(w) # 1 (ternary), 7 (int4) or None: what the compiler detects

The rules, per output channel (axis 0) of each conv/linear weight:

* ternary (Li & Liu's TWN rule, the seed's): threshold ``delta = 0.7 * mean|w|`` over the
  channel's weights still alive after pruning; weights with ``|w| > delta`` become
  ``alpha * sign(w)`` with ``alpha`` the mean of their magnitudes (the L2-optimal scale for that
  support), the rest 0. Pruned weights (mask 0) stay 0.
* int4: symmetric, ``s = max|w| / 7``, ``q = round(w / s)`` in [-7, 7] (-8 is not used: the grid
  stays symmetric, as the int8 weights are).

The exported model holds exactly ``w = s * q`` (float32 of the product), so the compiler can
recognise low-bit layers from the weights alone (``levels_per_channel``) and store them packed:
nothing but the weights travels from compress to compile.

Fine-tuning keeps float "latent" weights: before every forward with gradients, each low-bit
weight is swapped for its quantization of the latent; the gradient with respect to the quantized
weight is applied to the latent one (the STE: d q(w) / d w taken as 1), restored in the
parameter's post-accumulate-grad hook, so the optimizer steps the latent weights and any
training loop (the built-in one or a user's hook) works unchanged. At the end each weight is
replaced by its quantization for good.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from ..errors import McdError
from ..quantize import levels_per_channel
from .prune import prunable_weights

BITS = (2, 4)
TWN_DELTA = 0.7  # threshold factor of mean |w| (Li & Liu, Ternary Weight Networks)
LEVELS = {2: 1, 4: 7}  # largest |q| of each width


def quantize_weight(w: torch.Tensor, bits: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The low-bit version of a weight (same shape and dtype): ``scale * q`` per output channel."""
    if bits not in BITS:
        raise McdError(f"--weight-bits {bits}: expected one of {', '.join(map(str, BITS))} (8 is the default int8)")
    flat = w.detach().reshape(w.shape[0], -1).double()
    alive = torch.ones_like(flat) if mask is None else (mask.reshape(flat.shape) != 0).double()
    flat = flat * alive
    a = flat.abs()
    if bits == 2:
        n = alive.sum(1).clamp(min=1)
        delta = TWN_DELTA * a.sum(1) / n
        keep = (a > delta[:, None]) & (alive > 0)
        alpha = (a * keep).sum(1) / keep.sum(1).clamp(min=1)
        q = torch.sign(flat) * keep
        scale = alpha
    else:
        scale = a.amax(1) / LEVELS[4]
        q = torch.round(flat / torch.where(scale > 0, scale, 1.0)[:, None]).clamp(-7, 7)
    return (scale[:, None] * q).to(w.dtype).reshape(w.shape)


@contextlib.contextmanager
def ste_quantized(model: nn.Module, bits: int, masks: dict[str, torch.Tensor] | None = None) -> Iterator[dict]:
    """While the block runs, every forward with gradients sees the quantized weights and every
    backward updates the latent ones (module docstring). Yields the weights it handles."""
    weights = prunable_weights(model)
    masks = masks or {}
    stash: dict[str, torch.Tensor] = {}

    def restore(name: str) -> None:
        if name in stash:
            weights[name].data.copy_(stash.pop(name))

    def pre_forward(_module, _args):
        if not torch.is_grad_enabled():
            return
        for n, p in weights.items():
            restore(n)
            stash[n] = p.detach().clone()
            p.data.copy_(quantize_weight(stash[n], bits, masks.get(n)))

    handles = [model.register_forward_pre_hook(pre_forward)]
    for n, p in weights.items():
        handles.append(p.register_post_accumulate_grad_hook(lambda _p, n=n: restore(n)))
    try:
        yield weights
    finally:
        for h in handles:
            h.remove()
        for n in list(stash):
            restore(n)


def finalize(model: nn.Module, bits: int, masks: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """Replace every conv/linear weight by its quantization (what gets exported)."""
    masks = masks or {}
    with torch.no_grad():
        for n, p in prunable_weights(model).items():
            p.copy_(quantize_weight(p, bits, masks.get(n)))
    return model


def lowbit_finetune(model: nn.Module, bits: int, finetune: Callable[[nn.Module, dict], nn.Module] | None,
                    masks: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """Quantization-aware fine-tuning (STE) of ``model``'s conv/linear weights to ``bits``, then
    the final quantization. Without ``finetune`` it is post-training quantization."""
    masks = masks or {}
    if finetune is not None:
        with ste_quantized(model, bits, masks):
            model = finetune(model, masks)
    return finalize(model, bits, masks)


def lowbit_report(model: nn.Module, bits: int) -> list[dict]:
    """Per weight: its detected levels (1 ternary, 7 int4) and the share of zeros."""
    rows = []
    for n, p in prunable_weights(model).items():
        w = p.detach().cpu().numpy()
        rows.append({"name": n, "levels": levels_per_channel(w), "zeros": round(float((w == 0).mean()), 4)})
    return rows
