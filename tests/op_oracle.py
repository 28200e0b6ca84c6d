"""The independent oracle of every op record and the older kernels: the same int8 op (same
weights, scales, zero points) as a one-op TFLite graph run by LiteRT's reference kernels, and
the float op in torch. Used by tests/test_op_oracle.py; ``python tests/op_oracle.py`` prints the
table (``--json FILE`` writes it).

Per case: a one-op torch module (weights snapped to the per-channel int8 grid, so weight
quantization adds no error), lowered by mcudeploy with calibration on random data; tensor
scales rounded to float32 (what a .tflite stores) and the op's multipliers recomputed from them,
as TFLite does at Prepare. Then on 64 random int8 inputs over the full range:

* bytes: mcudeploy's reference vs LiteRT BUILTIN_REF (equal bytes, max |difference|);
* float: mcudeploy's dequantized output vs torch's float op on the dequantized input, in output
  quantization steps (1 step allowed: the output rounding is half a step).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from mcudeploy import ops as OPS
from mcudeploy import quantize as Q
from mcudeploy.frontend import capture, export_module, simplify
from mcudeploy.lower import lower
from mcudeploy.ops.lut import table
from tflite_graph import Graph as TG
from tflite_graph import run_ref

f32 = lambda v: float(np.float32(v))


class Fn(nn.Module):
    def __init__(self, fn, *mods):
        super().__init__()
        self.fn, self.m = fn, nn.ModuleList(mods)

    def forward(self, *xs):
        return self.fn(self.m, *xs)


def snap(m: nn.Module) -> nn.Module:
    """Weights onto the symmetric per-output-channel int8 grid (axis 1 for transposed convs)."""
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Linear, nn.ConvTranspose2d)):
                w = mod.weight.transpose(0, 1) if isinstance(mod, nn.ConvTranspose2d) else mod.weight
                amax = w.abs().reshape(w.shape[0], -1).amax(1).clamp_min(1e-8)
                s = (amax / 127).reshape((-1,) + (1,) * (w.dim() - 1))
                w.copy_(torch.round(w / s) * s)
    return m


# Same rounding rule as LiteRT's reference kernel (float table, copies, compares, TFLite's ADD and
# PRELU schemes whose multipliers fall on no ties here, its integer softmax for a vector): the
# test requires equal bytes; the others (double rounding in LiteRT's conv/fc/mul/hardswish/leaky
# relu, its own integer MEAN and bilinear rules) at most one step apart.
SAME_RULE = {"maximum", "sigmoid", "tanh", "gelu", "prelu", "add", "add_bc", "softmax_vec", "avgpool", "maxpool",
             "upsample_nearest", "pad_const", "permute", "slice", "concat_copy"}


# name, module, input shape (batch removed), LiteRT op (None: float check only)
def cases():
    c = nn.Conv2d(8, 6, 3, padding=1)
    return [
        ("sigmoid", Fn(lambda m, x: torch.sigmoid(x)), (8, 4, 4), "LOGISTIC"),
        ("tanh", Fn(lambda m, x: torch.tanh(x)), (8, 4, 4), "TANH"),
        ("hardswish", Fn(lambda m, x: F.hardswish(x)), (8, 4, 4), "HARD_SWISH"),
        ("hardsigmoid", Fn(lambda m, x: F.hardsigmoid(x)), (8, 4, 4), None),
        ("silu", Fn(lambda m, x: F.silu(x)), (8, 4, 4), None),
        ("gelu", Fn(lambda m, x: F.gelu(x)), (8, 4, 4), "GELU"),
        ("leaky_relu", Fn(lambda m, x: F.leaky_relu(x, 0.1)), (8, 4, 4), "LEAKY_RELU"),
        ("elu", Fn(lambda m, x: F.elu(x)), (8, 4, 4), None),  # LiteRT has no int8 ELU reference kernel
        ("mul_const", Fn(lambda m, x: x * 0.37), (8, 4, 4), None),
        ("add_const", Fn(lambda m, x: x + 0.5), (8, 4, 4), None),
        ("clamp", Fn(lambda m, x: torch.clamp(x, -0.5, 1.0)), (8, 4, 4), None),
        ("prelu", Fn(lambda m, x: m[0](x), nn.PReLU(8)), (8, 4, 4), "PRELU"),
        ("mul", Fn(lambda m, x: x * (x + 1.0)), (8, 4, 4), "MUL"),
        ("mul_se", Fn(lambda m, x: x * torch.sigmoid(x.mean((2, 3), keepdim=True))), (8, 4, 4), "MUL"),
        ("add", Fn(lambda m, x: x + 2 * x), (8, 4, 4), "ADD"),
        ("add_bc", Fn(lambda m, x: x + 3 * x.mean((2, 3), keepdim=True)), (8, 4, 4), "ADD"),
        ("maximum", Fn(lambda m, x: torch.maximum(x, torch.cat([x[:, 4:], x[:, :4]], 1))), (8, 4, 4), "MAXIMUM"),
        ("minimum_rescale", Fn(lambda m, x: torch.minimum(x, x * 0.5 + 0.2)), (8, 4, 4), None),
        ("softmax_vec", Fn(lambda m, x: torch.softmax(x.flatten(1) * 3, -1)), (10,), "SOFTMAX"),
        ("softmax_map", Fn(lambda m, x: torch.softmax(x, 1)), (8, 4, 4), "SOFTMAX"),
        ("mean_hw", Fn(lambda m, x: x.mean((2, 3))), (8, 4, 4), "MEAN"),
        ("mean_c", Fn(lambda m, x: x.mean(1, keepdim=True)), (8, 4, 4), "MEAN"),
        ("avgpool", Fn(lambda m, x: F.avg_pool2d(x, 2)), (8, 6, 6), "AVERAGE_POOL_2D"),
        ("maxpool", Fn(lambda m, x: F.max_pool2d(x, 2)), (8, 6, 6), "MAX_POOL_2D"),
        ("maxpool_ceil", Fn(lambda m, x: F.max_pool2d(x, 2, ceil_mode=True)), (8, 5, 5), None),
        ("conv2d", Fn(lambda m, x: m[0](x), c), (8, 6, 6), "CONV_2D"),
        ("conv2d_dilated", Fn(lambda m, x: m[0](x), nn.Conv2d(8, 6, 3, dilation=2, padding=2)), (8, 7, 7), "CONV_2D"),
        ("conv2d_grouped", Fn(lambda m, x: m[0](x), nn.Conv2d(8, 6, 3, groups=2, padding=1)), (8, 6, 6), "CONV_2D"),
        ("dwconv_dilated", Fn(lambda m, x: m[0](x), nn.Conv2d(8, 8, 3, groups=8, dilation=2, padding=2)), (8, 7, 7),
         "DEPTHWISE_CONV_2D"),
        ("conv1d_dilated", Fn(lambda m, x: m[0](x), nn.Conv1d(8, 6, 3, dilation=2, padding=2)), (8, 12), "CONV_2D"),
        ("convt_k2s2", Fn(lambda m, x: m[0](x), nn.ConvTranspose2d(8, 4, 2, stride=2)), (8, 4, 4), "TRANSPOSE_CONV"),
        ("convt_k4s2p1", Fn(lambda m, x: m[0](x), nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)), (8, 4, 4),
         "TRANSPOSE_CONV"),
        ("upsample_nearest", Fn(lambda m, x: F.interpolate(x, scale_factor=2)), (8, 4, 4), "RESIZE_NEAREST_NEIGHBOR"),
        ("upsample_bilinear", Fn(lambda m, x: F.interpolate(x, scale_factor=2, mode="bilinear")), (8, 4, 4),
         "RESIZE_BILINEAR"),
        ("pad_const", Fn(lambda m, x: F.pad(x, (1, 2, 0, 1), value=0.25)), (8, 4, 4), "PADV2"),
        ("permute", Fn(lambda m, x: x.permute(0, 1, 3, 2)), (8, 4, 5), "TRANSPOSE"),
        ("slice", Fn(lambda m, x: x[:, 2:6]), (8, 4, 4), "SLICE"),
        ("concat_copy", Fn(lambda m, x: torch.cat([x, x[:, :4]], 1)), (8, 4, 4), "CONCATENATION"),
        ("concat_rescale", Fn(lambda m, x: torch.cat([x, 2 * x], 1)), (8, 4, 4), None),  # TFLite: equal scales only
    ]


# --- tensors and ops of the one-op graph ------------------------------------------------------
def _nhwc(shape) -> list[int]:
    return [1, *shape] if len(shape) == 3 else [1, int(np.prod(shape))]


def _qt(b: TG, t) -> int:
    return b.tensor(_nhwc(t.shape), "int8", f32(t.scale), t.zero_point)


def _requant_f32(g, op):
    """The op's multipliers from float32 scales (what LiteRT computes from the flatbuffer)."""
    ts = [g.tensors[i] for i in op.inputs]
    to = g.tensors[op.output]
    a = op.attrs
    if op.kind in ("add", "add_bc"):
        tm = 2 * max(ts[0].scale, ts[1].scale)
        m1, s1 = Q.quantize_multiplier(ts[0].scale / tm)
        m2, s2 = Q.quantize_multiplier(ts[1].scale / tm)
        a.update(mult=[m1, m2], shift=[s1, s2])
        a["out_mult"], a["out_shift"] = Q.quantize_multiplier(tm / ((1 << a["left_shift"]) * to.scale))
    elif op.kind == "minmax":
        (m1, s1), (m2, s2) = (Q.quantize_multiplier(t.scale / to.scale) for t in ts)
        a.update(mult=[m1, m2], shift=[s1, s2])
    elif op.kind == "mul":
        a["mult"], a["shift"] = Q.quantize_multiplier(ts[0].scale * ts[1].scale / to.scale)
    elif op.kind == "lut":
        op.arrays["table"] = table(a["fn"], a["arg"], ts[0].scale, ts[0].zero_point, to.scale, to.zero_point)
    elif op.kind == "concat":
        a["mult"], a["shift"] = zip(*[Q.quantize_multiplier(t.scale / to.scale) for t in ts])
    elif op.kind == "prelu":
        a["pos_mult"], a["pos_shift"] = Q.quantize_multiplier(ts[0].scale / to.scale)
        a["neg_mult"], a["neg_shift"] = Q.quantize_multiplier(ts[0].scale * a["_s_alpha"] / to.scale)


