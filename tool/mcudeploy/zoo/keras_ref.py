"""A float64 numpy interpreter of a Keras ``.h5`` model, the float reference for the zoo's ports
when TensorFlow is not installed.

Usage::

    logits = run_keras(read_keras_h5("vww_96.h5"), x_nhwc, final_activation=False)

It is deliberately independent of the PyTorch ports: it walks the layer graph stored in the file,
keeps Keras's NHWC layout and weight layouts (no transposes), and pads 'same' convolutions as
TensorFlow does. Only the layer kinds of the MLPerf Tiny models are implemented; any other raises.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .keras_h5 import KerasLayer


def _pad_same(x: np.ndarray, k: tuple[int, int], s: tuple[int, int]) -> np.ndarray:
    pads = [(0, 0)]
    for axis in (1, 2):
        n, kk, ss = x.shape[axis], k[axis - 1], s[axis - 1]
        need = max((int(np.ceil(n / ss)) - 1) * ss + kk - n, 0)  # TF: odd padding goes after
        pads.append((need // 2, need - need // 2))
    return np.pad(x, pads + [(0, 0)])


def _windows(x, cfg):
    k, s = tuple(cfg.get("kernel_size") or cfg["pool_size"]), tuple(cfg["strides"])
    if cfg["padding"] == "same":
        x = _pad_same(x, k, s)
    return sliding_window_view(x, k, axis=(1, 2))[:, ::s[0], ::s[1]]  # N, OH, OW, C, kh, kw


def _act(x, name):
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise NotImplementedError(f"activation {name}")


def _layer(layer: KerasLayer, xs: list[np.ndarray], final: bool, final_activation: bool) -> np.ndarray:
    c, w, x = layer.config, layer.weights, xs[0]
    if layer.kind == "Conv2D":
        assert tuple(c.get("dilation_rate", (1, 1))) == (1, 1) and c.get("groups", 1) == 1
        y = np.einsum("nhwcij,ijco->nhwo", _windows(x, c), w["kernel"].astype(np.float64))
    elif layer.kind == "DepthwiseConv2D":
        win = _windows(x, c)
        y = np.einsum("nhwcij,ijcm->nhwcm", win, w["depthwise_kernel"].astype(np.float64))
        y = y.reshape(y.shape[:3] + (-1,))
    elif layer.kind == "Dense":
        y = x @ w["kernel"].astype(np.float64)
    elif layer.kind == "BatchNormalization":
        gain = w.get("gamma", 1.0) / np.sqrt(w["moving_variance"].astype(np.float64) + c["epsilon"])
        return (x - w["moving_mean"]) * gain + w.get("beta", 0.0)
    elif layer.kind == "Activation":
        return _act(x, c["activation"])
    elif layer.kind == "ReLU":
        return np.clip(x, 0, c.get("max_value") or np.inf)
    elif layer.kind == "Add":
        return sum(xs)
    elif layer.kind == "AveragePooling2D":
        assert c["padding"] == "valid"
        return _windows(x, c).mean(axis=(-2, -1))
    elif layer.kind == "Flatten":
        return x.reshape(len(x), -1)  # NHWC order, as Keras flattens
    elif layer.kind in ("Dropout", "InputLayer"):
        return x
    else:
        raise NotImplementedError(f"Keras layer {layer.kind} ({layer.name})")
    if c.get("use_bias", True):
        y = y + w["bias"]
    act = c.get("activation", "linear")
    return y if (final and not final_activation and act == "softmax") else _act(y, act)


def run_keras(layers: list[KerasLayer], x: np.ndarray, final_activation: bool = True) -> np.ndarray:
    """Run the model on a batch in the model's own layout (NHWC images). With
    ``final_activation=False`` a final softmax is left out, so the result compares with logits."""
    values: dict[str, np.ndarray] = {}
    for i, layer in enumerate(layers):
        if layer.kind == "InputLayer":
            values[layer.name] = np.asarray(x, dtype=np.float64)
            continue
        xs = [values[n] for n in layer.inbound]
        values[layer.name] = _layer(layer, xs, i == len(layers) - 1, final_activation)
    return values[layers[-1].name]
