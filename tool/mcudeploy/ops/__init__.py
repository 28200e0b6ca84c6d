"""One record per op and kernel variant: what the frontend, lowering, reference, planner, code
generator and tests need to know about it, in one place.

Usage::

    from mcudeploy import ops
    rec = ops.REGISTRY["lut"]            # the record of an IR op kind
    rec.reference(op, xs, tins, tout)    # its integer semantics (the oracle of its C kernel)
    ops.by_aten("sigmoid.default")       # the capture handler of an ATen op, or None

Adding an op is one module here (its ``OpRecord``: capture handlers, float semantics, lowering,
reference, selection rule, C call, scratch), one C kernel in ``firmware_template/kernels`` and one
test; docs/adding-an-op.md walks through one. Every device op is a record (conv2d and its formats,
dwconv2d, fc, pools, add, concat, clamp, reshape/to_chw too): lowering, the reference, the planner,
the code generator, the scratch test and the structured-pruning tracer read only this registry.

A record's float op name (``FNode.op``) and its IR kind are both ``name`` unless ``lower`` returns
another kind (one record may lower to a kind of another record, e.g. conv -> conv2d, dwconv2d or
gconv2d; linear -> fc).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class OpRecord:
    """Everything about one op; only ``name`` is always needed (and ``reference`` for an IR kind).

    * ``aten``: ATen op key (``'sigmoid.default'``) -> handler(args, kwargs) returning an FNode
      (``fnode(...)``) or a string saying why this use is not supported (the capture pattern);
    * ``float_fn(node, xs)``: the float semantics on NCHW torch tensors (calibration, checks);
    * ``quant``: the output's quantization: ``'own'`` (calibrated), ``'inherit'`` (the input's:
      data movement), or a function ``(node, tins) -> (scale, zero_point) | None`` (e.g. softmax's
      1/256; None: calibrated);
    * ``lower(node, ctx)``: -> (attrs, arrays) of the IR op (``ctx``: ``LowerCtx``);
    * ``reference(op, xs, tins, tout)``: integer semantics on batched device-layout int8 arrays;
    * ``select(g, op)``: the kernel variant, 'fast' or 'generic' (reported; the C call may use it);
    * ``c_files``/``c_decl``/``c_call``: the kernel source files, their prototypes (emitted into
      the engine's ``mcd_ops.h``, which the kernel file includes, so the compiler checks them),
      and a jinja2 snippet rendered with ``l`` = the layer's dict (see codegen.emit._layer);
    * ``scratch(g, op)``: bytes of kernel scratch, and ``c_scratch`` the C expression computing
      the same from ``l`` (a host test compares the two);
    * ``in_place``: the kernel may write over its first input (the planner then aliases them);
    * ``arrays(g, op)``: the constant arrays as the kernel reads them (weights.c), default op.arrays;
    * ``layer(g, op, l)``: more fields of the layer dict ``l`` for ``c_call`` (e.g. kernel sizes);
    * ``c_block``: the call goes in its own ``{ }`` block (static parameter structs need one);
    * ``c_includes(l)``: headers model.c must include for this layer (inline kernels);
    * ``alias``: the output is the input's bytes under another shape (reshape): no layer, no kernel;
    * ``rounding_family``: 'fc' or 'other' when the kernel requantizes by mcd_config.h's switch
      (MCD_ROUNDING_DOUBLE_FC / MCD_ROUNDING_DOUBLE), '' when it does not read it;
    * ``channels``: how output channels follow input channels, for the structured-pruning tracer
      (compress/structured.py): 'conv' (a weight layer: outputs are its own, inputs are consumed),
      'depthwise' (channel c from channel c, with per-channel weights), 'elementwise' (channel c
      of every input -> channel c of the output), 'concat' (channels of the inputs side by side),
      'reduce' (all channels mixed or dropped: a boundary), '' (not traced: pruning stops there).
    """

    name: str
    reference: Callable | None = None  # None: a float-graph-only record (it lowers to another kind)
    aten: dict[str, Callable] = field(default_factory=dict)
    float_fn: Callable | None = None
    quant: str | Callable = "own"
    lower: Callable | None = None
    select: Callable | None = None
    c_files: list[str] = field(default_factory=list)
    c_decl: str = ""
    c_call: str = ""
    scratch: Callable | None = None
    c_scratch: str | Callable = ""  # a jinja2 expression of l, or (g, op) -> the C expression or None
    in_place: bool | str | Callable = False  # True: first input (same size); "any": any input; (g, op) -> bool
    arrays: Callable | None = None  # (g, op) -> the constant arrays in the kernel's layout (default op.arrays)
    supported: str = ""
    rounding: str = ""  # how the op rounds: which rule the oracle test holds it to
    layer: Callable | None = None
    c_block: bool = True
    c_includes: Callable | None = None
    alias: bool = False
    rounding_family: str = ""
    channels: str = ""


@dataclass
class LowerCtx:
    """What a record's ``lower`` may read: its input tensors (device layout, quantized), its output
    tensor (already quantized by ``quant``), the float node, and the calibration observers."""

    tins: list
    tout: object
    obs: dict
    in_shapes: list = field(default_factory=list)  # torch shapes of the inputs, batch dim removed
    fg: object = None  # the FloatGraph (users of a node, its output)
    shared: dict = field(default_factory=dict)  # state across one lowering (e.g. a flatten's column order)


REGISTRY: dict[str, OpRecord] = {}


def register(rec: OpRecord) -> OpRecord:
    if rec.name in REGISTRY:
        raise ValueError(f"op record '{rec.name}' registered twice")
    REGISTRY[rec.name] = rec
    return rec


def pair_arg(v, default=None) -> list:
    """An ATen int-or-list argument (kernel_size, stride, padding, dilation) as [h, w]; empty or None
    takes ``default`` (a pool's stride defaults to its kernel)."""
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        v = default
    if isinstance(v, int):
        return [v, v]
    v = list(v)
    return v * 2 if len(v) == 1 else v


def one_arg(v, default) -> int:
    """The 1-D form of ``pair_arg``: one int (Conv1d/pool1d arguments come as one-element lists)."""
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        return default
    return int(v[0]) if isinstance(v, (list, tuple)) else int(v)


def fnode(op: str, inputs: list, attrs: dict | None = None, params: dict | None = None):
    """A float-graph node (imported lazily: the frontend imports this package)."""
    from ..frontend.fgraph import FNode

    return FNode("", op, list(inputs), dict(attrs or {}), dict(params or {}))


def by_aten(key: str) -> Callable | None:
    for rec in REGISTRY.values():
        if key in rec.aten:
            return rec.aten[key]
    return None


def record_of(key: str) -> OpRecord | None:
    """The record whose capture pattern claims an ATen op key ('hardswish.default'), or None."""
    return next((rec for rec in REGISTRY.values() if key in rec.aten), None)


def supported() -> list[str]:
    return [rec.supported for rec in REGISTRY.values() if rec.supported]


def variant(g, op) -> str:
    rec = REGISTRY.get(op.kind)
    return rec.select(g, op) if rec and rec.select else "generic"


def act_bounds(act, scale: float, zp: int) -> list[int]:
    """A fused or standalone activation's float bounds [lo, hi] (None: open) as int8 bounds at the
    output's quantization."""
    lo, hi = (act or [None, None])
    qlo = -128 if lo is None else int(np.clip(zp + round(lo / scale), -128, 127))
    qhi = 127 if hi is None else int(np.clip(zp + round(hi / scale), -128, 127))
    return [qlo, qhi]


def clip8(y) -> np.ndarray:
    return np.clip(y, -128, 127).astype(np.int8)


def to_torch(x: np.ndarray, shape, torch_shape) -> np.ndarray:
    """(N, device elements) -> (N,) + torch shape (batch removed): HWC -> CHW; a C x L signal is
    stored 1 x L x C; vectors as they are."""
    n = len(x)
    x = x.reshape((n,) + tuple(shape))
    if len(shape) == 3:
        x = x.transpose(0, 3, 1, 2)
    return x.reshape((n,) + tuple(torch_shape))


def to_device(x: np.ndarray) -> np.ndarray:
    """(N,) + torch shape -> (N, device elements) flat: the inverse of ``to_torch``."""
    n = len(x)
    if x.ndim == 4:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n, -1)
    if x.ndim == 3:
        return np.ascontiguousarray(x.transpose(0, 2, 1)).reshape(n, -1)
    return x.reshape(n, -1)


def device_axis(dim: int, rank: int) -> int:
    """Torch dim (batch dim 0 counted, negative allowed) -> axis of the device shape."""
    d = dim % rank
    if rank == 4:
        return {1: 2, 2: 0, 3: 1}[d]
    if rank == 3:
        return {1: 2, 2: 1}[d]
    return 0


def _load() -> None:
    """Import every module of this package: each registers its records (no list to edit)."""
    import importlib
    import pkgutil

    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{mod}")


_load()
