"""Deep Compression on LeNet-5: pruned + int8 + sparse storage against the dense int8 and float32
models, measured on the held-out MNIST split (host C, bit-exact checked) and in estimated
Cortex-M4 cycles (mcudeploy.cycles), optionally also through the emulated board.

    mcudeploy compress examples/lenet5.py:lenet5 --weights W --data mnist --sparsity 0.95 -o pruned.pt2
    python benchmarks/deep_compression.py pruned.pt2 [--emulate N] [--json F]

Prints top-1 on the 2,000 held-out MNIST samples (host C engine, every sample checked bit-exact
against the numpy reference), footprints, and estimated Cortex-M4 cycles per layer for the dense
int8 model and the pruned one (same compiler, same dense kernels; the pruned layers take the
format the cost model picks). --emulate N also validates N samples on the emulated board.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from mcudeploy import datasets, hostrun
from mcudeploy import reference as R
from mcudeploy.bench import bench_project
from mcudeploy.paths import ROOT
from mcudeploy.pipeline import compile_model, run_module
from mcudeploy.project import Project
from mcudeploy.train import cached_trained


def measure(outdir: Path, x, y, tmp: Path) -> dict:
    prj = Project(outdir)
    g = prj.graph
    xq = R.prepare_input(g, x)
    got = hostrun.run_host(hostrun.build_host(prj.engine_dir, tmp / (outdir.name + "_h")), xq, g.tensors[g.output].size)
    ref = R.run(g, xq)
    flo = run_module(prj.float_model(), torch.from_numpy(x)).numpy()
    b = bench_project(prj, x[:1])
    r = prj.report
    sizes = {op.name: int(op.arrays["weight"].size) for op in g.ops if "weight" in op.arrays}
    return {"samples": len(x), "bit_exact": int((got == ref).all(axis=1).sum()),
            "accuracy_float": float((flo.argmax(1) == y).mean()), "accuracy_int8": float((got.argmax(1) == y).mean()),
            "estimated_cycles": b["estimated_cycles"], "instructions": b["instructions"],
            "weight_bytes": r["weight_bytes"], "arena_bytes": r["arena_bytes"], "footprint_bytes": r["footprint_bytes"],
            "float32_bytes": r["float32_bytes"], "sparsity": r["sparsity"],
            "layers": [dict({k: row[k] for k in ("name", "format", "nonzeros", "weight_bytes", "bytes", "macs",
                                                 "macs_done")}, weights=sizes.get(row["name"], 0))
                       for row in r["layers"]],
            "bench_layers": b["layers"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pruned", help="pruned LeNet-5 archive from `mcudeploy compress`")
    ap.add_argument("--emulate", type=int, default=0, help="also validate N samples on the emulated F446RE")
    ap.add_argument("--json")
    args = ap.parse_args()
    x, y = datasets.load("mnist", "test")
    _, w = cached_trained("lenet5")
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        dense = compile_model(f"{ROOT}/examples/lenet5.py:lenet5", str(w), "mnist", tmp / "dense")
        sparse = compile_model(args.pruned, None, "mnist", tmp / "pruned")
        d, s = measure(dense.outdir, x, y, tmp), measure(sparse.outdir, x, y, tmp)
        out = {"dense_int8": d, "pruned_sparse_int8": s,
               "compression_ratio": s["float32_bytes"] / s["footprint_bytes"],
               "speedup_vs_dense_int8": d["estimated_cycles"] / s["estimated_cycles"],
               "accuracy_drop_points": 100 * (d["accuracy_float"] - s["accuracy_int8"])}
        if args.emulate:
            from mcudeploy.validate import validate

            v = validate(sparse.outdir, "nucleo-f446re", True, "mnist", limit=args.emulate, results=tmp / "v.jsonl")
            out["emulated"] = {k: v[k] for k in ("samples", "bit_exact", "accuracy_device", "count_per_inference",
                                                 "counter", "flash_bytes", "ram_bytes")}
    print(f"{'':<22}{'float32':>12}{'dense int8':>14}{'pruned sparse int8':>20}")
    print(f"{'top-1 (2,000 held-out)':<22}{100 * d['accuracy_float']:>11.2f}%{100 * d['accuracy_int8']:>13.2f}%"
          f"{100 * s['accuracy_int8']:>19.2f}%")
    print(f"{'footprint bytes':<22}{s['float32_bytes']:>12,}{d['footprint_bytes']:>14,}{s['footprint_bytes']:>20,}")
    print(f"{'estimated_cycles':<22}{'':>12}{d['estimated_cycles']:>14,}{s['estimated_cycles']:>20,}")
    print(f"{'bit-exact':<22}{'':>12}{d['bit_exact']:>14,}{s['bit_exact']:>20,}")
    print(f"compression {out['compression_ratio']:.2f}x, {out['speedup_vs_dense_int8']:.2f}x fewer estimated cycles "
          f"than dense int8, top-1 drop {out['accuracy_drop_points']:.2f} points vs float; sparsity "
          f"{100 * s['sparsity']:.1f}%")
    print(f"\n{'layer':<7}{'format':<8}{'non-zeros':>10}{'sparsity':>10}{'dense est. cycles':>19}"
          f"{'pruned est. cycles':>20}{'ratio':>7}  bytes (values/indices/scales/bias)")
    dl = {row["name"]: row for row in d["bench_layers"]}
    for row, bl in zip(s["layers"], s["bench_layers"]):
        dc, pc = dl[row["name"]]["estimated_cycles"], bl["estimated_cycles"]
        sp = 1 - row["nonzeros"] / max(row["weights"], 1)
        b = row["bytes"]
        print(f"{row['name']:<7}{row['format']:<8}{row['nonzeros']:>10,}{100 * sp:>9.1f}%{dc:>19,}{pc:>20,}"
              f"{dc / pc:>6.2f}x  {b['values']}/{b['indices']}/{b['scales']}/{b['bias']}")
    print(f"{'total':<25}{'':>10}{d['estimated_cycles']:>19,}{s['estimated_cycles']:>20,}"
          f"{d['estimated_cycles'] / s['estimated_cycles']:>6.2f}x")
    if "emulated" in out:
        e = out["emulated"]
        print(f"\nemulated NUCLEO-F446RE (QEMU), pruned model: {e['bit_exact']:,} / {e['samples']:,} bit-exact with "
              f"the reference, top-1 {100 * e['accuracy_device']:.2f} %, {e['count_per_inference']:,} "
              f"{e['counter']} per inference, flash {e['flash_bytes']:,} B, RAM {e['ram_bytes']:,} B")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
