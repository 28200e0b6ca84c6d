"""Structured pruning: remove whole conv filters / linear units, and shrink every layer they touch.

    >>> pruned, plan = prune_channels(model, example, ratio=0.3)   # 30 % of each group's channels
    >>> count_macs_params(model, example), count_macs_params(pruned, example)
    >>> channel_groups(model, example)                               # what would be pruned together

The result is a genuinely smaller ``nn.Module`` (the user's own class, with its Conv2d, BatchNorm
and Linear weights sliced), not a masked one, so every later stage (export, int8 lowering, C code)
sees fewer channels, MACs and bytes without knowing pruning happened.

How channels are tied together. The model is traced with ``torch.fx`` and every channel of every
intermediate tensor gets an id; ids are merged with union-find where the graph forces two channels
to be removed together:

* a conv (groups=1) or linear makes fresh ids for its outputs and *consumes* its input ids (removing
  one drops an input slice of its weight);
* BatchNorm, activations, pooling, dropout and depthwise convs pass ids through (and a BN or
  depthwise conv on a removed channel loses that entry);
* ``a + b`` (residual adds, also ``*``, ``-``) unions ``a``'s i-th channel with ``b``'s: a residual
  stage is one group, pruned identically in every conv that writes into it;
* ``torch.cat(dim=1)`` concatenates the id lists, so each branch is pruned on its own and the consumer
  loses the matching input slices;
* ``flatten`` / ``view(n, -1)`` from (C, H, W) repeats each channel's id H*W times (channel-major),
  so removing a conv filter drops its H*W columns of the following linear layer.

* a ``ConvTranspose2d`` (groups=1) is a weight layer like a conv (its weight is (in, out, kh, kw));
* any other module or function without per-channel parameters is run once on random inputs of its
  traced shapes under a dispatch logger, and the ATen ops it calls are looked up in the op records
  (``mcudeploy.ops``): when every one is ``channels="elementwise"`` (activations by table, ``*``,
  PReLU with one slope, maximum/minimum, upsampling, ...; data movement without a record such as
  ``clone`` too), the op passes ids through, or unions those of its full-size inputs. So an op
  gets traced by adding its record, not by a list here.

Anything else (the model input, the model output, grouped convs, functional ops on parameters,
reshapes with literal sizes, ops whose records mix or reduce channels: softmax, slicing, ...)
marks the ids it touches as fixed: never pruned. That is the conservative side: an op this pass
does not understand only limits how much can be removed.

Which channels go: per group, the ones whose producing filters have the smallest L2 norm after
folding the following BatchNorm's scale (``gamma / sqrt(var + eps)``, the filter the int8 engine will
actually run). In a group written by several convs (a residual stage) each conv's norms are divided
by their mean before summing, so no single conv dominates by scale alone.
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..errors import McdError

_PASS_MODULES = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.GELU, nn.SiLU,
                 nn.Hardswish, nn.Hardsigmoid, nn.ELU, nn.Dropout, nn.Dropout2d, nn.Identity,
                 nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d,
                 nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.ZeroPad2d, nn.Upsample)
_PASS_FUNCS = {F.relu, F.relu6, F.hardtanh, F.sigmoid, F.tanh, F.leaky_relu, F.gelu, F.silu,
               F.hardswish, F.dropout, F.max_pool2d, F.avg_pool2d, F.max_pool1d, F.avg_pool1d,
               F.adaptive_avg_pool2d, F.adaptive_max_pool2d, F.adaptive_avg_pool1d, torch.relu,
               torch.sigmoid, torch.tanh, torch.clamp, torch.clip, F.interpolate}
_PASS_METHODS = {"relu", "relu_", "sigmoid", "tanh", "clamp", "clip", "contiguous", "clone",
                 "detach", "float"}
_ELEMENTWISE = {operator.add, operator.sub, operator.mul, operator.iadd, torch.add, torch.sub,
                torch.mul, "add", "sub", "mul", "add_", "mul_"}
_REDUCE = {torch.mean, torch.sum, torch.amax, "mean", "sum", "amax"}
_BN = (nn.BatchNorm1d, nn.BatchNorm2d)
_CONV = (nn.Conv1d, nn.Conv2d)


@dataclass
class Group:
    """Channels that must be removed together, e.g. one conv's filters or a residual stage."""

    producers: list[str]            # modules whose output channels these are
    channels: list[int]             # union-find roots, one per coupled channel, in producer order
    scores: list[float]             # importance per channel (bigger = keep)
    prunable: bool = True


