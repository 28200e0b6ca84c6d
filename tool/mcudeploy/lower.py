"""Calibrate a FloatGraph on real samples and lower it to the int8 device graph (``ir.Graph``).

Usage::

    g = lower(fg, calib_x)        # calib_x: float NCHW samples (a few hundred are plenty)

Ranges are the min/max seen on the calibration data (TFLite's post-training default). Pools,
reshapes and standalone clamps keep their input's quantization (as TFLite requires), so max-pool
and reshape move no data through requantization. Tensors change from torch's NCHW to HWC here,
and a flatten of an HWC map is folded into the next fully-connected layer by permuting its
weight columns, so the engine never transposes activations.
"""

from __future__ import annotations

import numpy as np
import torch

from . import quantize as Q
from .errors import UnsupportedOpError
from .frontend import FloatGraph, run_float
from .ir import Graph, Op, Tensor
from .ops import REGISTRY, LowerCtx
from .ops.mul import bcast_mode


def _dev_shape(shape) -> tuple[int, ...]:
    shape = tuple(shape)
    if len(shape) == 3:
        c, h, w = shape
        return (h, w, c)
    if len(shape) == 1:
        return shape
    if len(shape) == 2:  # C x L (Conv1d, 1-D pools): a 1 x L x C map
        c, length = shape
        return (1, length, c)
    raise UnsupportedOpError(f"tensor of shape {shape} (batch dimension removed): only C x H x W maps and "
                             "flat vectors are supported")


def calibrate(fg: FloatGraph, x: np.ndarray, batch: int = 256) -> dict[str, Q.RangeObserver]:
    obs: dict[str, Q.RangeObserver] = {}

    def observe(name, v):
        obs.setdefault(name, Q.RangeObserver()).update(v.numpy())

    xt = torch.from_numpy(np.asarray(x, dtype=np.float32))
    for i in range(0, len(xt), batch):
        run_float(fg, xt[i:i + batch], observe)
    return obs


def _act_bounds(act, scale: float, zp: int) -> list[int]:
    lo, hi = (act or [None, None])
    qlo = Q.INT8_MIN if lo is None else int(np.clip(zp + round(lo / scale), Q.INT8_MIN, Q.INT8_MAX))
    qhi = Q.INT8_MAX if hi is None else int(np.clip(zp + round(hi / scale), Q.INT8_MIN, Q.INT8_MAX))
    return [qlo, qhi]


def _lower_record(rec, n, tins: list[Tensor], shape, tensors: dict, obs, in_shapes) -> Op:
    tin = tins[0]
    fixed = rec.quant(n, tins) if callable(rec.quant) else None
    if rec.quant == "inherit":
        scale, zp = tin.scale, tin.zero_point
    else:
        scale, zp = fixed if fixed else obs[n.name].qparams()
    tensors[n.name] = tout = Tensor(n.name, shape, scale, zp)
    attrs, arrays = rec.lower(n, LowerCtx(tins, tout, obs, in_shapes))
    kind = attrs.pop("kind", rec.name)
    return Op(n.name, kind, list(n.inputs), n.name, attrs, arrays)


