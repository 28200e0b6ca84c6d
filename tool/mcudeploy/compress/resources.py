"""The model's resources as differentiable functions of soft channel counts.

    >>> rm = ResourceModel.build(model, analysis, g, p, layer_cycles, engine_code_bytes)
    >>> G = rm.gate_vector(theta)                    # one soft/hard gate per channel root
    >>> rm.arena(G), rm.flash(G), rm.cycles(G)       # torch scalars, gradients flow into G

Why these functions and not a MAC count: the resources a board limits are set by mcudeploy's own
stages, so the penalty is built from them, on the dense model's int8 graph (``ir.Graph``):

* ``arena``: the memory planner's buffers (``plan.plan``: aliasing of in-place ops, the input and
  output kept outside, fused conv+pool, kernel scratch) with their lifetimes. At every op the live
  buffers' bytes are summed and the arena is the largest such sum: a ``max``, so its gradient reaches
  only the buffers live at the peak step -- the layers that set the peak, as Liberis & Lane argue.
  A buffer's bytes are H x W x (its channels' soft count); scratch scales with the op's input
  channels. The greedy placement can only exceed this live-sum bound, which is why the result is
  measured after compile (``measure.py``).
* ``flash``: per conv/fc the bytes ``codegen.kernels.layer_bytes`` stores for the dense format:
  values (C_out x C_in x K), and per output channel the requantization records and bias; plus the
  engine's code bytes (measured on a build of the dense model, a constant).
* ``cycles``: a per-layer table from the cycle model (``bench`` of the dense model: estimated
  cycles per layer), scaled by each layer's MACs (conv/fc) or elements (the other ops) as a
  function of its channel counts.

Channel counts: every tensor of the int8 graph is mapped to the torch channel ids of
``structured.analyze`` (convs and linears by module name, the rest propagated: adds, activations
and pools pass channels, concats append, depthwise convs keep theirs). A tensor's count is the sum
of its channels' gates; channels the pruning may not touch count 1.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..codegen.fuse import layout
from ..codegen.kernels import layer_bytes, scratch_for
from ..ir import Graph, Op
from ..plan import Plan, plan
from .structured import Analysis


@dataclass
class _Expr:
    """A tensor's channels: gate positions (``idx``), channels counted as 1 (``const``), H x W."""

    idx: torch.Tensor
    const: int
    spatial: int

    def dense(self) -> int:
        return self.const + len(self.idx)

    def count(self, G: torch.Tensor) -> torch.Tensor:
        return G[self.idx].sum() + self.const

    def size(self, G: torch.Tensor) -> torch.Tensor:
        return self.spatial * self.count(G)


