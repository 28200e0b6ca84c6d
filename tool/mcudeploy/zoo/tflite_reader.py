"""Read a .tflite flatbuffer into plain Python: operators in execution order, tensors with their
constant data as numpy arrays, and each operator's builtin options as a dict.

Usage::

    m = read_tflite("kws_ref_model_float32.tflite")
    for op in m.ops:                      # op.kind "CONV_2D", op.options {"StrideH": 2, ...}
        w = op.inputs[1].data             # numpy array (None for activations), TFLite layout

Why a reader rather than an interpreter: the zoo only needs the weights and the few options that fix
the architecture (strides, padding, fused activation); the PyPI ``tflite`` package (flatbuffer
accessors generated from TFLite's schema, pure Python) does the parsing, this file only flattens it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8,
           10: np.float64}
ACTIVATIONS = {0: None, 1: "relu", 3: "relu6"}  # fused_activation_function codes this zoo accepts


@dataclass
class TfTensor:
    index: int
    name: str
    shape: tuple[int, ...]
    data: np.ndarray | None  # constant contents (weights, biases), None for activations
    scale: np.ndarray | None = None  # quantization parameters, if any
    zero_point: np.ndarray | None = None
    quantized_dim: int = 0  # the axis a per-channel scale runs along
    dtype: type | None = None  # element type (numpy), None for a type this reader does not know

    def float_data(self) -> np.ndarray:
        """Constant contents as float32, dequantized if stored as integers. A 'float' .tflite can
        still hold int8 weights (dynamic-range quantization: TFLite dequantizes them, or runs a
        hybrid kernel), so the weights of such a model are scale * (q - zero_point)."""
        if self.data is None:
            raise ValueError(f"tensor '{self.name}' has no constant data")
        if self.data.dtype.kind == "f":
            return self.data.astype(np.float32)
        if self.scale is None:
            raise ValueError(f"integer tensor '{self.name}' has no quantization scale")
        shape = [1] * self.data.ndim
        shape[self.quantized_dim] = -1
        s = self.scale.reshape(shape) if self.scale.size > 1 else self.scale.reshape(())
        z = self.zero_point.reshape(shape) if self.zero_point.size > 1 else self.zero_point.reshape(())
        return (s * (self.data.astype(np.float64) - z)).astype(np.float32)


@dataclass
class TfOp:
    kind: str  # builtin operator name, e.g. "DEPTHWISE_CONV_2D"
    inputs: list[TfTensor | None]
    outputs: list[TfTensor]
    options: dict = field(default_factory=dict)


@dataclass
class TfModel:
    ops: list[TfOp]
    tensors: list[TfTensor]
    inputs: list[TfTensor]
    outputs: list[TfTensor]


def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def _options(tfl, op) -> dict:
    """The operator's builtin options table as {field: value} (scalar fields only)."""
    kind = op.BuiltinOptionsType()
    if kind == 0:
        return {}
    cls = getattr(tfl, _enum_names(tfl.BuiltinOptions)[kind])
    table = op.BuiltinOptions()
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    out = {}
    for attr in dir(cls):
        if attr.startswith(("_", "GetRootAs")) or attr == "Init" or "Identifier" in attr:
            continue
        try:
            out[attr] = getattr(opts, attr)()
        except TypeError:  # vector accessors take an index; none of the options used here are vectors
            continue
    return out


def read_tflite(path: str | Path) -> TfModel:
    try:
        import tflite as tfl
    except ImportError as exc:
        raise ImportError("reading .tflite files needs the 'tflite' package (pip install tflite)") from exc
    buf = Path(path).read_bytes()
    model = tfl.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() != 1:
        raise ValueError(f"{path}: {model.SubgraphsLength()} subgraphs (one expected)")
    g = model.Subgraphs(0)
    tensors = []
    for i in range(g.TensorsLength()):
        t = g.Tensors(i)
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        raw = model.Buffers(t.Buffer()).DataAsNumpy() if t.Buffer() else 0
        data = None
        if not isinstance(raw, int) and raw.size:  # DataAsNumpy returns 0 for an empty buffer
            if t.Type() not in _DTYPES:
                raise ValueError(f"{path}: constant tensor '{t.Name().decode()}' has type code {t.Type()}, "
                                 f"which this reader does not know")
            data = raw.view(_DTYPES[t.Type()]).reshape(shape).copy()
        q = t.Quantization()
        scale = zp = None
        qdim = 0
        if q is not None and q.ScaleLength():
            scale, zp, qdim = q.ScaleAsNumpy().copy(), q.ZeroPointAsNumpy().copy(), q.QuantizedDimension()
        tensors.append(TfTensor(i, t.Name().decode(), shape, data, scale, zp, qdim, _DTYPES.get(t.Type())))
    op_names = _enum_names(tfl.BuiltinOperator)
    ops = []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = op_names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        ins = [tensors[j] if j >= 0 else None for j in op.InputsAsNumpy()]
        outs = [tensors[j] for j in op.OutputsAsNumpy()]
        ops.append(TfOp(kind, ins, outs, _options(tfl, op)))
    return TfModel(ops, tensors, [tensors[j] for j in g.InputsAsNumpy()], [tensors[j] for j in g.OutputsAsNumpy()])
