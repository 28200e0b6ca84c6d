"""Import an int8 ``.tflite`` into the device graph (``ir.Graph``), keeping its numbers.

Usage::

    g = import_tflite("kws_ref_model.tflite")          # rounding "double" (LiteRT's reference rule)
    yq = reference.run(g, xq)                          # equals LiteRT BUILTIN_REF byte for byte

Why no requantization of our own: the file already fixes every int8 weight, int32 bias, scale
and zero point; re-deriving them would change the numbers its users validated. Only the
fixed-point multipliers are derived, the way TFLite's kernels derive them at Prepare
(``s_in * s_w / s_out`` in double, split by ``frexp``, the mantissa rounded half away from zero),
so that with the ``double`` rule every op computes what LiteRT's reference kernels compute.
TFLite's NHWC row-major layout is the engine's HWC layout with the batch dropped, so reshapes and
flattens move no bytes. A final SOFTMAX is left out (as the PyTorch path leaves it out): the
graph's output is the int8 tensor it reads, and ``meta["final_softmax_dropped"]`` says so.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from . import quantize as Q
from .errors import ModelLoadError, UnsupportedOpError
from .ir import Graph, Op, Tensor

SUPPORTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD",
             "RESHAPE", "SOFTMAX (last op only)")
_KIND = {"CONV_2D": "conv2d", "DEPTHWISE_CONV_2D": "dwconv2d", "FULLY_CONNECTED": "fc",
         "AVERAGE_POOL_2D": "avgpool", "MAX_POOL_2D": "maxpool", "ADD": "add", "RESHAPE": "reshape"}


def tfl_round(v: float) -> int:
    """std::round: half away from zero (TfLiteRound)."""
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier as (mult, shift) with real = mult * 2^-(31 + shift): the mantissa
    rounded half away from zero (``quantize.quantize_multiplier`` rounds half to even)."""
    if real == 0:
        return 0, 0
    m, e = math.frexp(real)
    mult = tfl_round(m * (1 << 31))
    if mult == 1 << 31:
        mult //= 2
        e += 1
    if e < -31:
        return 0, 0
    if e > 30:
        raise UnsupportedOpError(f"requantization multiplier {real} is too large (>= 2^30)")
    return mult, -e


def act_range(code: int, scale: float, zp: int, where: str) -> list[int]:
    """TFLite's CalculateActivationRangeQuantized for int8: bounds zp + round(f / scale), the
    division in float32 as TFLite does it."""
    def q(f: float) -> int:
        return zp + tfl_round(float(np.float32(f) / np.float32(scale)))

    if code == 0:
        return [Q.INT8_MIN, Q.INT8_MAX]
    bounds = {1: (0.0, None), 2: (-1.0, 1.0), 3: (0.0, 6.0)}.get(code)
    if bounds is None:
        raise UnsupportedOpError(f"{where}: fused activation code {code} is not supported "
                                 "(NONE, RELU, RELU_N1_TO_1, RELU6 are)")
    lo = max(Q.INT8_MIN, q(bounds[0]))
    hi = Q.INT8_MAX if bounds[1] is None else min(Q.INT8_MAX, q(bounds[1]))
    return [lo, hi]


def _dev_shape(shape: tuple[int, ...], where: str) -> tuple[int, ...]:
    if len(shape) == 4 and shape[0] == 1:
        return tuple(shape[1:])
    if len(shape) == 2 and shape[0] == 1:
        return (shape[1],)
    raise UnsupportedOpError(f"{where}: tensor shape {list(shape)}; only batch-1 NHWC maps (1,H,W,C) and "
                             "vectors (1,N) are supported")


