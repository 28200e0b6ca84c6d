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


def _conv(x, w, b, stride, padding, dilation, groups):
    if _pair(dilation, 1) != [1, 1]:
        return f"dilation {dilation} (only dilation 1 is supported)"
    cout, cin_g, kh, kw = w.shape
    stride = _pair(stride, 1)
    if isinstance(padding, str):
        if padding == "valid":
            padding = [0, 0]
        elif padding == "same":
            if stride != [1, 1]:
                return "padding='same' with stride > 1"
            pt, pl = (kh - 1) // 2, (kw - 1) // 2
            return FNode("", "conv", [x], {"stride": stride, "pad": [pt, pl, kh - 1 - pt, kw - 1 - pl],
                                          "groups": groups}, {"weight": w, **({"bias": b} if b is not None else {})})
    ph, pw = _pair(padding, 0)
    cin = cin_g * groups
    if groups != 1 and not (groups == cin and cout == cin):
        return (f"grouped convolution with groups={groups}, {cin} in / {cout} out channels "
                "(groups=1 and depthwise groups=in=out channels are supported)")
    params = {"weight": w}
    if b is not None:
        params["bias"] = b
    return FNode("", "conv", [x], {"stride": stride, "pad": [ph, pw, ph, pw], "groups": groups}, params)


def conv2d(a, k):
    x, w = a[0], a[1]
    b = a[2] if len(a) > 2 else k.get("bias")
    return _conv(x, w, b, a[3] if len(a) > 3 else k.get("stride", 1), a[4] if len(a) > 4 else k.get("padding", 0),
                 a[5] if len(a) > 5 else k.get("dilation", 1), a[6] if len(a) > 6 else k.get("groups", 1))


def convolution(a, k):
    x, w, b, stride, padding, dilation, transposed, _outpad, groups = a[:9]
    if transposed:
        return "transposed convolution"
    if w.dim() != 4:
        return f"{w.dim() - 2}-D convolution (only 2-D)"
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
    if ceil:
        return "ceil_mode=True"
    return FNode("", "maxpool", [x], {"k": ks, "stride": stride, "pad": pad})


def avg_pool2d(a, k):
    x, ks = a[0], _pair(a[1])
    stride = _pair(a[2] if len(a) > 2 else k.get("stride"), ks)
    pad = _pair(a[3] if len(a) > 3 else k.get("padding", 0), 0)
    ceil = a[4] if len(a) > 4 else k.get("ceil_mode", False)
    include = a[5] if len(a) > 5 else k.get("count_include_pad", True)
    div = a[6] if len(a) > 6 else k.get("divisor_override")
    if ceil:
        return "ceil_mode=True"
    if div is not None:
        return "divisor_override"
    return FNode("", "avgpool", [x], {"k": ks, "stride": stride, "pad": pad, "count_include_pad": bool(include)})


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
    if mode != "constant" or (value or 0.0) != 0.0:
        return f"padding mode '{mode}' with value {value} (only zero padding is supported)"
    p += [0] * (8 - len(p))
    if any(p[4:]):
        return "padding of the channel or batch dims"
    left, right, top, bottom = p[:4]
    return FNode("", "pad", [a[0]], {"pad": [top, left, bottom, right]})


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

SUPPORTED = ["Conv2d (groups=1 or depthwise, dilation 1)", "Linear", "BatchNorm2d/1d (folded)", "ReLU",
             "ReLU6/Hardtanh/clamp", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d(1)/mean(2,3)",
             "flatten/view/reshape", "zero pad before a conv (folded)", "tensor + tensor", "torch.cat(dim=1)", "Dropout/Identity (removed)"]
