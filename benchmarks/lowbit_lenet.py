"""Ternary, ternary + pruning and int4 LeNet-5 on MNIST against float32 and dense int8: footprint
(weights + indices + scales + bias + activation arena), top-1 on the held-out split (host C engine,
every sample checked bit-exact against the numpy reference), estimated Cortex-M4 cycles
(mcudeploy.cycles), and with --emulate N the first N samples over the UART of the emulated board.

    python benchmarks/lowbit_lenet.py [--sparsity 0.9] [--epochs 2] [--emulate 100] [--json F]

Each variant is made with `compress` (the same calls as `mcudeploy compress ... --weight-bits B
[--sparsity S]`) from the cached trained LeNet-5, then compiled with the cost model's formats.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from mcudeploy import datasets
from mcudeploy.compress import compress_file
from mcudeploy.paths import ROOT
from mcudeploy.pipeline import compile_model
from mcudeploy.train import cached_trained

sys.path.insert(0, str(Path(__file__).parent))
from deep_compression import measure


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sparsity", type=float, default=0.9, help="pruning of the ternary + pruning variant")
    ap.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs per round")
    ap.add_argument("--emulate", type=int, default=0, help="also validate N samples of each on the emulated F446RE")
    ap.add_argument("--json")
    args = ap.parse_args()
    x, y = datasets.load("mnist", "test")
    _, w = cached_trained("lenet5")
    spec = f"{ROOT}/examples/lenet5.py:lenet5"
    variants = {"ternary": {"weight_bits": 2}, "ternary + pruning": {"weight_bits": 2, "sparsity": args.sparsity},
                "int4": {"weight_bits": 4}}
    out: dict = {}
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        dense = compile_model(spec, str(w), "mnist", tmp / "dense")
        out["dense int8"] = measure(dense.outdir, x, y, tmp)
        for name, kw in variants.items():
            pt2 = tmp / (name.replace(" ", "_").replace("+", "p") + ".pt2")
            res = compress_file(spec, str(w), "mnist", pt2, epochs=args.epochs, **kw)
            prj = compile_model(str(pt2), None, "mnist", tmp / pt2.stem)
            m = measure(prj.outdir, x, y, tmp)
            m["compress"] = {k: res.report[k] for k in ("settings", "accuracy", "lowbit")}
            if args.emulate:
                from mcudeploy.validate import validate

                v = validate(prj.outdir, "nucleo-f446re", True, "mnist", limit=args.emulate,
                             results=tmp / f"{pt2.stem}.jsonl")
                m["emulated"] = {k: v[k] for k in ("samples", "bit_exact", "accuracy_device", "count_per_inference",
                                                   "counter", "flash_bytes", "ram_bytes")}
            out[name] = m
    d = out["dense int8"]
    f32 = d["float32_bytes"]
    print(f"LeNet-5, MNIST ({len(y):,} held-out samples); float32 top-1 {100 * d['accuracy_float']:.2f} %, "
          f"footprint {f32:,} B")
    print(f"{'variant':<19}{'top-1':>8}{'loss':>7}{'footprint B':>13}{'vs f32':>8}{'est. cycles':>13}"
          f"{'vs int8':>9}{'bit-exact':>13}  formats")
    for name, m in out.items():
        loss = 100 * (d["accuracy_float"] - m["accuracy_int8"])
        fmts = " ".join(f"{r['name']}:{r['format']}" for r in m["layers"] if r["format"] != "-")
        print(f"{name:<19}{100 * m['accuracy_int8']:>7.2f}%{loss:>7.2f}{m['footprint_bytes']:>13,}"
              f"{f32 / m['footprint_bytes']:>7.1f}x{m['estimated_cycles']:>13,}"
              f"{d['estimated_cycles'] / m['estimated_cycles']:>8.2f}x{m['bit_exact']:>6,}/{m['samples']:<6,}  {fmts}")
        m["compression_vs_float32"] = f32 / m["footprint_bytes"]
        m["loss_points_vs_float"] = loss
    for name, m in out.items():
        if "emulated" in m:
            e = m["emulated"]
            print(f"emulated F446RE, {name}: {e['bit_exact']} / {e['samples']} bit-exact, top-1 "
                  f"{100 * e['accuracy_device']:.2f} %, {e['count_per_inference']:,} {e['counter']}/inference, "
                  f"flash {e['flash_bytes']:,} B")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