def tflite_graph(g, op, name: str) -> bytes:
    b = TG()
    ins = [_qt(b, g.tensors[i]) for i in op.inputs]
    to = g.tensors[op.output]
    out = _qt(b, to)
    a = op.attrs
    k = op.kind
    if name == "LOGISTIC" or name == "TANH" or name == "HARD_SWISH" or name == "ELU":
        b.op(name, ins[:1], [out])
    elif name == "GELU":
        b.op(name, ins[:1], [out], "GeluOptions", Approximate=False)
    elif name == "LEAKY_RELU":
        b.op(name, ins[:1], [out], "LeakyReluOptions", Alpha=float(a["arg"]))
    elif name == "PRELU":
        al = b.tensor([1, 1, 1, len(op.arrays["alpha"])], "int8", f32(a["_s_alpha"]), 0, op.arrays["alpha"])
        b.op(name, [ins[0], al], [out])
    elif name in ("MUL", "ADD"):
        b.op(name, ins, [out], "MulOptions" if name == "MUL" else "AddOptions")
    elif name in ("MAXIMUM", "MINIMUM"):
        b.op(name, ins, [out])
    elif name == "SOFTMAX":
        b.op(name, ins, [out], "SoftmaxOptions", Beta=1.0)
    elif name == "MEAN":
        axes = [1, 2] if k == "avgpool" else [3]
        ax = b.tensor([len(axes)], "int32", data=axes)
        b.op(name, [ins[0], ax], [out], "ReducerOptions", KeepDims=True)
    elif name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        b.op(name, ins, [out], "Pool2DOptions", Padding=1, StrideH=a["stride"][0], StrideW=a["stride"][1],
             FilterHeight=a["k"][0], FilterWidth=a["k"][1])
    elif name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        w = op.arrays["weight"]  # (O, kh, kw, I/g) ; dwconv2d/gconv2d depthwise: (O, kh, kw, 1)
        if name == "DEPTHWISE_CONV_2D":
            w = w.transpose(3, 1, 2, 0)  # (1, kh, kw, C)
        tw = b.tensor(w.shape, "int8", op.attrs["_sw"], np.zeros(len(op.attrs["_sw"]), np.int64), w,
                      qdim=3 if name == "DEPTHWISE_CONV_2D" else 0)
        tb = b.tensor([len(op.arrays["bias"])], "int32", [f32(g.tensors[op.inputs[0]].scale) * s for s in op.attrs["_sw"]],
                      np.zeros(len(op.attrs["_sw"]), np.int64), op.arrays["bias"])
        dil = a.get("dilation", [1, 1])
        padded = any(a["pad"])
        xin = ins[0]
        if padded:  # torch's symmetric padding as an explicit zero-point pad (TFLite has SAME/VALID only)
            tin = g.tensors[op.inputs[0]]
            t, l_, bb, r = a["pad"]
            shp = [1, tin.shape[0] + t + bb, tin.shape[1] + l_ + r, tin.shape[2]]
            xin = b.tensor(shp, "int8", f32(tin.scale), tin.zero_point)
            pads = b.tensor([4, 2], "int32", data=[[0, 0], [t, bb], [l_, r], [0, 0]])
            b.op("PAD", [ins[0], pads], [xin])
        opts = {"Padding": 1, "StrideH": a["stride"][0], "StrideW": a["stride"][1], "DilationHFactor": dil[0],
                    "DilationWFactor": dil[1]}
        if name == "CONV_2D":
            b.op(name, [xin, tw, tb], [out], "Conv2DOptions", **opts)
        else:
            b.op(name, [xin, tw, tb], [out], "DepthwiseConv2DOptions", DepthMultiplier=1, **opts)
    elif name == "TRANSPOSE_CONV":
        w = op.arrays["weight"]
        tw = b.tensor(w.shape, "int8", op.attrs["_sw"], np.zeros(len(op.attrs["_sw"]), np.int64), w)
        tb = b.tensor([len(op.arrays["bias"])], "int32", [f32(g.tensors[op.inputs[0]].scale) * s for s in op.attrs["_sw"]],
                      np.zeros(len(op.attrs["_sw"]), np.int64), op.arrays["bias"])
        osh = b.tensor([4], "int32", data=_nhwc(to.shape))
        b.op(name, [osh, tw, ins[0], tb], [out], "TransposeConvOptions", Padding=0 if any(a["pad"]) else 1,
             StrideH=a["stride"][0], StrideW=a["stride"][1])
    elif name == "RESIZE_NEAREST_NEIGHBOR":
        sz = b.tensor([2], "int32", data=list(to.shape[:2]))
        b.op(name, [ins[0], sz], [out], "ResizeNearestNeighborOptions", AlignCorners=False, HalfPixelCenters=False)
    elif name == "RESIZE_BILINEAR":
        sz = b.tensor([2], "int32", data=list(to.shape[:2]))
        b.op(name, [ins[0], sz], [out], "ResizeBilinearOptions", AlignCorners=False, HalfPixelCenters=True)
    elif name == "PADV2":
        t, l_, bb, r = a["pad"]
        pads = b.tensor([4, 2], "int32", data=[[0, 0], [t, bb], [l_, r], [0, 0]])
        tin = g.tensors[op.inputs[0]]
        val = b.tensor([1], "int8", f32(tin.scale), tin.zero_point, [a["value"]])
        b.op(name, [ins[0], pads, val], [out], "PadV2Options")
    elif name == "TRANSPOSE":
        perm = b.tensor([4], "int32", data=[0, 2, 1, 3])
        b.op(name, [ins[0], perm], [out], "TransposeOptions")
    elif name == "SLICE":
        c0 = a["base"]
        beg = b.tensor([4], "int32", data=[0, 0, 0, c0])
        size = b.tensor([4], "int32", data=_nhwc(to.shape))
        b.op(name, [ins[0], beg, size], [out])
    elif name == "CONCATENATION":
        b.op(name, ins, [out], "ConcatenationOptions", Axis=3)
    else:
        raise KeyError(name)
    return b.build([0] if len(set(op.inputs)) == 1 else [0, 1], [out])