@dataclass
class Analysis:
    groups: list[Group]
    uses: dict[str, dict] = field(default_factory=dict)   # module -> {"kind", "in", "out"} id lists
    find: object = None


class _UF:
    def __init__(self):
        self.parent: list[int] = []
        self.fixed: set[int] = set()

    def new(self, n: int, fixed: bool = False) -> list[int]:
        ids = list(range(len(self.parent), len(self.parent) + n))
        self.parent.extend(ids)
        if fixed:
            self.fixed.update(ids)
        return ids

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: list[int], b: list[int]) -> None:
        for i, j in zip(a, b):
            ri, rj = self.find(i), self.find(j)
            if ri != rj:
                self.parent[max(ri, rj)] = min(ri, rj)

    def fix(self, ids) -> None:
        self.fixed.update(ids or [])


def trace(model: nn.Module, example: torch.Tensor) -> fx.GraphModule:
    """Symbolically trace ``model`` and annotate every node with its shape (``meta['tensor_meta']``)."""
    if isinstance(model, fx.GraphModule) and any(
            n.op == "call_function" and isinstance(n.target, torch._ops.OpOverload) for n in model.graph.nodes):
        raise McdError("structured pruning needs the model as an nn.Module (FILE.py:FACTORY with "
                       "--weights); a torch.export archive (.pt2) has lost the module structure it "
                       "shrinks. Unstructured pruning (without --structured) works on .pt2 files.")
    try:
        gm = fx.symbolic_trace(model)
    except Exception as exc:
        raise McdError(f"structured pruning traces the model with torch.fx, which failed: "
                       f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} (data-"
                       "dependent control flow in forward() cannot be traced; unstructured pruning "
                       "still works)") from exc
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(example[:1].float())
    finally:
        model.train(was)
    return gm


