"""Reference outputs of the MLPerf Tiny models, to check the PyTorch ports (and compiled engines).

Usage::

    x = mlperf_tiny.sample_inputs("ic_resnet8", 16)
    want = float_reference("ic_resnet8", x)      # numpy float64 logits, from the reference file
    got_tf = litert_reference("ic_resnet8", x)   # LiteRT on the int8 .tflite (dequantized softmax)

``float_reference`` interprets the float reference file itself in numpy (the Keras ``.h5`` through
``keras_ref``, the float ``.tflite`` through ``tflite_ref``), so it needs only h5py / tflite.
``litert_reference`` runs TensorFlow's own runtime (PyPI ``ai-edge-litert``): on the float kws
file it returns logits (the tensor before the softmax), on the int8 files the dequantized output.
All take and return the ports' layout: NCHW inputs, (N, classes) or (N, 640) outputs.
"""

from __future__ import annotations

import warnings

import numpy as np

from .keras_h5 import read_keras_h5
from .keras_ref import run_keras
from .mlperf_tiny import FLOAT_FILES, INT8_FILES, MODEL_DIR, _check
from .tflite_reader import read_tflite
from .tflite_ref import run_tflite


def _to_file_layout(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x  # NCHW -> NHWC; flat vectors unchanged


def float_reference(name: str, x: np.ndarray) -> np.ndarray:
    """Logits (the autoencoder: reconstruction) of the float reference file, float64."""
    _check(name)
    path = MODEL_DIR / FLOAT_FILES[name]
    if path.suffix == ".tflite":
        return run_tflite(read_tflite(path), _to_file_layout(x), final_softmax=False)
    return run_keras(read_keras_h5(path), _to_file_layout(x), final_activation=False)


def litert_reference(name: str, x: np.ndarray, int8: bool = True) -> np.ndarray:
    """Run a reference .tflite with LiteRT, one sample at a time (the files have batch 1).

    ``int8=True``: the int8 file; the input is quantized with its scale/zero point (round half to
    even, saturating) and the output dequantized (class probabilities, or the reconstruction).
    ``int8=False``: the float file (kws only); returns the logits before the final softmax.
    Raises ImportError when ai-edge-litert is not installed."""
    _check(name)
    from ai_edge_litert.interpreter import Interpreter

    if not int8 and not FLOAT_FILES[name].endswith(".tflite"):
        raise ValueError(f"{name}: the float reference is a Keras file; LiteRT runs only the int8 one")
    path = MODEL_DIR / (INT8_FILES[name] if int8 else FLOAT_FILES[name])
    out_index = None
    if not int8:
        last = read_tflite(path).ops[-1]
        out_index = last.inputs[0].index if last.kind == "SOFTMAX" else last.outputs[0].index
    with warnings.catch_warnings():  # preserving intermediates is "for debugging": that is the use here
        warnings.simplefilter("ignore", UserWarning)
        it = Interpreter(model_path=str(path), num_threads=1, experimental_preserve_all_tensors=not int8)
    it.allocate_tensors()
    din, dout = it.get_input_details()[0], it.get_output_details()[0]
    xs = _to_file_layout(np.asarray(x, dtype=np.float32))
    outs = []
    for xi in xs:
        if int8:
            s, z = din["quantization"]
            xi = np.clip(np.round(xi / s) + z, -128, 127).astype(np.int8)
        it.set_tensor(din["index"], xi[None])
        it.invoke()
        y = it.get_tensor(out_index if out_index is not None else dout["index"])[0]
        if int8:
            s, z = dout["quantization"]
            y = s * (y.astype(np.float64) - z)
        outs.append(np.array(y, dtype=np.float64))
    return np.stack(outs)


def compare(name: str, x: np.ndarray, got: np.ndarray, want: np.ndarray, logits: bool = True) -> dict:
    """Agreement of two outputs on inputs ``x``. Classifiers: top-1 agreement (and max |diff| when
    both are logits); the autoencoder: max |diff| and its anomaly score, the per-sample mean squared
    reconstruction error, on both sides."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    r = {"samples": len(x)}
    if name == "ad_autoencoder":
        eg = ((got - x.reshape(len(x), -1)) ** 2).mean(axis=1)
        ew = ((want - x.reshape(len(x), -1)) ** 2).mean(axis=1)
        r.update(max_abs_diff=float(np.abs(got - want).max()), score_got=eg.tolist(), score_want=ew.tolist(),
                 score_max_rel_diff=float((np.abs(eg - ew) / ew).max()))
        return r
    r["top1_agree"] = int(np.sum(got.argmax(1) == want.argmax(1)))
    if logits:
        r["max_abs_diff"] = float(np.abs(got - want).max())
        r["max_abs_logit"] = float(np.abs(want).max())
    return r
