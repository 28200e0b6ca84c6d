"""Fuse a residual add into the dense conv that computes one of its operands (mcd_conv2d_s8_add).

Usage::

    layout(g)  # pointwise_4px, stage_weights, fuse_and_stage: what compile does before it plans

Why: a ResNet block ends ``y = conv(x) + skip``. Unfused, the conv writes its whole output map,
the add reads it back with the skip and writes a third map, and all three maps are live at the
conv: IC's peak arena (49.8 KB) is the skip, the conv's input and the conv's output, 16 KB each.
Fused, the conv requantizes each output value as before (its own zero point and clamp), combines
it at once with the skip element at the same index (LiteRT's ADD: the two per-input rescale
tables, the output rescale, zero point and clamp) and writes the add's result over the skip: the
conv's output map is never stored and its 16 KB is never allocated.

The rewrite: the conv op takes the add's place in the graph's data flow. Its inputs become
``[x, skip]``, its output the add's output; ``attrs["add"]`` keeps what the add needs (its
multipliers, with the conv's operand first) and the conv's own output zero point (``mid_zp``:
the requantization records are built with it). The add op and the conv's output tensor go away.
The reference (ops/conv2d.py) computes conv, then add, exactly as the two ops did.

Where: the add's two operands have one shape; the fused conv runs the dense GEMM kernel (variant
``default``, no fused pool, requantization records), its output feeds only the add, and the skip
is computed before it. When the conv that would be fused is the earlier of the two (IC's
downsampling blocks: conv2d_5, then the 1x1 conv2d_6 of the skip), the skip's producer moves to
just before it when its own inputs are ready there.
"""

from __future__ import annotations

from ..ir import Graph, Op
from .kernels import op_rounding, pointwise_4px, rq_fast_code, scratch_for, stage_weights, variant


def _fusable_conv(g: Graph, add: Op, k: int) -> bool:
    t = add.inputs[k]
    conv = g.producer(t)
    return (conv is not None and conv.kind == "conv2d" and variant(conv) == "default"
            and not conv.attrs.get("pool") and "add" not in conv.attrs and t != g.output
            and g.consumers(t) == [add] and op_rounding(g, conv) == op_rounding(g, add)
            and rq_fast_code(g, conv) & 1 == 1)


def _ready_before(g: Graph, op: Op, index: int) -> bool:
    """Whether every input of ``op`` is produced before position ``index`` (or is the graph input)."""
    pos = {o.output: i for i, o in enumerate(g.ops)}
    return all(t == g.input or pos.get(t, len(g.ops)) < index for t in op.inputs)


def fuse_conv_add(g: Graph) -> list[str]:
    """Rewrite each fusable conv + add pair in place (see the module docstring); returns the names of
    the convs that now carry an add."""
    fused = []
    for add in [op for op in g.ops if op.kind == "add"]:
        if len(add.inputs) != 2 or g.tensors[add.inputs[0]].shape != g.tensors[add.inputs[1]].shape:
            continue
        if add.inputs[0] == add.inputs[1]:
            continue
        pos = {o.name: i for i, o in enumerate(g.ops)}
        best = None
        for k in (0, 1):
            if not _fusable_conv(g, add, k):
                continue
            conv, skip = g.producer(add.inputs[k]), add.inputs[1 - k]
            sp = g.producer(skip)
            if sp is None or pos[sp.name] < pos[conv.name]:
                best = (0, k, None)  # the skip is ready: no move
                break
            if _ready_before(g, sp, pos[conv.name]) and best is None:
                best = (1, k, sp)  # the skip's producer moves to just before the conv
        if best is None:
            continue
        _, k, move = best
        conv = g.producer(add.inputs[k])
        if move is not None:
            g.ops.remove(move)
            g.ops.insert(g.ops.index(conv), move)
        a, mid = add.attrs, g.tensors[conv.output]
        j = 1 - k
        conv.attrs["add"] = {
            "mid_zp": mid.zero_point, "skip_zp": g.tensors[add.inputs[j]].zero_point,
            "left_shift": a["left_shift"], "mult": [a["mult"][k], a["mult"][j]],
            "shift": [a["shift"][k], a["shift"][j]], "out_mult": a["out_mult"], "out_shift": a["out_shift"],
            "act": list(a["act"]), "name": add.name,
        }
        del g.tensors[conv.output]
        conv.inputs = [conv.inputs[0], add.inputs[j]]
        conv.output = add.output
        g.ops.remove(add)
        fused.append(conv.name)
    return fused


def layout(g: Graph) -> None:
    """The passes every compile runs on the int8 graph before it plans the arena (attrs changed in
    place): pointwise layers where four pixels a weight pass fit the arena, dense convs off the
    arena's peak read their weights from SRAM, then residual adds fused into the conv before them
    and both chosen again within that arena. The budget penalty's exact arena
    (compress/resources.compiled_arena_bytes) runs the same, so it plans what compile plans."""
    pointwise_4px(g)
    stage_weights(g)
    fuse_and_stage(g)


def fuse_and_stage(g: Graph) -> list[str]:
    """After pointwise_4px and stage_weights: fuse the residual adds (fuse_conv_add), then choose
    both again. Fusion frees the conv output's buffer; the weights are then staged into SRAM up to
    the arena the unfused graph needed, never beyond: IC's peak (49.8 KB at conv2d_2) falls by
    16 KB, which lets layers that were at the old peak read their weights from SRAM (conv2d_9's
    36 KB once conv2d_10's move lets conv2d_8's output die before it). The add's tables then go to
    SRAM only where that arena already has room: in IC the last 2 KB of tables would raise the RAM
    by 2,048 B for 0.2 % of the cycles (1.515 against 1.518 flash-aware est. cycles/MAC). Returns
    the convs that carry an add (none: the graph and its marks are left as they were)."""
    from ..plan import plan

    if not any(op.kind == "add" for op in g.ops):  # nothing to fuse: no plan to make (most graphs, every compile)
        return []
    before = plan(g, scratch=scratch_for(g)).arena_bytes
    fused = fuse_conv_add(g)
    if fused:
        pointwise_4px(g)
        stage_weights(g, peak=before)
        stage_fused_tables(g, 0)  # where the staged weights left room: never raises the arena
    return fused


def stage_fused_tables(g: Graph, peak: int) -> list[str]:
    """Set attrs["add_stage"] on the fused convs (ops/conv2d.py: fused_tab_bytes): their add's
    tables and their records copied into SRAM (2), the tables alone (1), or nothing, the most that
    keeps the arena within ``peak`` (or the arena as it is, if larger), the largest outputs first;
    returns the names of those staged."""
    from ..plan import plan

    def arena() -> int:
        return plan(g, scratch=scratch_for(g)).arena_bytes

    ops = [op for op in g.ops if "add" in op.attrs]
    for op in ops:
        op.attrs.pop("add_stage", None)
    limit, marked = max(peak, arena()), []
    for op in sorted(ops, key=lambda op: -g.tensors[op.output].size):
        for level in (2, 1):
            op.attrs["add_stage"] = level
            if arena() <= limit:
                marked.append(op.name)
                break
        else:
            del op.attrs["add_stage"]
    return marked
