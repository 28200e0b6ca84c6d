"""One record per op and kernel variant: what the frontend, lowering, reference, planner, code
generator and tests need to know about it, in one place.

Usage::

    from mcudeploy import ops
    rec = ops.REGISTRY["lut"]            # the record of an IR op kind
    rec.reference(op, xs, tins, tout)    # its integer semantics (the oracle of its C kernel)
    ops.by_aten("sigmoid.default")       # the capture handler of an ATen op, or None

Adding an op is one module here (its ``OpRecord``: capture handlers, float semantics, lowering,
reference, selection rule, C call, scratch), one C kernel in ``firmware_template/kernels`` and one
test; docs/adding-an-op.md walks through one. The older ops (conv2d, fc, pools, add, concat) are
still wired by hand in optable/lower/reference/codegen; the hooks there consult this registry first.

A record's float op name (``FNode.op``) and its IR kind are both ``name`` unless ``lower`` returns
another kind (one record may lower to a kind of another record, e.g. conv -> conv2d_any).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class OpRecord:
    """Everything about one op; only ``name`` and ``reference`` are always needed.

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
    * ``arrays(g, op)``: the constant arrays as the kernel reads them (weights.c), default op.arrays.
    """

    name: str
    reference: Callable
    aten: dict[str, Callable] = field(default_factory=dict)
    float_fn: Callable | None = None
    quant: str | Callable = "own"
    lower: Callable | None = None
    select: Callable | None = None
    c_files: list[str] = field(default_factory=list)
    c_decl: str = ""
    c_call: str = ""
    scratch: Callable | None = None
    c_scratch: str = ""
    in_place: bool = False
    arrays: Callable | None = None  # (g, op) -> the constant arrays in the kernel's layout (default op.arrays)
    supported: str = ""
    rounding: str = ""  # how the op rounds: which rule the oracle test holds it to


@dataclass
class LowerCtx:
    """What a record's ``lower`` may read: its input tensors (device layout, quantized), its output
    tensor (already quantized by ``quant``), the float node, and the calibration observers."""

    tins: list
    tout: object
    obs: dict
    in_shapes: list = field(default_factory=list)  # torch shapes of the inputs, batch dim removed


REGISTRY: dict[str, OpRecord] = {}


def register(rec: OpRecord) -> OpRecord:
    if rec.name in REGISTRY:
        raise ValueError(f"op record '{rec.name}' registered twice")
    REGISTRY[rec.name] = rec
    return rec


def fnode(op: str, inputs: list, attrs: dict | None = None, params: dict | None = None):
    """A float-graph node (imported lazily: the frontend imports this package)."""
    from ..frontend.fgraph import FNode

    return FNode("", op, list(inputs), dict(attrs or {}), dict(params or {}))


def by_aten(key: str) -> Callable | None:
    for rec in REGISTRY.values():
        if key in rec.aten:
            return rec.aten[key]
    return None


def supported() -> list[str]:
    return [rec.supported for rec in REGISTRY.values() if rec.supported]


def variant(g, op) -> str:
    rec = REGISTRY.get(op.kind)
    return rec.select(g, op) if rec and rec.select else "generic"


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