@dataclass
class ResourceModel:
    roots: list[int]                                  # channel root per gate position
    prunable: torch.Tensor                            # bool per position
    tensors: dict[str, _Expr]
    buffers: list[tuple[str, int, int, object]]       # (key, first op, last op, size function)
    weight_terms: list                                # functions G -> bytes
    cycle_terms: list                                 # functions G -> est. cycles
    engine_code_bytes: int = 0
    dense: dict = field(default_factory=dict)
    graph: Graph | None = None

    @classmethod
    def build(cls, analysis: Analysis, g: Graph, p: Plan, layer_cycles: dict[str, int] | None = None,
              engine_code_bytes: int = 0) -> ResourceModel:
        find = analysis.find
        module_of = {name.replace(".", "_"): name for name in analysis.uses}
        prunable_roots = {r for grp in analysis.groups if grp.prunable for r in grp.channels}
        roots: list[int] = []
        pos: dict[int, int] = {}

        def positions(ids) -> tuple[torch.Tensor, int]:
            keep, const = [], 0
            seen = set()
            for i in ids:
                r = find(i)
                if r not in prunable_roots:
                    const += 1
                    continue
                if r in seen:     # flatten repeats a channel H*W times: counted by spatial instead
                    continue
                seen.add(r)
                if r not in pos:
                    pos[r] = len(roots)
                    roots.append(r)
                keep.append(pos[r])
            return torch.tensor(keep, dtype=torch.long), const

        def chans(t: str) -> int:
            s = g.tensors[t].shape
            return s[-1] if s else 1

        ex: dict[str, _Expr] = {}
        ex[g.input] = _Expr(torch.zeros(0, dtype=torch.long), chans(g.input), g.tensors[g.input].size // chans(g.input))
        for op in g.ops:
            out = g.tensors[op.output]
            src = ex[op.inputs[0]] if op.inputs else None
            mod = module_of.get(op.name)
            if op.kind in ("conv2d", "fc") and mod is not None and analysis.uses[mod]["kind"] in ("conv", "linear"):
                idx, const = positions(analysis.uses[mod]["out"])
            elif op.kind in ("conv2d", "fc"):
                idx, const = torch.zeros(0, dtype=torch.long), chans(op.output)
            elif op.kind == "concat":
                parts = [ex[t] for t in op.inputs]
                idx, const = torch.cat([e.idx for e in parts]), sum(e.const for e in parts)
            else:
                idx, const = src.idx, src.const
            n = len(idx) + const
            spatial = out.size // n if n and out.size % n == 0 else out.size
            if n == 0 or out.size % n:  # a channel mapping that does not fit: count as fixed
                idx, const, spatial = torch.zeros(0, dtype=torch.long), 1, out.size
            ex[op.output] = _Expr(idx, const, spatial)

        buffers = _buffers(g, p, ex)
        weights, cycles = [], []
        layer_cycles = layer_cycles or {}
        for op in g.ops:
            e_out = ex[op.output]
            e_in = ex[op.inputs[0]] if op.inputs else e_out
            if "weight" in op.arrays and op.kind in ("conv2d", "fc", "dwconv2d"):
                b = layer_bytes(g, op)
                per_out = (b["scales"] + b["bias"] + b["indices"]) / max(e_out.dense(), 1)
                if op.kind == "dwconv2d":
                    per_val = b["values"] / max(e_out.dense(), 1)
                    weights.append(lambda G, eo=e_out, a=per_val, c=per_out: (a + c) * eo.count(G))
                else:
                    k = b["values"] / max(e_out.dense() * e_in.dense() * e_in.spatial, 1)
                    weights.append(lambda G, eo=e_out, ei=e_in, a=k, c=per_out:
                                   a * eo.count(G) * ei.size(G) + c * eo.count(G))
            cyc = layer_cycles.get(op.name)
            if cyc:
                if op.kind in ("conv2d", "fc"):
                    d = e_out.dense() * e_in.dense()
                    cycles.append(lambda G, eo=e_out, ei=e_in, c=cyc, d=d: c * eo.count(G) * ei.count(G) / d)
                else:
                    d = e_out.dense()
                    cycles.append(lambda G, eo=e_out, c=cyc, d=d: c * eo.count(G) / d)
        prunable = torch.ones(len(roots), dtype=torch.bool)
        rm = cls(roots, prunable, ex, buffers, weights, cycles, engine_code_bytes, graph=g)
        ones = torch.ones(len(roots))
        rm.dense = {"arena_bytes": float(rm.arena(ones)), "planner_arena_bytes": p.arena_bytes,
                    "flash_bytes": float(rm.flash(ones)), "cycles": float(rm.cycles(ones)) if cycles else None}
        return rm

    # --- the three resources ----------------------------------------------------------------------
    def live_bytes(self, G: torch.Tensor) -> torch.Tensor:
        """Bytes of the buffers live at each op (a vector over ops)."""
        last = max((hi for _k, _lo, hi, _f in self.buffers), default=0)
        sizes = [f(G) for _k, _lo, _hi, f in self.buffers]
        steps = []
        for i in range(last + 1):
            live = [s for (_k, lo, hi, _f), s in zip(self.buffers, sizes) if lo <= i <= hi]
            steps.append(torch.stack(live).sum() if live else G.new_zeros(()))
        return torch.stack(steps) if steps else G.new_zeros(1)

    def arena(self, G: torch.Tensor) -> torch.Tensor:
        """The planner's arena for the hard channel counts in ``G``, with the live-sum's gradient."""
        live = self.live_bytes(G).max()
        if self.graph is None:
            return live
        return live + (self.compiled_arena(G) - live.detach())

    def compiled_arena(self, G: torch.Tensor) -> int:
        """The arena compile() would plan for the hard counts in ``G``: the layout passes of the
        pipelines first (pointwise_4px, stage_weights, fuse_and_stage: a fused residual add frees
        its conv's output buffer), on a copy of the reshaped graph."""
        key = tuple(G.detach().round().to(torch.int8).tolist())
        if getattr(self, "_arena_key", None) != key:
            self._arena_key, self._arena = key, compiled_arena_bytes(self.reshaped(G))
        return self._arena

    def reshaped(self, G: torch.Tensor) -> Graph:
        """The dense int8 graph with every tensor and weight cut to ``G``'s (rounded) channel counts:
        what the planner and the scratch functions see after pruning (weights are zeros: only
        their shapes matter to them)."""
        g = self.graph
        key = tuple(G.detach().round().to(torch.int8).tolist())
        if getattr(self, "_cache_key", None) == key:
            return self._cache
        G = G.detach().round()
        tensors = {}
        for name, t in g.tensors.items():
            e = self.tensors.get(name)
            c = int(e.count(G)) if e is not None else None
            if c is None or not t.shape:
                tensors[name] = t
            elif len(t.shape) == 1:
                tensors[name] = replace(t, shape=(e.spatial * c,))
            else:
                tensors[name] = replace(t, shape=(*t.shape[:-1], c))
        ops = []
        for op in g.ops:
            arrays = {}
            w = op.arrays.get("weight")
            if w is not None:
                o = tensors[op.output].shape[-1]
                i = tensors[op.inputs[0]].shape[-1] if op.kind == "conv2d" else tensors[op.inputs[0]].size
                shape = {"conv2d": (o, *w.shape[1:3], i), "dwconv2d": (*w.shape[:2], o), "fc": (o, i)}.get(op.kind)
                arrays["weight"] = np.zeros(shape or w.shape, np.int8)
                dense_o = g.tensors[op.output].shape[-1]
                for k, a in op.arrays.items():  # per output channel: bias, multiplier, shift
                    if k != "weight" and a.ndim == 1 and a.shape[0] == dense_o:
                        arrays[k] = np.zeros(o, a.dtype)
                    elif k != "weight":
                        arrays[k] = a
            ops.append(Op(op.name, op.kind, op.inputs, op.output, dict(op.attrs), arrays))
        self._cache_key, self._cache = key, Graph(tensors, ops, g.input, g.output, dict(g.meta))
        return self._cache

    def flash(self, G: torch.Tensor) -> torch.Tensor:
        """``layer_bytes`` of the graph cut to ``G``'s hard counts (the format each layer then gets),
        with the gradient of the per-layer formula; plus the engine's code bytes."""
        approx = sum((f(G) for f in self.weight_terms), G.new_zeros(()))
        if self.graph is not None:
            g2 = self.reshaped(G)
            exact = sum(sum(layer_bytes(g2, op).values()) for op in g2.ops if "weight" in op.arrays)
            approx = approx + (exact - approx.detach())
        return approx + self.engine_code_bytes

    def cycles(self, G: torch.Tensor) -> torch.Tensor:
        return sum((f(G) for f in self.cycle_terms), G.new_zeros(()))

    def resource(self, name: str, G: torch.Tensor) -> torch.Tensor:
        return {"ram": self.arena, "flash": self.flash, "cycles": self.cycles}[name](G)

    def estimate(self, G: torch.Tensor) -> dict[str, int]:
        with torch.no_grad():
            return {"ram": int(self.arena(G)), "flash": int(self.flash(G)),
                    "cycles": int(self.cycles(G)) if self.cycle_terms else None}


def compiled_arena_bytes(g: Graph) -> int:
    """The arena compile() plans for ``g`` (left unchanged): after the pipelines' layout passes,
    pointwise_4px, stage_weights and fuse_and_stage, which may lower the plain plan's arena (a
    pointwise conv in place, a residual add fused into its conv) and never raise it."""
    g = deepcopy(g)
    layout(g)
    return plan(g, scratch=scratch_for(g)).arena_bytes


def _buffers(g: Graph, p: Plan, ex: dict[str, _Expr]) -> list:
    """The planner's arena buffers as (key, first op, last op, bytes as a function of G)."""
    members: dict[str, list[str]] = {}
    for t, r in p.groups.items():
        if r in p.sizes and t in ex:
            members.setdefault(r, []).append(t)
    scratch = scratch_for(g)
    ops = {op.name: op for op in g.ops}
    out = []
    for key, (lo, hi) in p.lifetimes.items():
        if key.startswith("scratch:"):
            op = ops[key.split(":", 1)[1]]
            e = ex[op.inputs[0]]
            dense = scratch.get(op.name, p.sizes[key])
            out.append((key, lo, hi, lambda G, e=e, d=dense: d * e.count(G) / max(e.dense(), 1)))
        elif key in members:
            t = max(members[key], key=lambda m: g.tensors[m].size)
            out.append((key, lo, hi, lambda G, e=ex[t]: e.size(G)))
    return out