def ref_op(g, op, xs):
    tins = [g.tensors[i] for i in op.inputs]
    tout = g.tensors[op.output]
    return OPS.REGISTRY[op.kind].reference(op, xs, tins, tout)


def check_case(name, module, shape, tfl, n: int = 64) -> dict:
    torch.manual_seed(0)
    module = snap(module.eval())
    rng = np.random.default_rng(0)
    calib = rng.standard_normal((128,) + shape).astype(np.float32)
    fg = simplify(capture(export_module(module, torch.from_numpy(calib[:1]))))
    g = lower(fg, calib)
    for t in g.tensors.values():
        t.scale = f32(t.scale)
    body = [op for op in g.ops if op.kind not in ("reshape",)]
    op = body[-1]
    # everything before the op under test is the input's preparation (e.g. a flip, a mean): run it in float
    prep = body[:-1]
    if op.kind in ("conv2d", "dwconv2d", "gconv2d", "convt", "fc"):
        mod = next(m for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Linear)))
        w = mod.weight.detach().double().numpy()
        w = w.transpose(1, 0, 2, 3) if isinstance(mod, nn.ConvTranspose2d) else w
        amax = np.abs(w.reshape(w.shape[0], -1)).max(1)  # the weight scales lower() used: max|w| / 127
        sw = np.array([f32(v) for v in amax / 127.0])
        op.attrs["_sw"] = sw
        op.arrays["mult"], op.arrays["shift"] = Q.channel_multipliers(g.tensors[op.inputs[0]].scale, sw,
                                                                      g.tensors[op.output].scale)
    elif op.kind == "prelu":
        alpha = next(m for m in module.modules() if isinstance(m, nn.PReLU)).weight.detach().double().numpy()
        op.attrs["_s_alpha"] = f32(max(float(np.abs(alpha).max()), 1e-12) / 127.0)
        _requant_f32(g, op)
    else:
        _requant_f32(g, op)
    xs = [rng.integers(-128, 128, (n,) + tuple(g.tensors[i].shape)).astype(np.int8) for i in op.inputs]
    if prep and len(set(op.inputs)) == 1:
        xs = xs[:1]
    ours = ref_op(g, op, xs if len(op.inputs) == len(xs) else [xs[0]] * len(op.inputs))
    row = {"op": name, "kind": op.kind, "in_shape": list(g.tensors[op.inputs[0]].shape),
           "out_shape": list(g.tensors[op.output].shape),
           "variant": OPS.variant(g, op), "rounding": OPS.REGISTRY[op.kind].rounding}
    # float side: torch's op on the dequantized inputs (weights already on the int8 grid)
    xf = [Q.dequantize(x, g.tensors[i].scale, g.tensors[i].zero_point) for x, i in zip(xs, op.inputs)]
    to = g.tensors[op.output]
    yf = float_op(fg, op, g, xf)
    yq = Q.dequantize(ours, to.scale, to.zero_point).reshape(n, -1)
    lo, hi = (-128 - to.zero_point) * to.scale, (127 - to.zero_point) * to.scale  # what int8 can hold
    err = np.abs(yq - np.clip(yf.reshape(n, -1), lo, hi)) / to.scale
    row["float_max_steps"] = round(float(err.max()), 3)
    if tfl:
        try:
            lite = run_ref(tflite_graph(g, op, tfl), *[x.reshape((n,) + tuple(_nhwc(g.tensors[i].shape))[1:])
                                                        for x, i in zip(xs, op.inputs)][:len(set(op.inputs))])
            lite = lite.reshape(ours.shape)
            d = np.abs(lite.astype(np.int32) - ours.astype(np.int32))
            row.update(litert_op=tfl, bytes_equal=float((d == 0).mean()), litert_max_diff=int(d.max()))
        except (RuntimeError, ValueError) as exc:  # a LiteRT op refusing the configuration: recorded
            row.update(litert_op=tfl, litert_error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
    return row


def float_op(fg, op, g, xf):
    """The float node of the op under test, run by the frontend's float interpreter."""
    from mcudeploy.frontend.capture import run_node

    node = next(nd for nd in fg.nodes if nd.name == op.name)
    vals = {}
    for x, i in zip(xf, op.inputs):
        t = g.tensors[i]
        src = fg.input_shape if i == fg.input else next(nd.shape for nd in fg.nodes if nd.name == i)
        vals[i] = torch.from_numpy(OPS.to_torch(x.reshape(len(x), -1), t.shape, src).astype(np.float32))
    inputs = list(node.inputs)
    node.inputs = list(op.inputs)
    with torch.no_grad():
        y = run_node(node, vals).numpy()
    node.inputs = inputs
    return OPS.to_device(y)


def table_rows(only=None) -> list[dict]:
    rows = []
    for c in cases():
        if only and c[0] not in only:
            continue
        try:
            rows.append(check_case(*c))
        except Exception as exc:  # noqa: BLE001  (the table shows it)
            rows.append({"op": c[0], "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"})
    return rows


if __name__ == "__main__":
    rows = table_rows([a for a in sys.argv[1:] if not a.startswith("-") and not a.endswith(".json")])
    for r in rows:
        print(json.dumps(r))
    if "--json" in sys.argv:
        Path(sys.argv[sys.argv.index("--json") + 1]).write_text(json.dumps(rows, indent=1))