def _same_pad(in_hw, k, s) -> list[int]:
    """TFLite SAME padding [t, l, b, r]: the odd pixel goes after."""
    out = []
    for n, kk, ss in zip(in_hw, k, s):
        total = max((-(-n // ss) - 1) * ss + kk - n, 0)
        out.append((total // 2, total - total // 2))
    return [out[0][0], out[1][0], out[0][1], out[1][1]]


class _Importer:
    def __init__(self, path: Path, model) -> None:
        self.path, self.model = path, model
        self.tensors: dict[str, Tensor] = {}
        self.names: dict[int, str] = {}
        self.ops: list[Op] = []

    def tensor(self, t, where: str) -> str:
        """The graph tensor of TFLite tensor ``t`` (an int8 per-tensor activation)."""
        if t.index in self.names:
            return self.names[t.index]
        if t.dtype is not np.int8:
            raise UnsupportedOpError(f"{self.path.name}: tensor '{t.name}' ({where}) is "
                                     f"{getattr(t.dtype, '__name__', 'of an unknown type')}; only int8 activations "
                                     "are supported (convert with full-integer quantization, int8 input and output)")
        if t.scale is None or t.scale.size != 1:
            raise UnsupportedOpError(f"{self.path.name}: tensor '{t.name}' ({where}) has no per-tensor quantization")
        name = f"t{len(self.names)}"
        self.names[t.index] = name
        self.tensors[name] = Tensor(name, _dev_shape(t.shape, where), float(t.scale[0]), int(t.zero_point[0]))
        return name

    def weights(self, t, channels: int, where: str) -> np.ndarray:
        if t is None or t.data is None or t.data.dtype != np.int8:
            raise UnsupportedOpError(f"{where}: weights must be constant int8")
        if t.scale is None or t.scale.size not in (1, channels):
            raise UnsupportedOpError(f"{where}: weight quantization must be per tensor or per output channel")
        if np.any(t.zero_point != 0):
            raise UnsupportedOpError(f"{where}: weight zero points must be 0 (symmetric int8)")
        return np.broadcast_to(t.scale.astype(np.float64), (channels,))

    def multipliers(self, s_in: float, s_w: np.ndarray, s_out: float):
        # TFLite (conv, depthwise, fully connected Prepare): double(s_in) * double(s_w) / double(s_out)
        pairs = [quantize_multiplier(float(s_in) * float(sw) / float(s_out)) for sw in s_w]
        return np.array([p[0] for p in pairs], np.int32), np.array([p[1] for p in pairs], np.int32)

    def bias(self, t, channels: int, where: str) -> np.ndarray:
        if t is None:
            return np.zeros(channels, np.int32)
        if t.data is None or t.data.dtype != np.int32 or t.data.size != channels:
            raise UnsupportedOpError(f"{where}: bias must be constant int32 with {channels} values")
        return t.data.astype(np.int32).reshape(-1)

    def add_op(self, i: int, op) -> None:
        kind = _KIND[op.kind]
        where = f"{self.path.name}: op {i} {op.kind}"
        o = op.options
        ins = [self.tensor(op.inputs[0], where)]
        if op.kind == "ADD":
            ins.append(self.tensor(op.inputs[1], where))
        out = self.tensor(op.outputs[0], where)
        tin, tout = self.tensors[ins[0]], self.tensors[out]
        attrs: dict = {"tflite_op": op.kind}
        arrays: dict[str, np.ndarray] = {}
        if o.get("DilationHFactor", 1) != 1 or o.get("DilationWFactor", 1) != 1:
            raise UnsupportedOpError(f"{where}: dilation {o['DilationHFactor']}x{o['DilationWFactor']} is not supported")
        if kind in ("conv2d", "dwconv2d"):
            w = op.inputs[1].data if op.inputs[1] is not None else None
            chans = tout.shape[-1]
            s_w = self.weights(op.inputs[1], chans, where)
            k = w.shape[1:3]
            stride = [o["StrideH"], o["StrideW"]]
            pad = _same_pad(tin.shape[:2], k, stride) if o["Padding"] == 0 else [0, 0, 0, 0]
            if kind == "dwconv2d":
                if o.get("DepthMultiplier", 1) != 1 or chans != tin.shape[-1]:
                    raise UnsupportedOpError(f"{where}: depth multiplier {o.get('DepthMultiplier')} (only 1 is supported)")
                arrays["weight"] = np.ascontiguousarray(w[0])  # (kh, kw, C)
                macs = int(np.prod(tout.shape)) * k[0] * k[1]
            else:
                arrays["weight"] = np.ascontiguousarray(w)  # OHWI already
                macs = int(np.prod(tout.shape)) * k[0] * k[1] * w.shape[3]
            attrs.update(stride=stride, pad=pad, pool=None, macs=macs)
        elif kind == "fc":
            if o.get("KeepNumDims"):
                raise UnsupportedOpError(f"{where}: keep_num_dims is not supported")
            if len(tin.shape) != 1:  # TFLite flattens the input: in HWC order, which is the device order
                flat = f"{ins[0]}_flat"
                self.tensors[flat] = Tensor(flat, (int(np.prod(tin.shape)),), tin.scale, tin.zero_point)
                self.ops.append(Op(f"reshape_{i}", "reshape", [ins[0]], flat, {}, {}))
                ins, tin = [flat], self.tensors[flat]
            w = op.inputs[1].data if op.inputs[1] is not None else None
            chans = tout.shape[-1]
            s_w = self.weights(op.inputs[1], chans, where)
            arrays["weight"] = np.ascontiguousarray(w)
            attrs["macs"] = int(w.size)
        if kind in ("conv2d", "dwconv2d", "fc"):
            arrays["bias"] = self.bias(op.inputs[2] if len(op.inputs) > 2 else None, tout.shape[-1], where)
            arrays["mult"], arrays["shift"] = self.multipliers(tin.scale, s_w, tout.scale)
            attrs["act"] = act_range(o.get("FusedActivationFunction", 0), tout.scale, tout.zero_point, where)
        elif kind in ("avgpool", "maxpool"):
            if (tin.scale, tin.zero_point) != (tout.scale, tout.zero_point):
                raise UnsupportedOpError(f"{where}: input and output quantization differ (TFLite requires equal)")
            k, stride = [o["FilterHeight"], o["FilterWidth"]], [o["StrideH"], o["StrideW"]]
            pad4 = _same_pad(tin.shape[:2], k, stride) if o["Padding"] == 0 else [0, 0, 0, 0]
            if pad4[:2] != pad4[2:]:
                raise UnsupportedOpError(f"{where}: SAME padding {pad4} is uneven; only even pool padding is supported")
            attrs.update(k=k, stride=stride, pad=pad4[:2])
            if kind == "avgpool":
                attrs["count_include_pad"] = False  # TFLite divides by the in-bounds count
        elif kind == "add":
            t2 = self.tensors[ins[1]]
            if t2.shape != tin.shape:
                raise UnsupportedOpError(f"{where}: broadcasting add of {tin.shape} and {t2.shape} is not supported")
            # TFLite add Prepare (int8): left_shift 20, both inputs to twice the larger scale
            twice_max = 2 * max(tin.scale, t2.scale)
            m1, s1 = quantize_multiplier(tin.scale / twice_max)
            m2, s2 = quantize_multiplier(t2.scale / twice_max)
            mo, so = quantize_multiplier(twice_max / ((1 << 20) * tout.scale))
            attrs.update(left_shift=20, mult=[m1, m2], shift=[s1, s2], out_mult=mo, out_shift=so,
                         act=act_range(o.get("FusedActivationFunction", 0), tout.scale, tout.zero_point, where))
        elif kind == "reshape" and ((tin.scale, tin.zero_point) != (tout.scale, tout.zero_point)
                                    or tin.size != tout.size):
            raise UnsupportedOpError(f"{where}: a reshape that changes quantization or size")
        self.ops.append(Op(f"{kind}_{i}", kind, ins, out, attrs, arrays))
        fused = o.get("FusedActivationFunction", 0)
        if kind in ("avgpool", "maxpool") and fused:  # TFLite clamps pool outputs: a clamp op after
            act = act_range(fused, tout.scale, tout.zero_point, where)
            old = self.ops[-1]
            mid = f"{out}_pooled"
            self.tensors[mid] = Tensor(mid, tout.shape, tout.scale, tout.zero_point)
            old.output = mid
            self.ops.append(Op(f"clamp_{i}", "clamp", [mid], out, {"act": act}, {}))


ROUNDINGS = ("litert", "double", "single")


def import_tflite(path: str | Path, rounding: str = "litert") -> Graph:
    """The int8 graph of an int8 .tflite (one subgraph, batch 1). Refuses unsupported operators by
    name, and float or per-channel activations, with an UnsupportedOpError.

    ``rounding``: ``litert`` (the default) rounds as LiteRT's reference kernels do: twice
    (gemmlowp) in conv, depthwise and add, once in FULLY_CONNECTED (measured with ai-edge-litert
    2.3, BUILTIN_REF: 200/200 MLPerf Tiny AD inputs equal with single-rounded FC layers, 0/20 with
    double); ``double`` or ``single``: that rule in every op (``double`` is CMSIS-NN's default)."""
    from .zoo.tflite_reader import read_tflite

    path = Path(path)
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    try:
        model = read_tflite(path)
    except ImportError as exc:
        raise ModelLoadError(f"{path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 -- a damaged flatbuffer fails in assorted ways
        raise ModelLoadError(f"{path}: not a readable .tflite flatbuffer ({type(exc).__name__}: {exc}); "
                             "give a TFLite model file") from None
    ops = list(model.ops)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedOpError(f"{path.name}: {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                                 "one of each is supported")
    for i, op in enumerate(ops):
        last_softmax = op.kind == "SOFTMAX" and i == len(ops) - 1
        if op.kind not in _KIND and not last_softmax:
            raise UnsupportedOpError(f"{path.name}: operator {op.kind} (op {i}) is not supported; "
                                     f"supported: {', '.join(SUPPORTED)}")
    dropped = bool(ops) and ops[-1].kind == "SOFTMAX"
    if dropped:
        ops = ops[:-1]
    imp = _Importer(path, model)
    graph_in = imp.tensor(model.inputs[0], "model input")
    for i, op in enumerate(ops):
        imp.add_op(i, op)
    out_t = ops[-1].outputs[0] if ops else model.outputs[0]
    if out_t.index not in imp.names:
        raise UnsupportedOpError(f"{path.name}: the output is not computed by a supported op")
    g = Graph(imp.tensors, imp.ops, graph_in, imp.names[out_t.index])
    shape = model.inputs[0].shape
    if rounding == "litert":
        for op in g.ops:
            if op.kind == "fc":
                op.attrs["rounding"] = "single"
    g.meta.update(rounding="double" if rounding == "litert" else rounding, tflite_rounding=rounding,
                  source_format="tflite", final_softmax_dropped=dropped,
                  input_shape_torch=[shape[3], shape[1], shape[2]] if len(shape) == 4 else list(shape[1:]))
    return g