def _shape(node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def analyze(model: nn.Module, example: torch.Tensor) -> Analysis:
    """Trace ``model`` and return its channel groups (see the module docstring)."""
    gm = trace(model, example)
    uf = _UF()
    ids: dict[fx.Node, list[int] | None] = {}
    uses: dict[str, dict] = {}
    bn_after: dict[str, str] = {}

    def of(a):
        return ids.get(a) if isinstance(a, fx.Node) else None

    def fresh(node, fixed=False):
        s = _shape(node)
        return uf.new(s[1], fixed) if s is not None and len(s) >= 2 else None

    def unknown(node):
        for a in node.all_input_nodes:
            uf.fix(ids.get(a))
        return fresh(node, fixed=True)

    def record(name, kind, i, o):
        prev = uses.get(name)
        if prev is None:
            uses[name] = {"kind": kind, "in": i, "out": o}
            return o
        if prev["in"] is not None and i is not None:   # a module called twice: one set of weights
            uf.union(prev["in"], i)
        return prev["out"]

    for node in gm.graph.nodes:
        args = node.args
        x = of(args[0]) if args else None
        out = None
        if node.op == "placeholder":
            out = fresh(node, fixed=True)
        elif node.op == "output":
            for a in node.all_input_nodes:
                uf.fix(ids.get(a))
            continue
        elif node.op == "call_module":
            mod = gm.get_submodule(node.target)
            if isinstance(mod, _CONV) and x is not None:
                if mod.groups == 1:
                    out = record(node.target, "conv", x, fresh(node))
                elif mod.groups == mod.in_channels == mod.out_channels:
                    out = record(node.target, "depthwise", x, x)
                else:
                    out = unknown(node)
            elif isinstance(mod, nn.Linear) and x is not None and len(_shape(args[0]) or ()) == 2:
                out = record(node.target, "linear", x, fresh(node))
            elif isinstance(mod, _BN) and x is not None:
                out = record(node.target, "bn", x, x)
                if args[0].op == "call_module":
                    bn_after[args[0].target] = node.target
            elif isinstance(mod, _PASS_MODULES):
                out = x
            elif isinstance(mod, nn.Flatten) and mod.start_dim == 1 and mod.end_dim == -1:
                out = _flatten(args[0], x)
            elif isinstance(mod, nn.ConvTranspose2d) and mod.groups == 1 and x is not None:
                out = record(node.target, "convt", x, fresh(node))
            elif _record_rule(node, mod) == "elementwise":
                out = _elementwise(node, uf, of, unknown)
            else:
                out = unknown(node)
        elif node.op in ("call_function", "call_method"):
            t = node.target
            if t in (getattr, operator.getitem) or t in ("size", "dim") or _shape(node) is None:
                out = None if _shape(node) is None else unknown(node)
            elif t in _PASS_FUNCS or t in _PASS_METHODS:
                out = x if x is not None else unknown(node)
            elif t is F.pad and x is not None and len(args[1] if len(args) > 1 else node.kwargs["pad"]) <= 4:
                out = x
            elif t in _ELEMENTWISE:
                out = _elementwise(node, uf, of, unknown)
            elif t in (torch.cat, torch.concat):
                out = _cat(node, uf, of, unknown)
            elif t in (torch.flatten, "flatten", "view", "reshape") and _is_flatten(node):
                out = _flatten(args[0], x)
            elif t in _REDUCE and x is not None and _keeps_channels(node):
                out = x
            elif _record_rule(node, None) == "elementwise":
                out = _elementwise(node, uf, of, unknown)
            else:
                out = unknown(node)
        else:  # get_attr: a parameter used by a functional op, which this pass cannot shrink
            out = fresh(node, fixed=True)
        ids[node] = out

    by_key: dict[tuple, list[int]] = {}
    roots_seen = set()
    producers: dict[int, list[str]] = {}
    for name, u in uses.items():
        if u["kind"] in ("conv", "linear", "convt"):
            for i in u["out"]:
                producers.setdefault(uf.find(i), []).append(name)
    fixed_roots = {uf.find(i) for i in uf.fixed}
    for name, u in uses.items():
        if u["kind"] not in ("conv", "linear", "convt"):
            continue
        for i in u["out"]:
            r = uf.find(i)
            if r in roots_seen:
                continue
            roots_seen.add(r)
            by_key.setdefault(tuple(producers[r]), []).append(r)
    scores = _importance(gm, uses, bn_after, uf)
    groups = []
    for key, roots in by_key.items():
        groups.append(Group(list(key), roots, [scores.get(r, 0.0) for r in roots],
                            prunable=not any(r in fixed_roots for r in roots)))
    return Analysis(groups, uses, uf.find)


def _aten_calls(node, mod) -> list[str] | None:
    """The ATen op keys ('hardswish.default') one fx node calls, found by running it once on random
    inputs of its traced shapes; None when it cannot be run that way."""
    from torch.utils._python_dispatch import TorchDispatchMode

    def materialize(a):
        if isinstance(a, fx.Node):
            meta = a.meta.get("tensor_meta")
            if meta is None or not hasattr(meta, "shape") or not meta.dtype.is_floating_point:
                raise ValueError(a.name)
            return torch.randn(tuple(meta.shape), dtype=meta.dtype)
        if isinstance(a, (list, tuple)):
            return type(a)(materialize(v) for v in a)
        return a

    keys: list[str] = []
    live: list[torch.Tensor] = []  # the node's inputs and what is computed from them (ops on parameters alone don't count)

    def tensors(v):
        if isinstance(v, torch.Tensor):
            return [v]
        if isinstance(v, (list, tuple)):
            return [t for a in v for t in tensors(a)]
        if isinstance(v, dict):
            return [t for a in v.values() for t in tensors(a)]
        return []

    class _Log(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if any(t is u for t in tensors((args, kwargs)) for u in live):
                keys.append(getattr(func, "__name__", str(func)))
                live.extend(tensors(out))
            return out

    try:
        args = materialize(tuple(node.args))
        kwargs = {k: materialize(v) for k, v in node.kwargs.items()}
        live.extend(tensors((args, kwargs)))
        if node.op == "call_module":
            fn = mod
        elif node.op == "call_method":
            fn = getattr(args[0], node.target)
            args = args[1:]
        else:
            fn = node.target
        with torch.no_grad(), _Log():
            fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 -- an op that cannot run alone is simply not traced through
        return None
    return keys


def _record_rule(node, mod) -> str | None:
    """'elementwise' when every ATen op the node calls has an op record saying so (or only moves
    data: the frontend drops it); else None. A module with per-channel parameters (PReLU(C)) is
    never elementwise here: pruning would have to slice them."""
    from .. import ops
    from ..frontend.optable import HANDLERS, IGNORED, identity

    if mod is not None and any(p.numel() > 1 for p in mod.parameters()):
        return None
    keys = _aten_calls(node, mod)
    if not keys:
        return None
    for key in keys:
        if key in IGNORED or HANDLERS.get(key) is identity:
            continue
        rec = ops.record_of(key)
        if rec is None or rec.channels != "elementwise":
            return None
    return "elementwise"


def _flatten(src, x):
    s = _shape(src)
    if x is None or s is None:
        return None
    spatial = 1
    for d in s[2:]:
        spatial *= d
    return [i for i in x for _ in range(spatial)]


def _is_flatten(node) -> bool:
    """flatten(x, 1) / x.flatten(1), or view/reshape to (batch, -1) with no literal feature size."""
    a, kw = node.args, node.kwargs
    if node.target in (torch.flatten, "flatten"):
        start = a[1] if len(a) > 1 else kw.get("start_dim", 0)
        end = a[2] if len(a) > 2 else kw.get("end_dim", -1)
        return start == 1 and end == -1
    dims = tuple(a[1]) if len(a) == 2 and isinstance(a[1], (tuple, list)) else tuple(a[1:])
    s, o = _shape(a[0]), _shape(node)
    # a literal feature count (view(-1, 400)) would break once channels are gone; a batch taken
    # from x.size(0) (a graph node) or a literal batch of 1 stays right
    return (len(dims) == 2 and dims[1] == -1 and (not isinstance(dims[0], int) or dims[0] == 1)
            and s is not None and o is not None and len(o) == 2 and o[0] == s[0])


def _keeps_channels(node) -> bool:
    a, kw = node.args, node.kwargs
    dims = a[1] if len(a) > 1 else kw.get("dim")
    if dims is None:
        return False
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    rank = len(_shape(node.args[0]) or ())
    dims = {d % rank for d in dims if isinstance(d, int)}
    return 0 not in dims and 1 not in dims and len(dims) > 0


def _elementwise(node, uf, of, unknown):
    tensors = [a for a in node.args[:2] if isinstance(a, fx.Node) and _shape(a) is not None]
    shapes = [_shape(a) for a in tensors]
    out_shape = _shape(node)
    if len(tensors) == 1:
        return of(tensors[0]) if shapes[0] == out_shape else unknown(node)
    a, b = tensors
    ia, ib = of(a), of(b)
    if ia is None or ib is None or len(out_shape) < 2:
        return unknown(node)
    full = [t for t, s in zip((ia, ib), shapes) if len(s) == len(out_shape) and s[1] == out_shape[1]]
    if len(full) == 2:
        uf.union(ia, ib)
        return ia
    return unknown(node)


def _cat(node, uf, of, unknown):
    tensors = node.args[0]
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    rank = len(_shape(node) or ())
    lists = [of(t) for t in tensors]
    if any(v is None for v in lists) or rank < 2:
        return unknown(node)
    if dim % rank == 1:
        return [i for v in lists for i in v]
    for v in lists[1:]:
        uf.union(lists[0], v)
    return lists[0]


def _bn_scale(bn: nn.Module) -> torch.Tensor:
    s = torch.ones(bn.num_features) if bn.running_var is None else 1 / torch.sqrt(bn.running_var + bn.eps)
    return (s * bn.weight.detach()).abs() if bn.weight is not None else s


def _importance(gm, uses, bn_after, uf) -> dict[int, float]:
    """Per channel root: sum over its producers of filter L2 norm (BN-scaled) / that layer's mean."""
    out: dict[int, float] = {}
    for name, u in uses.items():
        if u["kind"] not in ("conv", "linear", "convt"):
            continue
        w = gm.get_submodule(name).weight.detach()
        w = (w.transpose(0, 1) if u["kind"] == "convt" else w).flatten(1)
        norm = w.norm(dim=1)
        if name in bn_after:
            norm = norm * _bn_scale(gm.get_submodule(bn_after[name]))
        norm = norm / norm.mean().clamp_min(1e-12)
        for i, v in zip(u["out"], norm.tolist()):
            r = uf.find(i)
            out[r] = out.get(r, 0.0) + v
    return out


def channel_groups(model: nn.Module, example: torch.Tensor) -> list[dict]:
    """The groups as plain data (for reports and tests): producers, channel count, prunable."""
    return [{"producers": g.producers, "channels": len(g.channels), "prunable": g.prunable}
            for g in analyze(model, example).groups]


def select(groups: list[Group], ratio: float, scope: str = "layer", min_keep: int = 1) -> set[int]:
    """Channel roots to remove: ``ratio`` of each prunable group (``layer``) or of all of them,
    ranked together by normalized score (``global``); every group keeps at least ``min_keep``."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"channel ratio must be in [0, 1), not {ratio}")
    drop: set[int] = set()
    live = [g for g in groups if g.prunable]
    if scope == "layer":
        for g in live:
            k = min(round(ratio * len(g.channels)), len(g.channels) - min_keep)
            order = sorted(range(len(g.channels)), key=lambda i: (g.scores[i], i))
            drop.update(g.channels[i] for i in order[:max(k, 0)])
    elif scope == "global":
        cands = sorted(((g.scores[i] / len(g.producers), gi, i) for gi, g in enumerate(live)
                        for i in range(len(g.channels))))
        budget = round(ratio * sum(len(g.channels) for g in live))
        left = {gi: len(g.channels) for gi, g in enumerate(live)}
        for _s, gi, i in cands:
            if budget <= 0:
                break
            if left[gi] > min_keep:
                drop.add(live[gi].channels[i])
                left[gi] -= 1
                budget -= 1
    else:
        raise ValueError(f"scope must be 'layer' or 'global', not '{scope}'")
    return drop


def _slice_param(mod: nn.Module, name: str, idx: torch.Tensor, dim: int) -> None:
    p = getattr(mod, name)
    if p is None:
        return
    new = p.detach().index_select(dim, idx).clone()
    if isinstance(p, nn.Parameter):
        setattr(mod, name, nn.Parameter(new, requires_grad=p.requires_grad))
    else:
        setattr(mod, name, new)


def shrink(model: nn.Module, analysis: Analysis, drop: set[int]) -> nn.Module:
    """Slice every recorded module's weights in place to the channels not in ``drop``."""
    find = analysis.find

    def keep(id_list):
        return torch.tensor([k for k, i in enumerate(id_list) if find(i) not in drop], dtype=torch.long)

    for name, u in analysis.uses.items():
        mod = model.get_submodule(name)
        kin, kout = keep(u["in"]), keep(u["out"])
        if u["kind"] == "conv":
            _slice_param(mod, "weight", kout, 0)
            _slice_param(mod, "weight", kin, 1)
            _slice_param(mod, "bias", kout, 0)
            mod.in_channels, mod.out_channels = len(kin), len(kout)
        elif u["kind"] == "convt":  # weight (in, out, kh, kw)
            _slice_param(mod, "weight", kout, 1)
            _slice_param(mod, "weight", kin, 0)
            _slice_param(mod, "bias", kout, 0)
            mod.in_channels, mod.out_channels = len(kin), len(kout)
        elif u["kind"] == "depthwise":
            _slice_param(mod, "weight", kout, 0)
            _slice_param(mod, "bias", kout, 0)
            mod.in_channels = mod.out_channels = mod.groups = len(kout)
        elif u["kind"] == "linear":
            _slice_param(mod, "weight", kout, 0)
            _slice_param(mod, "weight", kin, 1)
            _slice_param(mod, "bias", kout, 0)
            mod.in_features, mod.out_features = len(kin), len(kout)
        elif u["kind"] == "bn":
            for p in ("weight", "bias", "running_mean", "running_var"):
                _slice_param(mod, p, kout, 0)
            mod.num_features = len(kout)
    return model


def prune_channels(model: nn.Module, example: torch.Tensor, ratio: float = 0.3, scope: str = "layer",
                   inplace: bool = False, min_keep: int = 1) -> tuple[nn.Module, dict]:
    """Remove ``ratio`` of the channels of every prunable group; returns (smaller model, plan).

    The plan lists, per group, its producers and channels before/after. The pruned model is run
    on ``example`` to check that it still produces the original output shape.
    """
    model = model if inplace else copy.deepcopy(model)
    example = example[:1].float()
    with torch.no_grad():
        was = model.training
        model.eval()
        out_shape = tuple(model(example).shape)
        model.train(was)
    an = analyze(model, example)
    drop = select(an.groups, ratio, scope, min_keep)
    shrink(model, an, drop)
    try:
        with torch.no_grad():
            model.eval()
            got = tuple(model(example).shape)
            model.train(was)
    except Exception as exc:
        raise McdError(f"internal: the channel-pruned model no longer runs: {type(exc).__name__}: {exc}"
                       ) from exc
    if got != out_shape:
        raise McdError(f"internal: channel pruning changed the output shape {out_shape} -> {got}")
    plan = {"ratio": ratio, "scope": scope, "groups": [
        {"producers": g.producers, "prunable": g.prunable, "channels_before": len(g.channels),
         "channels_after": sum(1 for r in g.channels if r not in drop)} for g in an.groups]}
    return model, plan


def count_macs_params(model: nn.Module, example: torch.Tensor) -> dict:
    """MACs of conv and linear layers for one sample, and parameter counts.

    ``params`` counts every parameter (BatchNorm's too, though the int8 engine folds them away);
    ``weights`` only conv and linear weights and biases, which is what ends up in flash.
    """
    macs, rows = 0, []
    hooks = []

    def hook(name):
        def fn(mod, inp, out):
            nonlocal macs
            per = out[0].numel()
            if isinstance(mod, _CONV):
                k = mod.weight[0].numel()                      # (cin / groups) * kh * kw
            else:
                k = mod.in_features
            macs += per * k
            rows.append({"name": name, "macs": per * k,
                         "params": sum(p.numel() for p in mod.parameters(recurse=False)),
                         "shape": list(mod.weight.shape)})
        return fn

    for n, m in model.named_modules():
        if isinstance(m, (*_CONV, nn.Linear)):
            hooks.append(m.register_forward_hook(hook(n)))
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example[:1].float())
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    weights = sum(p.numel() for m in model.modules() if isinstance(m, (*_CONV, nn.Linear))
                  for p in m.parameters(recurse=False))
    return {"macs": macs, "params": sum(p.numel() for p in model.parameters()), "weights": weights,
            "layers": rows}
