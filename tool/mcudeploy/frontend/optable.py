"""The op table: which ATen ops the frontend accepts and how each becomes an FNode.

To add an op: a handler here, its float semantics in ``capture.run_node``, its quantized form in
``quantize_graph``, its integer semantics in ``reference``, one C kernel and one test.
A handler returns an FNode, or a string saying why this use of the op is not supported.
"""

from __future__ import annotations

from .fgraph import FNode


def _pair(v, default=None):
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        v = default
    if isinstance(v, int):
        return [v, v]
    v = list(v)
    return v * 2 if len(v) == 1 else v


def _one(v, default):
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        return default
    return int(v[0]) if isinstance(v, (list, tuple)) else int(v)


def _conv(x, w, b, stride, padding, dilation, groups):
    """Conv2d, and Conv1d as a 1 x L Conv2d (attr '1d': the float graph unsqueezes its input).
    Dilation and any groups are accepted: depthwise stays 'dwconv2d', the rest lowers to
    'gconv2d' (ops/gconv.py) unless it is an ordinary groups=1, dilation-1 conv."""
    one_d = w.dim() == 3
    if one_d:
        w = w.unsqueeze(2)
        stride, dilation = [1, _one(stride, 1)], [1, _one(dilation, 1)]
        if not isinstance(padding, str):
            padding = [0, _one(padding, 0)]
    dil = _pair(dilation, 1)
    kh, kw = w.shape[2:]
    stride = _pair(stride, 1)
    attrs = {"stride": stride, "groups": groups}
    if dil != [1, 1]:
        attrs["dilation"] = dil
    if one_d:
        attrs["1d"] = True
    params = {"weight": w, **({"bias": b} if b is not None else {})}
    if isinstance(padding, str):
        if padding == "valid":
            padding = [0, 0]
        elif padding == "same":
            if stride != [1, 1]:
                return "padding='same' with stride > 1"
            th, tw = dil[0] * (kh - 1), dil[1] * (kw - 1)
            pt, pl = th // 2, tw // 2
            return FNode("", "conv", [x], {**attrs, "pad": [pt, pl, th - pt, tw - pl]}, params)
    ph, pw = _pair(padding, 0)
    return FNode("", "conv", [x], {**attrs, "pad": [ph, pw, ph, pw]}, params)


def conv2d(a, k):
    x, w = a[0], a[1]
    b = a[2] if len(a) > 2 else k.get("bias")
    return _conv(x, w, b, a[3] if len(a) > 3 else k.get("stride", 1), a[4] if len(a) > 4 else k.get("padding", 0),
                 a[5] if len(a) > 5 else k.get("dilation", 1), a[6] if len(a) > 6 else k.get("groups", 1))


def convolution(a, k):
    x, w, b, stride, padding, dilation, transposed, _outpad, groups = a[:9]
    if transposed:
        return "transposed convolution"
    if w.dim() not in (3, 4):
        return f"{w.dim() - 2}-D convolution (only 1-D and 2-D)"
    return _conv(x, w, b, stride, padding, dilation, groups)


def linear(a, k):
    b = a[2] if len(a) > 2 else k.get("bias")
    return FNode("", "linear", [a[0]], {}, {"weight": a[1], **({"bias": b} if b is not None else {})})


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


def relu(a, k):
    return FNode("", "act", [a[0]], {"act": [0.0, None]})


def hardtanh(a, k):
    lo = a[1] if len(a) > 1 else k.get("min_val", -1.0)
    hi = a[2] if len(a) > 2 else k.get("max_val", 1.0)
    return FNode("", "act", [a[0]], {"act": [float(lo), float(hi)]})


def clamp(a, k):
    lo = a[1] if len(a) > 1 else k.get("min")
    hi = a[2] if len(a) > 2 else k.get("max")
    return FNode("", "act", [a[0]], {"act": [None if lo is None else float(lo), None if hi is None else float(hi)]})


def max_pool2d(a, k):
    x, ks = a[0], _pair(a[1])
    stride = _pair(a[2] if len(a) > 2 else k.get("stride"), ks)
    pad = _pair(a[3] if len(a) > 3 else k.get("padding", 0), 0)
    dil = _pair(a[4] if len(a) > 4 else k.get("dilation", 1), 1)
    ceil = a[5] if len(a) > 5 else k.get("ceil_mode", False)
    if dil != [1, 1]:
        return "max-pool dilation > 1"
    return FNode("", "maxpool", [x], {"k": ks, "stride": stride, "pad": pad, **({"ceil": True} if ceil else {})})


def avg_pool2d(a, k):
    x, ks = a[0], _pair(a[1])
    stride = _pair(a[2] if len(a) > 2 else k.get("stride"), ks)
    pad = _pair(a[3] if len(a) > 3 else k.get("padding", 0), 0)
    ceil = a[4] if len(a) > 4 else k.get("ceil_mode", False)
    include = a[5] if len(a) > 5 else k.get("count_include_pad", True)
    div = a[6] if len(a) > 6 else k.get("divisor_override")
    if div is not None:
        return "divisor_override"
    return FNode("", "avgpool", [x], {"k": ks, "stride": stride, "pad": pad, "count_include_pad": bool(include),
                                      **({"ceil": True} if ceil else {})})


