"""Static activation memory plan: one arena, buffers placed by liveness, in-place ops aliased.

Usage::

    p = plan(g, scratch={"conv2d_1": 600})
    p.arena_bytes, p.where["relu_1"]      # ("arena", offset) | ("input", 0) | ("output", 0)

Design (TFLM's greedy planner, plus aliasing):
* The graph input stays in the caller's buffer (read-only: MLPerf warm-ups reuse it) and the
  graph output is written straight into the caller's output buffer, so neither costs arena.
* ``reshape`` is a view; ``clamp``, ``add`` and a ``maxpool`` whose reads never run behind its
  writes (checked exactly per output pixel, see ``maxpool_in_place_ok``) write over an input that
  dies at that op. Aliased tensors form one buffer whose lifetime is the union of theirs.
* Buffers, largest first, go at the lowest 4-aligned offset that overlaps no placed buffer live
  at the same time. Kernel scratch is a buffer live during its op only.
The result is checked by ``check``, which tests reuse against lifetimes independently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .ir import Graph, Op
from .ops import REGISTRY
from .ops.pool import maxpool_in_place_ok  # noqa: F401 -- re-exported (tests, older callers)

ALIGN = 4


@dataclass
class Plan:
    where: dict[str, tuple[str, int]]  # tensor or "scratch:<op>" -> (region, offset)
    sizes: dict[str, int]
    lifetimes: dict[str, tuple[int, int]]
    arena_bytes: int
    naive_bytes: int  # sum of all activations, no reuse, un-pooled conv maps included
    pingpong_bytes: int  # two buffers of the largest activation
    groups: dict[str, str] = field(default_factory=dict)  # tensor -> buffer root


def _can_overwrite(g: Graph, op: Op, src: str, idx: int, last_use: dict[str, int], roots: dict[str, str]) -> bool:
    root = roots[src]
    if root == g.input or last_use.get(root, -1) != idx:
        return False
    return not (op.output == g.output and g.tensors[src].size != g.tensors[op.output].size)


def _roots(g: Graph, forbid: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Each tensor's buffer root (aliases and in-place writes share their source's), and for each op
    written in place over a different-sized source, that source (ops in ``forbid`` are not)."""
    roots = {g.input: g.input}
    shrunk: dict[str, str] = {}
    uses: dict[str, list[int]] = {}  # last use of each buffer root, recomputed as aliases are formed
    for i, op in enumerate(g.ops):
        for t in op.inputs:
            uses.setdefault(t, []).append(i)

    def last_use_of(root):
        members = [t for t, r in roots.items() if r == root]
        return max((u for t in members for u in uses.get(t, [])), default=-1)

    for i, op in enumerate(g.ops):
        roots[op.output] = op.output
        if REGISTRY[op.kind].alias:
            roots[op.output] = roots[op.inputs[0]]
            continue
        for src in [] if op.name in forbid else _in_place_inputs(g, op):
            lu = {roots[src]: last_use_of(roots[src])}
            if _can_overwrite(g, op, src, i, lu, roots):
                roots[op.output] = roots[src]
                if g.tensors[src].size != g.tensors[op.output].size:
                    shrunk[op.name] = src
                break
    return roots, shrunk


def _in_place_inputs(g: Graph, op: Op) -> list[str]:
    """The inputs op's kernel may write its output over (its record's ``in_place``): True, the first
    one when it is as large as the output; "any", every input; a function, the first one if it says so
    (a max-pool whose reads never run behind its writes)."""
    rule = REGISTRY[op.kind].in_place
    if rule == "any":
        return list(op.inputs)
    if callable(rule):  # True: the first input; or the list of inputs it names
        r = rule(g, op)
        return list(r) if isinstance(r, list) else ([op.inputs[0]] if r else [])
    tin, tout = g.tensors[op.inputs[0]], g.tensors[op.output]
    return [op.inputs[0]] if rule and tin.size == tout.size else []


