"""What patch-based inference of the first layers (MCUNetV2) would give for peak activation RAM,
computed from mcudeploy's own planner and scratch formulas on a compiled project (no kernel runs).

    python benchmarks/patch_inference_ram.py PROJECT [PROJECT ...] [--json F]

Per project: today's arena (the planner's, in-place depthwise included), then for a split after
each of the first layers that shrink the map and p x p patches (2..4): the stage's peak while it
runs patch by patch (the whole stage output, plus the largest tile input + tile output + the
kernel's scratch for that tile, exactly as scratch_bytes computes it for the tile's shape; an
in-place depthwise counts its larger buffer once), the peak of the rest (the largest sum of
buffers live at one op in today's plan, from the split on), and the MACs recomputed in the tiles'
halos (interior tiles, an upper bound). A tile is the receptive field of the stage output's
ceil(H/p) x ceil(W/p) block, clipped to the map. Estimates of the planner's figure, not a build.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
from pathlib import Path

from mcudeploy.codegen import kernels as K
from mcudeploy.codegen.kernels import scratch_bytes, scratch_for
from mcudeploy.ir import Graph
from mcudeploy.plan import plan


def _kernel(op) -> tuple[int, int]:
    w = op.arrays["weight"]
    return (w.shape[1], w.shape[2]) if op.kind == "conv2d" else (w.shape[0], w.shape[1])


def stage_peak(g: Graph, n: int, p: int) -> tuple[int, float]:
    """Peak bytes of ops[0:n] run in p x p patches, and the MACs of the tiles over the stage's."""
    ops = g.ops[:n]
    out = g.tensors[ops[-1].output]
    th, tw = math.ceil(out.shape[0] / p), math.ceil(out.shape[1] / p)
    tiles = {}
    for op in reversed(ops):  # receptive field of one output block, layer by layer back to the input
        tiles[op.output] = (th, tw)
        kh, kw = _kernel(op)
        sh, sw = op.attrs["stride"]
        h, w, _ = g.tensors[op.inputs[0]].shape
        th, tw = min((th - 1) * sh + kh, h), min((tw - 1) * sw + kw, w)
        tiles[op.inputs[0]] = (th, tw)
    gt = copy.deepcopy(g)
    for name, (h, w) in tiles.items():
        gt.tensors[name].shape = (h, w, g.tensors[name].shape[2])
    full_out = out.size
    peak, tile_macs, macs = full_out, 0, 0
    for i, op in enumerate(ops):
        t_in, t_out = gt.tensors[op.inputs[0]], gt.tensors[op.output]
        in_b = 0 if op.inputs[0] == g.input else t_in.size  # the graph input stays in the caller's buffer
        out_b = 0 if i == n - 1 else t_out.size  # the last op writes into the stage output
        if op.kind == "dwconv2d" and in_b and out_b and K.dw_in_place_ok(gt, op):
            in_b, out_b = max(in_b, out_b), 0
        peak = max(peak, full_out + in_b + out_b + scratch_bytes(gt, op))
        kh, kw = _kernel(op)
        per = kh * kw * (1 if op.kind == "dwconv2d" else g.tensors[op.inputs[0]].shape[2])
        tile_macs += p * p * t_out.size * per
        macs += g.tensors[op.output].size * per
    return peak, tile_macs / macs


def rest_peak(g: Graph, n: int) -> int:
    """The largest sum of buffers live at one op of today's plan, from op n on, with the stage's
    depthwise layers out of place (in place, a stride-2 layer's output would keep its larger
    input buffer alive into the rest; run by patches, the stage output is a buffer of its own)."""
    stage = {op.name for op in g.ops[:n]}
    rule = K.dw_in_place_ok
    K.dw_in_place_ok = lambda g_, op: op.name not in stage and rule(g_, op)  # the planner's in-place test
    try:
        pl = plan(g, scratch_for(g))
    finally:
        K.dw_in_place_ok = rule
    return max(sum(pl.sizes[b] for b in pl.sizes if pl.lifetimes[b][0] <= i <= pl.lifetimes[b][1])
               for i in range(n, len(g.ops)))


def measure(project: Path) -> dict:
    g = Graph.load(project)
    today = plan(g, scratch_for(g)).arena_bytes
    rows = []
    chain = 0
    for op in g.ops:  # a linear chain of convs from the input
        if op.kind not in ("conv2d", "dwconv2d") or op.attrs.get("pool"):
            break
        chain += 1
    splits = [i + 1 for i in range(chain) if g.tensors[g.ops[i].output].shape[0] < g.tensors[g.ops[i].inputs[0]].shape[0]]
    for n in splits[:3]:
        for p in (2, 3, 4):
            sp, overhead = stage_peak(g, n, p)
            rest = rest_peak(g, n)
            rows.append({"split_after": g.ops[n - 1].name, "patches": f"{p}x{p}", "stage_peak_bytes": sp,
                         "rest_peak_live_bytes": rest, "peak_bytes": max(sp, rest),
                         "stage_macs_factor": round(overhead, 3)})
    return {"project": str(project), "arena_bytes_today": today, "patch_based": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("projects", nargs="+", type=Path)
    ap.add_argument("--json")
    args = ap.parse_args()
    rep = [measure(p) for p in args.projects]
    for r in rep:
        print(f"{r['project']}: arena today {r['arena_bytes_today']:,} B")
        for row in r["patch_based"]:
            print(f"  split after {row['split_after']:<12} {row['patches']}: stage {row['stage_peak_bytes']:>7,} B, "
                  f"rest {row['rest_peak_live_bytes']:>7,} B -> peak {row['peak_bytes']:>7,} B, "
                  f"stage MACs x{row['stage_macs_factor']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rep, indent=1) + "\n")


if __name__ == "__main__":
    main()
