"""The ATen ops of the float graph only (BatchNorm, zero pad, dropout/identity): the simplify
pass folds or drops them, so they have no op record. Every op that reaches the device is captured
by its record's ``aten`` handlers (``mcudeploy/ops``), which ``capture`` consults first; see
docs/adding-an-op.md. A handler returns an FNode, or a string saying why this use is not supported.
"""

from __future__ import annotations

from .fgraph import FNode


def batch_norm(a, k):  # aten.batch_norm(input, weight, bias, mean, var, training, momentum, eps, cudnn)
    x, w, b, mean, var = a[:5]
    if a[5]:
        return "batch_norm in training mode (call model.eval())"
    return _bn(x, w, b, mean, var, a[7])


def bn_no_training(a, k):  # _native_batch_norm_legit_no_training(input, w, b, mean, var, momentum, eps)
    x, w, b, mean, var, _mom, eps = a[:7]
    return _bn(x, w, b, mean, var, eps)


def _bn(x, w, b, mean, var, eps):
    params = {"mean": mean, "var": var}
    if w is not None:
        params["weight"] = w
    if b is not None:
        params["bias"] = b
    return FNode("", "bn", [x], {"eps": float(eps)}, params)


def pad(a, k):
    """A zero pad of H and W (F.pad / nn.ZeroPad2d), e.g. Keras-style asymmetric 'same' padding.
    The simplify pass folds it into the convolution(s) that read it."""
    p = list(a[1])
    mode = a[2] if len(a) > 2 else k.get("mode", "constant")
    value = a[3] if len(a) > 3 else k.get("value", 0.0)
    if mode != "constant":
        return f"padding mode '{mode}' (only constant padding is supported)"
    p += [0] * (8 - len(p))
    if any(p[4:]):
        return "padding of the channel or batch dims"
    left, right, top, bottom = p[:4]
    return FNode("", "pad", [a[0]], {"pad": [top, left, bottom, right], "value": float(value or 0.0)})


def constant_pad_nd(a, k):
    return pad([a[0], a[1], "constant", a[2] if len(a) > 2 else k.get("value", 0.0)], {})


def identity(a, k):
    return FNode("", "identity", [a[0]])


HANDLERS = {  # ops of the float graph only: folded or dropped by the simplify pass (frontend/passes.py)
    "batch_norm.default": batch_norm, "_native_batch_norm_legit_no_training.default": bn_no_training,
    "pad.default": pad, "constant_pad_nd.default": constant_pad_nd,
    "dropout.default": identity, "dropout_.default": identity, "clone.default": identity,
    "contiguous.default": identity, "alias.default": identity, "detach.default": identity,
    "feature_dropout.default": identity,
}
# Nodes with no data effect, skipped entirely.
IGNORED = {"_assert_tensor_metadata.default", "_assert_scalar.default", "sym_constrain_range_for_size.default"}

# Named in the 'supported:' list of a refusal, before the op records' own ``supported`` strings.
SUPPORTED = ["BatchNorm2d/1d (folded)", "zero pad before a conv (folded)", "Dropout/Identity (removed)"]
