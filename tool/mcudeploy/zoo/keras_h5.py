"""Read a Keras 2 ``.h5`` model (architecture + weights) with h5py alone, and convert its weight
layouts to PyTorch's.

Usage::

    layers = read_keras_h5("pretrainedResnet.h5")     # in the file's (topological) order
    conv = layers_by_name(layers)["conv2d"]
    nn_conv.weight.data = torch.from_numpy(conv_weight(conv.weights["kernel"]))

Keras is channels-last (NHWC), PyTorch channels-first (NCHW); only the weight layouts differ:
conv HWIO -> OIHW, depthwise HW C M -> (C*M) 1 H W, dense (in, out) -> (out, in), where a dense
layer after a Flatten of an H x W x C map also has its input columns reordered, because Keras
flattens in (h, w, c) order and torch in (c, h, w) order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class KerasLayer:
    name: str
    kind: str  # Keras class name: "Conv2D", "DepthwiseConv2D", "BatchNormalization", "Dense", ...
    config: dict
    inbound: list[str]  # names of the layers feeding this one
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # "kernel", "bias", "gamma", ...


def read_keras_h5(path: str | Path) -> list[KerasLayer]:
    import h5py

    with h5py.File(path, "r") as f:
        if "model_config" not in f.attrs:
            raise ValueError(f"{path}: no 'model_config' (a weights-only file?); a full Keras model is needed")
        cfg = json.loads(f.attrs["model_config"])
        mw = f.get("model_weights", f)
        layers = []
        for lc in cfg["config"]["layers"]:
            name = lc["config"]["name"]
            inbound = [i[0] for i in lc["inbound_nodes"][0]] if lc.get("inbound_nodes") else []
            weights = {}
            if name in mw:
                for wn in mw[name].attrs.get("weight_names", []):
                    wn = wn.decode() if isinstance(wn, bytes) else wn
                    short = wn.rsplit("/", 1)[-1].split(":")[0]
                    weights[short] = np.asarray(mw[name][wn], dtype=np.float32)
            layers.append(KerasLayer(name, lc["class_name"], lc["config"], inbound, weights))
    return layers


def layers_by_name(layers: list[KerasLayer]) -> dict[str, KerasLayer]:
    return {layer.name: layer for layer in layers}


def conv_weight(kernel: np.ndarray) -> np.ndarray:
    """Conv2D kernel (kh, kw, cin, cout) -> torch (cout, cin, kh, kw)."""
    return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))


def depthwise_weight(kernel: np.ndarray) -> np.ndarray:
    """DepthwiseConv2D kernel (kh, kw, cin, mult) -> torch (cin*mult, 1, kh, kw); Keras's output
    channel c*mult + m is torch's output channel c*mult + m of group c, so a plain reshape works."""
    kh, kw, c, m = kernel.shape
    return np.ascontiguousarray(kernel.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None])


def dense_weight(kernel: np.ndarray, flat_from_hwc: tuple[int, int, int] | None = None) -> np.ndarray:
    """Dense kernel (in, out) -> torch (out, in). With ``flat_from_hwc=(H, W, C)`` the input is a
    Keras Flatten of an H x W x C map and the columns are reordered for torch's (c, h, w) flatten."""
    w = kernel.T
    if flat_from_hwc is not None:
        h, wd, c = flat_from_hwc
        # torch column c*H*W + y*W + x must read Keras column (y*W + x)*C + c
        w = w.reshape(-1, h, wd, c).transpose(0, 3, 1, 2).reshape(w.shape[0], -1)
    return np.ascontiguousarray(w)


def same_padding(size: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one axis: out = ceil(size / s), the total padding is split
    with the odd pixel at the end (bottom / right), unlike PyTorch's symmetric padding."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2