def lower(fg: FloatGraph, calib_x: np.ndarray) -> Graph:
    obs = calibrate(fg, calib_x)
    tensors: dict[str, Tensor] = {}
    ops: list[Op] = []
    s, z = obs[fg.input].qparams()
    tensors[fg.input] = Tensor(fg.input, _dev_shape(fg.input_shape), s, z)
    col_perm: dict[str, np.ndarray] = {}  # flat tensor -> permutation from device to torch order

    for n in fg.nodes:
        tin = tensors[n.inputs[0]]
        shape = _dev_shape(n.shape)
        rec = REGISTRY.get(n.op)
        if rec is not None and rec.lower is not None:  # an op record lowers itself
            in_shapes = [tuple(fg.input_shape) if i == fg.input else tuple(fg.node(i).shape) for i in n.inputs]
            ops.append(_lower_record(rec, n, [tensors[i] for i in n.inputs], shape, tensors, obs, in_shapes))
            continue
        inherit = n.op in ("maxpool", "avgpool", "gap", "reshape", "act")
        scale, zp = (tin.scale, tin.zero_point) if inherit else obs[n.name].qparams()
        tensors[n.name] = tout = Tensor(n.name, shape, scale, zp)
        attrs: dict = {}
        arrays: dict[str, np.ndarray] = {}
        kind = n.op
        if n.op in ("conv", "linear"):
            w = n.params["weight"].detach().double().numpy()
            b = n.params.get("bias")
            bf = None if b is None else b.detach().double().numpy()
            levels = Q.levels_per_channel(w)
            low = None if levels is None else Q.quantize_lowbit_weights_and_bias(w, bf, tin.scale, levels)
            wq, sw, arrays["bias"] = low if low is not None else Q.quantize_weights_and_bias(w, bf, tin.scale)
            arrays["mult"], arrays["shift"] = Q.channel_multipliers(tin.scale, sw, scale)
            attrs["act"] = _act_bounds(n.attrs.get("act"), scale, zp)
            if n.op == "conv":
                o, ig, kh, kw = w.shape
                oh, ow = _dev_shape(n.attrs.get("conv_shape") or n.shape)[:2]
                attrs.update(stride=n.attrs["stride"], pad=n.attrs["pad"], pool=n.attrs.get("pool"),
                             macs=oh * ow * o * kh * kw * ig)
                dil = n.attrs.get("dilation", [1, 1])
                dw = ig == 1 and o == n.attrs["groups"] and tin.shape[2] == o
                if dil != [1, 1] or (n.attrs["groups"] != 1 and not dw):  # ops/gconv.py
                    kind, arrays["weight"] = "gconv2d", np.ascontiguousarray(wq.transpose(0, 2, 3, 1))
                    attrs.update(groups=n.attrs["groups"], dilation=dil)
                elif n.attrs["groups"] == 1:
                    kind, arrays["weight"] = "conv2d", np.ascontiguousarray(wq.transpose(0, 2, 3, 1))
                else:
                    kind, arrays["weight"] = "dwconv2d", np.ascontiguousarray(wq[:, 0].transpose(1, 2, 0))
            else:
                kind = "fc"
                if len(tin.shape) != 1:
                    raise UnsupportedOpError(f"Linear in {n.where} gets a {len(tin.shape)}-D input; flatten it first")
                if n.inputs[0] in col_perm:
                    wq = wq[:, col_perm[n.inputs[0]]]
                arrays["weight"] = np.ascontiguousarray(wq)
                attrs["macs"] = int(wq.shape[0] * wq.shape[1])
        elif n.op == "maxpool":
            attrs.update(k=n.attrs["k"], stride=n.attrs["stride"], pad=n.attrs["pad"])
        elif n.op == "avgpool":
            attrs.update(k=n.attrs["k"], stride=n.attrs["stride"], pad=n.attrs["pad"],
                         count_include_pad=n.attrs["count_include_pad"])
        elif n.op == "gap":
            h, w_, _c = tin.shape
            kind = "avgpool"
            attrs.update(k=[h, w_], stride=[h, w_], pad=[0, 0], count_include_pad=True)
        elif n.op == "act":
            kind = "clamp"
            attrs["act"] = _act_bounds(n.attrs["act"], scale, zp)
        elif n.op == "reshape":
            if len(shape) != 1 or tout.size != tin.size:
                raise UnsupportedOpError(f"reshape to {n.shape} in {n.where}: only flattening to a vector is supported")
            if len(tin.shape) == 3 and tin.shape[2] > 1 and tin.shape[0] * tin.shape[1] > 1:
                users = fg.users(n.name)
                if users and all(u.op == "linear" for u in users) and fg.output != n.name:
                    h, w_, c = tin.shape  # device index (y, x, ch) holds torch index ch*H*W + y*W + x
                    col_perm[n.name] = np.arange(c * h * w_).reshape(c, h, w_).transpose(1, 2, 0).reshape(-1)
                else:
                    kind = "to_chw"
        elif n.op == "add":
            if tensors[n.inputs[1]].size > tin.size:  # the full-size operand first (add commutes)
                n.inputs.reverse()
                tin = tensors[n.inputs[0]]
            t2 = tensors[n.inputs[1]]
            if t2.shape != tin.shape:  # broadcasting: ops/mul.py's add_bc
                kind = "add_bc"
                attrs["mode"] = bcast_mode(tin.shape, t2.shape, f"in {n.where}")
            twice_max = 2 * max(tin.scale, t2.scale)
            left_shift = 20
            m1, s1 = Q.quantize_multiplier(tin.scale / twice_max)
            m2, s2 = Q.quantize_multiplier(t2.scale / twice_max)
            mo, so = Q.quantize_multiplier(twice_max / ((1 << left_shift) * scale))
            attrs.update(left_shift=left_shift, mult=[m1, m2], shift=[s1, s2], out_mult=mo, out_shift=so,
                         act=_act_bounds(n.attrs.get("act"), scale, zp))
        elif n.op == "cat":
            ins = [tensors[i] for i in n.inputs]
            if any(t.shape[:-1] != tin.shape[:-1] for t in ins):
                raise UnsupportedOpError(f"torch.cat in {n.where} of shapes {[t.shape for t in ins]}")
            kind = "concat"
            mult, shift, copy = [], [], []
            for t in ins:
                same = t.scale == scale and t.zero_point == zp
                m, sh = (0, 0) if same else Q.quantize_multiplier(t.scale / scale)
                mult.append(m)
                shift.append(sh)
                copy.append(same)
            attrs.update(mult=mult, shift=shift, copy=copy)
        else:
            raise AssertionError(n.op)
        ops.append(Op(n.name, kind, list(n.inputs), n.name, attrs, arrays))

    g = Graph(tensors, ops, fg.input, fg.output)
    g.meta["input_shape_torch"] = list(fg.input_shape)
    out_node = next((n for n in fg.nodes if n.name == fg.output), None)
    if out_node is not None and len(out_node.shape) == 2:  # C x L: dequantize_output's layout
        g.meta["output_shape_torch"] = list(out_node.shape)
    return g
