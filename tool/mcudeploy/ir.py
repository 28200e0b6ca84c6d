"""The quantized graph: int8 tensors in device layout and the ops between them.

One typed graph is the contract between quantization, the numpy reference, the memory planner
and the C code generator. Activations are stored HWC (channel last, batch 1): the innermost loop
of every kernel then walks contiguous channels, which is what the DSP kernels want. A flat
tensor has shape ``(n,)``.

Usage::

    g = Graph.load(project_dir)           # graph.json + graph.npz
    for op in g.ops:
        print(op.name, op.kind, g.tensors[op.output].shape)

Op kinds and their attributes/arrays (``act`` is the int8 clamp ``[act_min, act_max]``):

* ``conv2d``   stride, pad [t, l, b, r], act, pool (None or {k, s}: a fused max-pool);
               arrays weight (O, kh, kw, I) int8, bias (O,) int32, mult/shift (O,) int32
* ``dwconv2d`` depthwise, multiplier 1: weight (kh, kw, C); otherwise as conv2d
* ``fc``       weight (O, I) int8, bias, mult, shift; act
* ``maxpool``  k [kh, kw], stride, pad; same quantization in and out
* ``avgpool``  k, stride, pad, count_include_pad; same quantization in and out
* ``add``      mult/shift per input (rescaled to a common scale after << 20), out mult/shift, act
* ``concat``   channel concat; per input mult/shift (requantized to the output scale) or a copy
* ``clamp``    act only (a ReLU that could not be fused)
* ``reshape``  no data movement (the planner aliases the buffer)
* ``to_chw``   HWC -> CHW reorder before a flatten that cannot be folded into the next fc
Sparse storage formats of ``conv2d``/``fc`` weights set ``op.attrs["format"]``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]  # device layout: (H, W, C) or (N,)
    scale: float
    zero_point: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass
class Op:
    name: str
    kind: str
    inputs: list[str]
    output: str
    attrs: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def macs(self) -> int:
        return int(self.attrs.get("macs", 0))

    @property
    def weight_bytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values()))


@dataclass
class Graph:
    tensors: dict[str, Tensor]
    ops: list[Op]
    input: str
    output: str
    meta: dict = field(default_factory=dict)

    def producer(self, tensor: str) -> Op | None:
        return next((op for op in self.ops if op.output == tensor), None)

    def consumers(self, tensor: str) -> list[Op]:
        return [op for op in self.ops if tensor in op.inputs]

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops)

    @property
    def params(self) -> int:
        return sum(int(op.arrays["weight"].size) + int(op.arrays["bias"].size)
                   for op in self.ops if "weight" in op.arrays)

    @property
    def weight_bytes(self) -> int:
        return sum(op.weight_bytes for op in self.ops)

    # --- serialization -------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "version": 1,
            "input": self.input,
            "output": self.output,
            "meta": self.meta,
            "tensors": [{"name": t.name, "shape": list(t.shape), "scale": t.scale,
                         "zero_point": t.zero_point} for t in self.tensors.values()],
            "ops": [{"name": o.name, "kind": o.kind, "inputs": o.inputs, "output": o.output,
                     "attrs": o.attrs, "arrays": sorted(o.arrays)} for o in self.ops],
        }

    def save(self, outdir: Path) -> None:
        outdir = Path(outdir)
        (outdir / "graph.json").write_text(json.dumps(self.to_json(), indent=1))
        arrays = {f"{o.name}/{k}": v for o in self.ops for k, v in o.arrays.items()}
        np.savez(outdir / "graph.npz", **arrays)

    @classmethod
    def load(cls, outdir: Path) -> Graph:
        outdir = Path(outdir)
        doc = json.loads((outdir / "graph.json").read_text())
        npz = np.load(outdir / "graph.npz")
        tensors = {t["name"]: Tensor(t["name"], tuple(t["shape"]), t["scale"], t["zero_point"])
                   for t in doc["tensors"]}
        ops = [Op(o["name"], o["kind"], o["inputs"], o["output"], o["attrs"],
                  {k: npz[f"{o['name']}/{k}"] for k in o["arrays"]}) for o in doc["ops"]]
        return cls(tensors, ops, doc["input"], doc["output"], doc.get("meta", {}))

    def hash(self) -> str:
        """sha256 over the structure and every array: what the firmware reports as its model."""
        h = hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode())
        for o in self.ops:
            for k in sorted(o.arrays):
                h.update(np.ascontiguousarray(o.arrays[k]).tobytes())
        return h.hexdigest()