def _as_1d(fn, argn: int):
    """A 1-D pool as its 2-D form on a 1 x L map (attr '1d')."""
    def handler(a, k):
        a = list(a)
        for i in range(1, min(argn, len(a))):
            if isinstance(a[i], (list, tuple, int)) and not isinstance(a[i], bool) and a[i] != []:
                a[i] = [1 if i != 3 else 0, _one(a[i], 1 if i != 3 else 0)]
        node = fn(a, {kk: ([1, _one(v, 0)] if kk in ("stride", "padding", "dilation") and v is not None else v)
                      for kk, v in k.items()})
        if not isinstance(node, str):
            node.attrs["1d"] = True
        return node
    return handler


def adaptive_avg_pool1d(a, k):
    if _one(a[1], 1) != 1:
        return f"output size {a[1]} (only AdaptiveAvgPool1d(1), a global average, is supported)"
    return FNode("", "gap", [a[0]], {"1d": True})


def adaptive_avg_pool2d(a, k):
    if _pair(a[1]) != [1, 1]:
        return f"output size {a[1]} (only AdaptiveAvgPool2d(1), a global average, is supported)"
    return FNode("", "gap", [a[0]])


def mean(a, k):
    dims = sorted(d % 4 for d in a[1])
    if dims != [2, 3]:
        return f"mean over dims {a[1]} (only the spatial mean over dims (2, 3) is supported)"
    return FNode("", "gap", [a[0]])


def reshape(a, k):
    return FNode("", "reshape", [a[0]])


def add(a, k):
    if len(a) < 2 or not isinstance(a[1], str):
        return "adding a constant (only tensor + tensor of the same shape is supported)"
    if k.get("alpha", 1) != 1:
        return "add with alpha != 1"
    return FNode("", "add", [a[0], a[1]])


def cat(a, k):
    dim = a[1] if len(a) > 1 else k.get("dim", 0)
    if dim not in (1, -3, -1):
        return f"concatenation along dim {dim} (only the channel dim 1 is supported)"
    return FNode("", "cat", list(a[0]), {"dim": dim})


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


HANDLERS = {
    "conv2d.default": conv2d, "conv2d.padding": conv2d, "convolution.default": convolution,
    "linear.default": linear,
    "batch_norm.default": batch_norm, "_native_batch_norm_legit_no_training.default": bn_no_training,
    "relu.default": relu, "relu_.default": relu, "hardtanh.default": hardtanh, "hardtanh_.default": hardtanh,
    "relu6.default": lambda a, k: FNode("", "act", [a[0]], {"act": [0.0, 6.0]}),
    "clamp.default": clamp, "clamp_min.default": lambda a, k: clamp([a[0], a[1], None], {}),
    "max_pool2d.default": max_pool2d, "max_pool2d_with_indices.default": max_pool2d,
    "avg_pool2d.default": avg_pool2d, "adaptive_avg_pool2d.default": adaptive_avg_pool2d,
    "conv1d.default": conv2d, "conv1d.padding": conv2d,
    "max_pool1d.default": _as_1d(max_pool2d, 5), "max_pool1d_with_indices.default": _as_1d(max_pool2d, 5),
    "avg_pool1d.default": _as_1d(avg_pool2d, 4), "adaptive_avg_pool1d.default": adaptive_avg_pool1d,
    "mean.dim": mean,
    "flatten.using_ints": reshape, "view.default": reshape, "reshape.default": reshape,
    "_unsafe_view.default": reshape, "squeeze.dims": reshape, "squeeze.dim": reshape,
    "pad.default": pad, "constant_pad_nd.default": constant_pad_nd,
    "add.Tensor": add, "add_.Tensor": add, "cat.default": cat,
    "dropout.default": identity, "dropout_.default": identity, "clone.default": identity,
    "contiguous.default": identity, "alias.default": identity, "detach.default": identity,
    "feature_dropout.default": identity,
}
# Nodes with no data effect, skipped entirely.
IGNORED = {"_assert_tensor_metadata.default", "_assert_scalar.default", "sym_constrain_range_for_size.default"}

SUPPORTED = ["Conv2d/Conv1d (any groups and dilation)", "MaxPool1d/AvgPool1d/AdaptiveAvgPool1d(1)", "Linear", "BatchNorm2d/1d (folded)", "ReLU",
             "ReLU6/Hardtanh/clamp", "MaxPool2d/AvgPool2d (ceil_mode too)", "AdaptiveAvgPool2d(1)/mean(2,3)",
             "flatten/view/reshape", "zero pad before a conv (folded)", "tensor + tensor", "torch.cat(dim=1)", "Dropout/Identity (removed)"]
