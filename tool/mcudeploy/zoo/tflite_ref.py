"""A float64 numpy interpreter of a small float ``.tflite`` graph: the exact float semantics of the
file, independent of the PyTorch ports and of the LiteRT runtime.

Usage::

    logits = run_tflite(read_tflite("kws_ref_model_float32.tflite"), x_nhwc, final_softmax=False)

Why besides LiteRT: a "float" .tflite may store int8 weights (dynamic-range quantization), and
LiteRT then runs hybrid kernels that quantize activations on the fly, so its outputs differ from
float arithmetic by about a percent. This interpreter dequantizes the weights and stays in float,
which is what a float PyTorch port should match to rounding. Only the ops of the MLPerf Tiny
DS-CNN are implemented (conv, depthwise conv, average pool, reshape, fully connected, softmax).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .tflite_reader import TfModel


def _same(x: np.ndarray, k: tuple[int, int], s: tuple[int, int]) -> np.ndarray:
    pads = []
    for n, kk, ss in zip(x.shape[1:3], k, s):
        total = max((-(-n // ss) - 1) * ss + kk - n, 0)
        pads.append((total // 2, total - total // 2))  # TF puts the odd pixel after
    return np.pad(x, [(0, 0)] + pads + [(0, 0)])


def _windows(x, k, o):
    s = (o["StrideH"], o["StrideW"])
    if o["Padding"] == 0:  # SAME
        x = _same(x, k, s)
    return sliding_window_view(x, k, axis=(1, 2))[:, ::s[0], ::s[1]]  # N, OH, OW, C, kh, kw


def _fused(y, code):
    if code == 0:
        return y
    if code == 1:
        return np.maximum(y, 0)
    if code == 3:
        return np.clip(y, 0, 6)
    raise NotImplementedError(f"fused activation {code}")


def run_tflite(model: TfModel, x: np.ndarray, final_softmax: bool = True) -> np.ndarray:
    """Run on a batch in the file's layout (NHWC). ``final_softmax=False`` stops before a final
    SOFTMAX so the result compares with logits."""
    vals = {model.inputs[0].index: np.asarray(x, dtype=np.float64)}
    for i, op in enumerate(model.ops):
        if op.kind == "SOFTMAX" and i == len(model.ops) - 1 and not final_softmax:
            return vals[op.inputs[0].index]
        a, o = vals[op.inputs[0].index], op.options
        w = op.inputs[1].float_data().astype(np.float64) if len(op.inputs) > 1 and op.inputs[1] is not None \
            and op.inputs[1].data is not None and op.kind != "RESHAPE" else None
        b = op.inputs[2].float_data() if len(op.inputs) > 2 and op.inputs[2] is not None else 0.0
        if op.kind == "CONV_2D":  # weights O H W I
            y = _fused(np.einsum("nhwcij,oijc->nhwo", _windows(a, w.shape[1:3], o), w) + b, o["FusedActivationFunction"])
        elif op.kind == "DEPTHWISE_CONV_2D":  # weights 1 H W C*M
            assert o["DepthMultiplier"] == 1
            y = _fused(np.einsum("nhwcij,ijc->nhwc", _windows(a, w.shape[1:3], o), w[0]) + b,
                       o["FusedActivationFunction"])
        elif op.kind == "AVERAGE_POOL_2D":
            assert o["Padding"] == 1  # VALID only: SAME average pools divide by the in-bounds count
            y = _fused(_windows(a, (o["FilterHeight"], o["FilterWidth"]), o).mean(axis=(-2, -1)),
                       o["FusedActivationFunction"])
        elif op.kind == "RESHAPE":
            y = a.reshape((len(a),) + tuple(op.outputs[0].shape[1:]))
        elif op.kind == "FULLY_CONNECTED":  # weights (out, in)
            y = _fused(a.reshape(len(a), -1) @ w.T + b, o["FusedActivationFunction"])
        elif op.kind == "SOFTMAX":
            e = np.exp(o["Beta"] * (a - a.max(axis=-1, keepdims=True)))
            y = e / e.sum(axis=-1, keepdims=True)
        else:
            raise NotImplementedError(f"tflite op {op.kind}")
        vals[op.outputs[0].index] = y
    return vals[model.outputs[0].index]
