"""Ternary, ternary + pruning and int4 LeNet-5 on MNIST against float32 and dense int8: footprint
(weights + indices + scales + bias + activation arena), top-1 on the held-out split (host C engine,
every sample checked bit-exact against the numpy reference), estimated Cortex-M4 cycles
(mcudeploy.cycles), and with --emulate N the first N samples over the UART of the emulated board.

    python benchmarks/lowbit_lenet.py [--sparsity 0.9] [--epochs 2] [--emulate 100] [--json F]
        [--figures benchmarks/figures/lowbit_lenet.json] [--only "ternary + channels + pruning"]

Each variant is made with `compress` (the same calls as `mcudeploy compress ... --weight-bits B
[--sparsity S]`) from the cached trained LeNet-5, then compiled with the cost model's formats.
The last variant, "ternary + channels + pruning", is two compress runs: `--structured --sparsity
CHANNELS` (whole filters and units removed: fewer per-channel scales and biases, a smaller arena),
then `--weight-bits 2` with per-layer unstructured sparsity (--layer-sparsity, mostly fc1), whose
pruned fc layers the compiler stores as ternary_sparse (one gap byte a non-zero).
--archive "NAME=FILE.pt2" measures an archive made earlier under that variant's name instead of
compressing again (its compress report is then not in the output).

Footprint ratios are against the dense float32 LeNet-5 (4 bytes a parameter + a float32 arena),
whatever the variant's own width.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
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
    ap.add_argument("--channels", type=float, default=0.5, help="channel fraction removed (structured) first in "
                    "the ternary + channels + pruning variant")
    ap.add_argument("--layer-sparsity", default="conv1=0,conv2=0.2,fc1=0.92,fc2=0.6,fc3=0.2",
                    help="per-layer unstructured sparsity of that variant")
    ap.add_argument("--lr", type=float, default=2e-3, help="fine-tuning learning rate of that variant")
    ap.add_argument("--layer-format", default="",
                    help="formats that variant's layers are forced to, e.g. conv2=ternary,fc3=ternary (the "
                         "cost model's 25 %% cycle allowance keeps small ternary layers int8; this trades cycles for bytes)")
    ap.add_argument("--distill", action="store_true",
                    help="that variant's two fine-tunings against the model before each step (compress --distill): "
                         "the dense net's soft outputs, then the channel-pruned net's")
    ap.add_argument("--only", action="append", help="measure only these variants (repeatable)")
    ap.add_argument("--archive", action="append", default=[], metavar="NAME=FILE.pt2",
                    help="measure this archive as variant NAME instead of compressing")
    ap.add_argument("--json")
    ap.add_argument("--figures", help="also write the flat table (documented keys) here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    x, y = datasets.load("mnist", "test")
    _, w = cached_trained("lenet5")
    spec = f"{ROOT}/examples/lenet5.py:lenet5"
    variants = {"ternary": {"weight_bits": 2}, "ternary + pruning": {"weight_bits": 2, "sparsity": args.sparsity},
                "int4": {"weight_bits": 4}, CHANNELS: {}}
    archives = dict(a.split("=", 1) for a in args.archive)
    variants = {k: v for k, v in variants.items() if not args.only or k in args.only}
    out: dict = {}
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        dense = compile_model(spec, str(w), "mnist", tmp / "dense")
        out["dense int8"] = measure(dense.outdir, x, y, tmp)
        for name, kw in variants.items():
            pt2 = tmp / (name.replace(" ", "_").replace("+", "p") + ".pt2")
            report = None
            if name in archives:
                pt2 = Path(archives[name])
            elif name == CHANNELS:
                report = channels_then_ternary(spec, str(w), pt2, args)
            else:
                report = compress_file(spec, str(w), "mnist", pt2, epochs=args.epochs, **kw).report
            fmt = {k: v for k, v in (p.split("=") for p in args.layer_format.split(",") if p)}
            prj = compile_model(str(pt2), None, "mnist", tmp / pt2.stem,
                                weights_format=fmt if name == CHANNELS and fmt else "auto")
            m = measure(prj.outdir, x, y, tmp)
            if report is not None:
                m["compress"] = {k: report.get(k) for k in ("settings", "accuracy", "lowbit", "channel_groups")}
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
    if args.figures:
        Path(args.figures).write_text(json.dumps(figures(out, len(y)), indent=1) + "\n")


CHANNELS = "ternary + channels + pruning"
KEYS = {"variant": "how the weights were made (compress settings in the benchmark's docstring)",
        "top1_pct": "top-1 % of the int8 host C engine on the held-out MNIST split",
        "loss_points_vs_float": "float32 dense top-1 minus top1_pct (points)",
        "footprint_bytes": "flash bytes of weights + indices + scales + bias, plus the activation arena",
        "weight_bytes": "the flash part of footprint_bytes", "arena_bytes": "the RAM part",
        "ratio_vs_float32": "float32 dense LeNet-5 bytes (parameters + float arena) / footprint_bytes",
        "estimated_cycles": "Cortex-M4 timing model (mcudeploy.cycles) on one inference",
        "speedup_vs_dense_int8": "dense int8 estimated_cycles / estimated_cycles",
        "bit_exact_host": "held-out samples whose host C output equals the numpy reference",
        "bit_exact_emulated": "samples bit-exact on the emulated F446RE (QEMU), of emulated_samples",
        "formats": "storage format the compiler's cost model chose per conv/fc layer"}


def figures(out: dict, n: int) -> dict:
    """The table as flat rows with the documented keys (benchmarks/figures/lowbit_lenet.json)."""
    d = out["dense int8"]
    rows = []
    for name, m in out.items():
        e = m.get("emulated", {})
        rows.append({"variant": name, "top1_pct": round(100 * m["accuracy_int8"], 2),
                     "loss_points_vs_float": round(100 * (d["accuracy_float"] - m["accuracy_int8"]), 2),
                     "footprint_bytes": m["footprint_bytes"], "weight_bytes": m["weight_bytes"],
                     "arena_bytes": m["arena_bytes"], "ratio_vs_float32": round(d["float32_bytes"] / m["footprint_bytes"], 2),
                     "estimated_cycles": m["estimated_cycles"],
                     "speedup_vs_dense_int8": round(d["estimated_cycles"] / m["estimated_cycles"], 3),
                     "bit_exact_host": m["bit_exact"], "host_samples": m["samples"],
                     "bit_exact_emulated": e.get("bit_exact"), "emulated_samples": e.get("samples"),
                     "formats": " ".join(f"{r['name']}:{r['format']}" for r in m["layers"] if r["format"] != "-")})
    return {"model": "LeNet-5", "data": "MNIST", "held_out_samples": n,
            "float32_bytes": d["float32_bytes"], "float_top1_pct": round(100 * d["accuracy_float"], 2),
            "keys": KEYS, "rows": rows}


def channels_then_ternary(spec: str, weights: str, pt2: Path, args) -> dict:
    """compress --structured --sparsity CHANNELS, then --weight-bits 2 --layer-sparsity ... (one
    prune round, one ternary round, --epochs each) on the narrower net; returns both reports."""
    from mcudeploy.compress import compress_model
    from mcudeploy.compress.run import load_module
    from mcudeploy.frontend import export_module

    model, _ = load_module(spec, weights)
    train, test = datasets.load("mnist", "train"), datasets.load("mnist", "test")
    ex = torch.from_numpy(test[0][:1])
    first = compress_model(model, ex, train=train, test=test, structured=True, sparsity=args.channels,
                           epochs=args.epochs, lr=args.lr, distill=args.distill)
    per = {k + ".weight": float(v) for k, v in (p.split("=") for p in args.layer_sparsity.split(","))}
    ws = {n: p.numel() for n, p in first.model.named_parameters() if n in per}
    total = sum(ws[n] * per[n] for n in ws) / sum(ws.values())
    second = compress_model(first.model, ex, train=train, test=test, sparsity=total, layer_sparsity=per,
                            weight_bits=2, epochs=args.epochs, steps=1, lr=args.lr,
                            distill=args.distill)
    torch.export.save(export_module(second.model, ex), str(pt2))
    return dict(second.report, channel_groups=first.report.get("channel_groups"),
                accuracy={"structured": first.report["accuracy"], "ternary": second.report["accuracy"]})


if __name__ == "__main__":
    main()
