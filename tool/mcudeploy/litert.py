"""LiteRT (TensorFlow Lite's runtime) with its reference kernels: the independent oracle of an
imported .tflite.

Usage::

    yq = run_reference_kernels("kws_ref_model.tflite", xq)   # (N, output bytes) int8, device layout

Why BUILTIN_REF: LiteRT's default kernels (optimized, XNNPACK) may round differently from its
reference kernels; the reference kernels are the published integer semantics that mcudeploy's
``double`` rule reproduces. The tensor compared is the graph's output: for a file whose last op
is a SOFTMAX that ``tflite_import`` leaves out, the int8 tensor that SOFTMAX reads.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .errors import McdError


def _interpreter(path: Path):
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        raise McdError("LiteRT is not installed; pip install ai-edge-litert (or mcudeploy[tflite])") from None
    with warnings.catch_warnings():  # preserving intermediates is "for debugging": that is the use here
        warnings.simplefilter("ignore", UserWarning)
        it = Interpreter(model_path=str(path), num_threads=1, experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    return it


def output_index(path: Path) -> int:
    """The tensor the imported graph ends at: the input of a final SOFTMAX, else the output."""
    from .zoo.tflite_reader import read_tflite

    m = read_tflite(path)
    last = m.ops[-1]
    return last.inputs[0].index if last.kind == "SOFTMAX" else m.outputs[0].index


def run_reference_kernels(path: str | Path, xq: np.ndarray) -> np.ndarray:
    """Run int8 device-layout inputs (N, input bytes) through the file, one at a time (batch 1)."""
    path = Path(path)
    it = _interpreter(path)
    din = it.get_input_details()[0]
    idx = output_index(path)
    xq = np.asarray(xq, dtype=np.int8)
    outs = []
    for xi in xq:
        it.set_tensor(din["index"], xi.reshape(din["shape"]))
        it.invoke()
        outs.append(np.array(it.get_tensor(idx), dtype=np.int8).reshape(-1))
    return np.stack(outs) if outs else np.zeros((0, 0), np.int8)
