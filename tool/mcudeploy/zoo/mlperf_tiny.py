"""The four MLPerf Tiny reference models as PyTorch modules with the reference weights.

Usage::

    from mcudeploy.zoo import mlperf_tiny as mt
    m = mt.load("kws_dscnn")                       # nn.Module in eval mode, float weights
    x = mt.sample_inputs("kws_dscnn", 8, seed=0)   # float32 (8, 1, 49, 10)
    logits = m(torch.from_numpy(x))                # softmax left out: argmax is unchanged

Sources (``MCUDEPLOY_MLPERF_TINY`` overrides the folder): ResNet-8, MobileNetV1-0.25 and the
autoencoder from the float Keras ``.h5`` files (h5py only), DS-CNN from the float ``.tflite``
(the ``tflite`` flatbuffer package), because no float Keras file of it is published.

Inputs: NCHW float (the autoencoder: a flat 640-vector) in the units the reference was trained on:
ic 0..255 raw pixels (no normalisation), vww 0..1, kws MFCCs, ad log-mel dB. The evaluation
data sets are not available offline, so ``sample_inputs`` is synthetic (smooth random fields
inside the range of the reference int8 model's input quantization); these inputs check that a
port or a compiled engine computes the same function as the reference, NOT accuracy, and accuracy
on real data is not measured for these models.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import mlperf_nets as nets
from .keras_h5 import conv_weight, dense_weight, depthwise_weight, layers_by_name, read_keras_h5

MODEL_DIR = Path(os.environ.get("MCUDEPLOY_MLPERF_TINY", "/work/shared/models/mlperf_tiny"))
MODELS = ["ic_resnet8", "kws_dscnn", "vww_mobilenet", "ad_autoencoder"]
FLOAT_FILES = {"ic_resnet8": "pretrainedResnet.h5", "kws_dscnn": "kws_ref_model_float32.tflite",
               "vww_mobilenet": "vww_96.h5", "ad_autoencoder": "ad01.h5"}
INT8_FILES = {"ic_resnet8": "pretrainedResnet_quant.tflite", "kws_dscnn": "kws_ref_model.tflite",
              "vww_mobilenet": "vww_96_int8.tflite", "ad_autoencoder": "ad01_int8.tflite"}
_SHAPES = {"ic_resnet8": (3, 32, 32), "kws_dscnn": (1, 49, 10), "vww_mobilenet": (3, 96, 96),
           "ad_autoencoder": (640,)}
# real = scale * (q - zero_point) over q in -128..127 of the reference int8 models' input tensor
# (scale, zero_point): ic (1.0, -128), vww (1/255, -128), kws (0.5847029, 83), ad (0.3910152, 89).
_RANGES = {"ic_resnet8": (0.0, 255.0), "vww_mobilenet": (0.0, 1.0),
           "kws_dscnn": (0.5847029 * (-128 - 83), 0.5847029 * (127 - 83)),
           "ad_autoencoder": (0.3910152 * (-128 - 89), 0.3910152 * (127 - 89))}


def _check(name: str) -> None:
    if name not in MODELS:
        raise KeyError(f"unknown MLPerf Tiny model '{name}'; choose one of {', '.join(MODELS)}")


def input_shape(name: str) -> tuple[int, ...]:
    """Input shape without the batch dimension, NCHW (the autoencoder: (640,))."""
    _check(name)
    return _SHAPES[name]


def input_range(name: str) -> tuple[float, float]:
    """The float range the reference int8 model's input quantization covers."""
    _check(name)
    return _RANGES[name]


def _set(param: torch.Tensor, value: np.ndarray, what: str) -> None:
    if tuple(param.shape) != tuple(value.shape):
        raise ValueError(f"{what}: reference shape {value.shape}, port expects {tuple(param.shape)}")
    param.data.copy_(torch.from_numpy(np.asarray(value, dtype=np.float32)))


def _load_keras(module: nn.Module, path: Path) -> None:
    """Copy weights by layer name; every weighted Keras layer must land in exactly one submodule."""
    layers = layers_by_name(read_keras_h5(path))
    loaded = set()
    for name, sub in module.named_modules():
        if not isinstance(sub, (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d)):
            continue
        key = name.rsplit(".", 1)[-1]
        if key not in layers:
            raise ValueError(f"{path.name}: no Keras layer '{key}' for the port's {type(sub).__name__}")
        kl = layers[key]
        w, cfg, where = kl.weights, kl.config, f"{path.name}:{key}"
        if isinstance(sub, nn.Conv2d):
            if tuple(cfg["strides"]) != tuple(sub.stride):
                raise ValueError(f"{where}: strides {cfg['strides']}, port has {sub.stride}")
            if sub.groups == 1:
                _set(sub.weight, conv_weight(w["kernel"]), where)
            else:
                _set(sub.weight, depthwise_weight(w["depthwise_kernel"]), where)
            _set(sub.bias, w["bias"], where)
        elif isinstance(sub, nn.Linear):  # every Dense here follows a 1x1 map or a vector: no reorder
            _set(sub.weight, dense_weight(w["kernel"]), where)
            _set(sub.bias, w["bias"], where)
        else:
            if abs(cfg["epsilon"] - sub.eps) > 1e-12:
                raise ValueError(f"{where}: epsilon {cfg['epsilon']}, port has {sub.eps}")
            _set(sub.weight, w["gamma"], where)
            _set(sub.bias, w["beta"], where)
            _set(sub.running_mean, w["moving_mean"], where)
            _set(sub.running_var, w["moving_variance"], where)
        loaded.add(key)
    left = sorted(n for n, layer in layers.items() if layer.weights and n not in loaded)
    if left:
        raise ValueError(f"{path.name}: Keras layers with weights not used by the port: {left}")


