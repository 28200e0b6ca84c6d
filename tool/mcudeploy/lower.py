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
from .ops import REGISTRY, LowerCtx, act_bounds


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


_act_bounds = act_bounds  # kept for importers; the records use ops.act_bounds


def _lower_record(rec, n, tins: list[Tensor], shape, tensors: dict, obs, in_shapes, fg=None,
                  shared: dict | None = None) -> Op:
    tin = tins[0]
    fixed = rec.quant(n, tins) if callable(rec.quant) else None
    if rec.quant == "inherit":
        scale, zp = tin.scale, tin.zero_point
    else:
        scale, zp = fixed if fixed else obs[n.name].qparams()
    tensors[n.name] = tout = Tensor(n.name, shape, scale, zp)
    attrs, arrays = rec.lower(n, LowerCtx(tins, tout, obs, in_shapes, fg, {} if shared is None else shared))
    kind = attrs.pop("kind", rec.name)
    return Op(n.name, kind, list(n.inputs), n.name, attrs, arrays)


def lower(fg: FloatGraph, calib_x: np.ndarray) -> Graph:
    obs = calibrate(fg, calib_x)
    tensors: dict[str, Tensor] = {}
    ops: list[Op] = []
    s, z = obs[fg.input].qparams()
    tensors[fg.input] = Tensor(fg.input, _dev_shape(fg.input_shape), s, z)
    shared: dict = {}  # state across records (a flatten's column order for the Linear after it)

    for n in fg.nodes:
        rec = REGISTRY.get(n.op)
        if rec is None or rec.lower is None:
            raise AssertionError(f"internal: no op record lowers '{n.op}' ({n.where})")
        in_shapes = [tuple(fg.input_shape) if i == fg.input else tuple(fg.node(i).shape) for i in n.inputs]
        ops.append(_lower_record(rec, n, [tensors[i] for i in n.inputs], _dev_shape(n.shape), tensors, obs, in_shapes,
                                 fg, shared))

    g = Graph(tensors, ops, fg.input, fg.output)
    g.meta["input_shape_torch"] = list(fg.input_shape)
    out_node = next((n for n in fg.nodes if n.name == fg.output), None)
    if out_node is not None and len(out_node.shape) == 2:  # C x L: dequantize_output's layout
        g.meta["output_shape_torch"] = list(out_node.shape)
    return g
