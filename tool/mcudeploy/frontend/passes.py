"""Graph simplification before quantization; each pass preserves the float semantics exactly
(up to float rounding), which ``tests/test_frontend.py`` checks against the original module.

* no-ops (dropout, clone, identity) are dropped;
* BatchNorm is folded into the conv/linear before it, or becomes a depthwise 1x1 conv;
* ReLU/ReLU6/clamp are fused into the conv/linear/add before it (an int8 clamp in the kernel);
* act(maxpool(x)) is rewritten maxpool(act(x)) (both monotonic, so they commute);
* a max-pool with stride >= kernel after a conv is fused into it, so the un-pooled map is never
  stored: the kernel takes the max of the accumulators of each pooling window and requantizes
  once, which equals pooling the requantized outputs because requantization is monotonic.
"""

from __future__ import annotations

import math

import torch

from .fgraph import FloatGraph, FNode


def _replace_uses(fg: FloatGraph, old: str, new: str) -> None:
    for n in fg.nodes:
        n.inputs = [new if i == old else i for i in n.inputs]
    if fg.output == old:
        fg.output = new


def _remove(fg: FloatGraph, node: FNode, replacement: str) -> None:
    fg.nodes.remove(node)
    _replace_uses(fg, node.name, replacement)


def _producer(fg: FloatGraph, name: str) -> FNode | None:
    return next((n for n in fg.nodes if n.name == name), None)


def _sole_user(fg: FloatGraph, producer: FNode, user: FNode) -> bool:
    return fg.output != producer.name and [u.name for u in fg.users(producer.name)] == [user.name]


def drop_identities(fg: FloatGraph) -> None:
    for n in [n for n in fg.nodes if n.op == "identity"]:
        _remove(fg, n, n.inputs[0])
    for n in [n for n in fg.nodes if n.op == "reshape"]:
        src = _producer(fg, n.inputs[0])
        src_shape = src.shape if src else fg.input_shape
        if tuple(src_shape) == tuple(n.shape):
            _remove(fg, n, n.inputs[0])


def fold_batchnorm(fg: FloatGraph) -> None:
    for bn in [n for n in fg.nodes if n.op == "bn"]:
        p = bn.params
        c = p["mean"].numel()
        gain = (p["weight"] if "weight" in p else torch.ones(c)) / torch.sqrt(p["var"] + bn.attrs["eps"])
        beta = p["bias"] if "bias" in p else torch.zeros(c)
        prev = _producer(fg, bn.inputs[0])
        if prev is not None and prev.op in ("conv", "linear") and not prev.attrs.get("act") \
                and not prev.attrs.get("pool") and _sole_user(fg, prev, bn):
            w = prev.params["weight"]
            b = prev.params.get("bias", torch.zeros(c))
            prev.params["weight"] = w * gain.reshape((-1,) + (1,) * (w.dim() - 1))
            prev.params["bias"] = (b - p["mean"]) * gain + beta
            _remove(fg, bn, prev.name)
        elif len(bn.shape) == 3:  # a standalone BatchNorm2d: a per-channel affine = depthwise 1x1 conv
            bn.op = "conv"
            bn.attrs = {"stride": [1, 1], "pad": [0, 0, 0, 0], "groups": c}
            bn.params = {"weight": gain.reshape(c, 1, 1, 1), "bias": beta - p["mean"] * gain}
        else:
            from ..errors import UnsupportedOpError
            raise UnsupportedOpError(f"BatchNorm in {bn.where} does not follow a conv or linear layer "
                                     "and is not 2-D, so it cannot be folded")


def _merge_act(a, b):
    lo = max(x for x in (a[0], b[0], -math.inf) if x is not None)
    hi = min(x for x in (a[1], b[1], math.inf) if x is not None)
    return [lo, hi]


def fuse_activations(fg: FloatGraph) -> None:
    changed = True
    while changed:
        changed = False
        for act in [n for n in fg.nodes if n.op == "act"]:
            prev = _producer(fg, act.inputs[0])
            if prev is None or not _sole_user(fg, prev, act):
                continue
            if prev.op == "maxpool":  # act(maxpool(y)) == maxpool(act(y)): swap the two nodes' ops
                src = _producer(fg, prev.inputs[0])
                pool_attrs = prev.attrs
                prev.op, prev.attrs = "act", act.attrs
                prev.shape = src.shape if src else fg.input_shape
                act.op, act.attrs = "maxpool", pool_attrs
                changed = True
                break
            if prev.op in ("conv", "linear", "add", "act") and not prev.attrs.get("pool"):
                prev.attrs["act"] = _merge_act(prev.attrs.get("act", [None, None]), act.attrs["act"])
                _remove(fg, act, prev.name)
                changed = True
                break
    for n in fg.nodes:  # inf bounds mean "no clamp"
        if "act" in n.attrs:
            n.attrs["act"] = [None if v is None or math.isinf(v) else float(v) for v in n.attrs["act"]]


def fuse_pools(fg: FloatGraph) -> None:
    for pool in [n for n in fg.nodes if n.op == "maxpool"]:
        prev = _producer(fg, pool.inputs[0])
        k, s = pool.attrs["k"], pool.attrs["stride"]
        if prev is None or prev.op != "conv" or prev.attrs.get("pool") or not _sole_user(fg, prev, pool):
            continue
        if prev.attrs.get("dilation") or pool.attrs.get("ceil") or not _plain_groups(prev):
            continue  # gconv2d (ops/gconv.py) has no fused pool; a ceil-mode pool has partial windows
        if any(pool.attrs["pad"]) or s[0] < k[0] or s[1] < k[1]:
            continue
        prev.attrs["pool"] = {"k": list(k), "s": list(s)}
        prev.attrs["conv_shape"] = list(prev.shape)
        prev.shape = pool.shape
        _remove(fg, pool, prev.name)


def _plain_groups(conv: FNode) -> bool:
    """groups=1 or depthwise (one input channel a group, as many outputs): the fused-pool kernels."""
    g, w = conv.attrs["groups"], conv.params["weight"]
    return g == 1 or (w.shape[1] == 1 and w.shape[0] == g)


def fold_pads(fg: FloatGraph) -> None:
    """A zero pad read only by convolutions becomes part of their (possibly asymmetric) padding;
    any other pad stays a 'pad' op (ops/pad.py)."""
    for p in [n for n in fg.nodes if n.op == "pad"]:
        users = fg.users(p.name)
        if not users or fg.output == p.name or any(u.op != "conv" for u in users) or p.attrs.get("value", 0.0):
            continue
        for u in users:
            u.attrs["pad"] = [a + b for a, b in zip(u.attrs["pad"], p.attrs["pad"])]
        _remove(fg, p, p.inputs[0])


def simplify(fg: FloatGraph) -> FloatGraph:
    drop_identities(fg)
    fold_pads(fg)
    fold_batchnorm(fg)
    fuse_activations(fg)
    fuse_pools(fg)
    return fg