def _load_tflite_dscnn(module: nn.Sequential, path: Path) -> None:
    """Fill the DS-CNN from the float .tflite, op by op, checking each op's kind and options."""
    from .tflite_reader import ACTIVATIONS, read_tflite

    ops = [op for op in read_tflite(path).ops if op.kind != "RESHAPE"]
    want = ["CONV_2D"] + ["DEPTHWISE_CONV_2D", "CONV_2D"] * 4 + ["AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"]
    if [op.kind for op in ops] != want:
        raise ValueError(f"{path.name}: ops {[op.kind for op in ops]} are not the DS-CNN this port expects")
    convs = [m for m in module if isinstance(m, nn.Conv2d)]
    for conv, op in zip(convs, ops[:9]):
        o, where = op.options, f"{path.name}:{op.outputs[0].name}"
        if (o["StrideH"], o["StrideW"]) != conv.stride or o["Padding"] != 0 or ACTIVATIONS.get(
                o["FusedActivationFunction"], "?") != "relu":
            raise ValueError(f"{where}: options {o} differ from the port (stride {conv.stride}, same, relu)")
        w = op.inputs[1].float_data()  # conv OHWI; depthwise 1 H W C (int8 here: dequantized)
        _set(conv.weight, w.transpose(0, 3, 1, 2) if op.kind == "CONV_2D" else w.transpose(3, 0, 1, 2), where)
        _set(conv.bias, op.inputs[2].float_data(), where)
    pool = ops[9].options
    if (pool["FilterHeight"], pool["FilterWidth"]) != tuple(module.pool.kernel_size):
        raise ValueError(f"{path.name}: average pool {pool}, port has {module.pool.kernel_size}")
    _set(module.fc.weight, ops[10].inputs[1].float_data(), f"{path.name}:fc")  # FULLY_CONNECTED is (out, in)
    _set(module.fc.bias, ops[10].inputs[2].float_data(), f"{path.name}:fc")


def load(name: str) -> nn.Module:
    """The port in eval mode with the reference float weights (logits out, no softmax)."""
    _check(name)
    path = MODEL_DIR / FLOAT_FILES[name]
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (set MCUDEPLOY_MLPERF_TINY to the reference models' folder)")
    if name == "kws_dscnn":
        m = nets.ds_cnn()
        _load_tflite_dscnn(m, path)
    else:
        m = {"ic_resnet8": nets.ResNet8, "vww_mobilenet": nets.mobilenet_v1_025,
             "ad_autoencoder": nets.fc_autoencoder}[name]()
        _load_keras(m, path)
    return m.eval()


def _smooth(rng: np.random.Generator, n: int, knots: tuple[int, ...], size: tuple[int, ...]) -> np.ndarray:
    """Gaussian noise on a coarse grid, bilinearly upsampled: a smooth random field in ~[-2, 2]."""
    coarse = torch.from_numpy(rng.standard_normal((n, 1) + knots).astype(np.float32))
    mode = "linear" if len(size) == 1 else "bilinear"
    return torch.nn.functional.interpolate(coarse, size=size, mode=mode, align_corners=True)[:, 0].numpy()


def sample_inputs(name: str, n: int, seed: int = 0) -> np.ndarray:
    """Deterministic synthetic float32 inputs (n, *input_shape(name)) inside ``input_range(name)``.

    Images are smooth random scenes (a luminance field plus colour fields and a little pixel
    noise) on the 8-bit pixel grid; kws maps are smooth in time with a wider first coefficient;
    ad vectors are 5 frames of one smooth spectral envelope plus frame noise. They are plausible
    in range and smoothness only: good for comparing implementations, meaningless for accuracy.
    """
    _check(name)
    rng = np.random.default_rng(seed)
    lo, hi = _RANGES[name]
    if name in ("ic_resnet8", "vww_mobilenet"):
        s = _SHAPES[name][1]
        lum = _smooth(rng, n, (4, 4), (s, s))[:, None]
        col = np.stack([_smooth(rng, n, (3, 3), (s, s)) for _ in range(3)], axis=1)
        img = 0.5 + 0.18 * lum + 0.07 * col + 0.02 * rng.standard_normal((n, 3, s, s))
        x = np.round(np.clip(img, 0, 1) * 255) / 255 * hi  # on the 8-bit grid, as camera pixels are
    elif name == "kws_dscnn":
        x = np.stack([_smooth(rng, n, (8,), (49,)) for _ in range(10)], axis=1)  # (n, 10 coeffs, 49 frames)
        spread = np.array([20.0] + [6.0 / (1 + 0.2 * i) for i in range(9)])[None, :, None]
        offset = np.array([-50.0] + [0.0] * 9)[None, :, None]
        x = (offset + spread * x).transpose(0, 2, 1)[:, None]  # (n, 1, 49 frames, 10 coeffs)
    else:
        env = -30 + 12 * _smooth(rng, n, (10,), (128,)) - np.linspace(0, 25, 128)
        x = (env[:, None, :] + 3 * rng.standard_normal((n, 5, 128))).reshape(n, 640)
    return np.clip(x, lo, hi).astype(np.float32)