def plan(g: Graph, scratch: dict[str, int] | None = None) -> Plan:
    scratch = scratch or {}
    # The caller's output buffer holds one output: a group that reaches it through a write in place
    # over a larger source (a U-Net's last pointwise conv, 8x8x8 -> 8x8x1, in place, then a sigmoid in
    # place into the 64-byte output) would put that source there too. Undo the last such write, again.
    forbid: set[str] = set()
    while True:
        roots, shrunk = _roots(g, forbid)
        out_root = roots[g.output]
        over = [name for name, src in shrunk.items() if roots[src] == out_root
                and g.tensors[src].size > g.tensors[g.output].size]
        if not over:
            break
        forbid.add(over[-1])

    # The output's group lives in the caller's output buffer, the input's in the caller's input.
    out_root = roots[g.output]
    region = {}
    for t, r in roots.items():
        region[t] = "input" if r == g.input else ("output" if r == out_root else "arena")

    sizes: dict[str, int] = {}
    life: dict[str, tuple[int, int]] = {}
    for i, op in enumerate(g.ops):
        r = roots[op.output]
        if region[op.output] == "arena":
            sizes[r] = max(sizes.get(r, 0), g.tensors[op.output].size)
            lo, hi = life.get(r, (i, i))
            life[r] = (min(lo, i), max(hi, i))
        for t in op.inputs:
            rt = roots[t]
            if region[t] == "arena":
                lo, hi = life[rt]
                life[rt] = (lo, max(hi, i))
        if scratch.get(op.name):
            key = f"scratch:{op.name}"
            sizes[key], life[key] = scratch[op.name], (i, i)

    placed: list[tuple[str, int]] = []
    offsets: dict[str, int] = {}
    for buf in sorted(sizes, key=lambda b: (-sizes[b], life[b][0])):
        lo, hi = life[buf]
        busy = sorted((offsets[o], offsets[o] + sizes[o]) for o, _ in placed
                      if not (life[o][1] < lo or hi < life[o][0]))
        off = 0
        for s, e in busy:
            if off + sizes[buf] <= s:
                break
            off = max(off, -(-e // ALIGN) * ALIGN)
        offsets[buf] = off
        placed.append((buf, off))
    arena = max((offsets[b] + sizes[b] for b in offsets), default=0)

    where = {}
    for t in roots:
        where[t] = ("arena", offsets[roots[t]]) if region[t] == "arena" else (region[t], 0)
    for key in sizes:
        if key.startswith("scratch:"):
            where[key] = ("arena", offsets[key])

    acts = []
    for op in g.ops:
        if REGISTRY[op.kind].alias:
            continue
        acts.append(g.tensors[op.output].size)
        if op.attrs.get("pool"):
            acts.append(_conv_map_size(g, op))
    return Plan(where, sizes, life, -(-arena // ALIGN) * ALIGN, sum(acts), 2 * max(acts, default=0),
                {t: roots[t] for t in roots})


def _conv_map_size(g: Graph, op: Op) -> int:
    h, w, _ = g.tensors[op.inputs[0]].shape
    t, l_, b, r = op.attrs["pad"]
    kh, kw = op.arrays["weight"].shape[1:3] if op.kind == "conv2d" else op.arrays["weight"].shape[:2]
    oh = (h + t + b - kh) // op.attrs["stride"][0] + 1
    ow = (w + l_ + r - kw) // op.attrs["stride"][1] + 1
    return oh * ow * g.tensors[op.output].shape[2]


def check(g: Graph, p: Plan) -> None:
    """Independent check: arena buffers live at the same time never overlap, unless aliased."""
    bufs = [b for b in p.sizes]
    for i, a in enumerate(bufs):
        for b in bufs[i + 1:]:
            (la, ha), (lb, hb) = p.lifetimes[a], p.lifetimes[b]
            if ha < lb or hb < la:
                continue
            oa, ob = p.where[a][1] if a in p.where else None, p.where[b][1] if b in p.where else None
            if oa is None or ob is None:
                continue
            if oa < ob + p.sizes[b] and ob < oa + p.sizes[a]:
                raise AssertionError(f"buffers {a} and {b} overlap while both live")
    for key, (region, off) in p.where.items():
        if region in ("input", "output") and key in g.tensors:  # the caller's buffers hold one tensor's size
            cap = g.tensors[g.input if region == "input" else g.output].size
            assert g.tensors[key].size <= cap, f"{key} ({g.tensors[key].size} B) placed in the {cap}-byte {region}"
        if region == "arena":
            size = p.sizes.get(key) or p.sizes[p.groups.get(key, key)]
            assert off + size <= p.arena_bytes, key
