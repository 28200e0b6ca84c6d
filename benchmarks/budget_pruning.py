"""Budget-driven (differentiable, resource-aware) against uniform structured pruning, at equal budgets,
on ResNet-small and the depthwise-separable dwnet (Fashion-MNIST), measured on the built firmware.

    python benchmarks/budget_pruning.py [--models resnet_small,dwnet] [--ram-fractions 0.5,0.33,0.25]
        [--limit 3000] [--epochs 2] [--eval-limit 5000] [--emulate 20] [--json F] [--plot docs/budget_pruning.png]
        [--dense-epochs 5 --dense-limit 0] [--distill] [--gate-frac 0.25] [--threads 1] [--refill 0.95]
    python benchmarks/budget_pruning.py --merge a.json,b.json --json F --plot P --figures F2

``--methods control`` adds the budget-driven schedule run with nothing pruned (what the training alone
gives the dense model) and ``--seed`` repeats a budget-driven point with another seed.
``--dense-epochs``/``--dense-limit`` (0: the whole training split) choose the dense model (trained once
by ``train.cached_trained`` and cached); both methods start from that same model. ``--distill``:
both methods fine-tune against the dense model's outputs (same temperature and weight). ``--merge``
combines the JSONs of runs made per model (e.g. in parallel), prints the tables, draws the plot and
writes ``--figures``: one flat row per point for a README generator (keys documented in ``FIGURE_KEYS``).

For each model the dense int8 engine is compiled, built for the emulated F446RE and benched; each
budget is a fraction of its measured arena (``ram=``). Budget-driven: ``budget_compress`` (gates +
penalty + measured check). Uniform: the smallest ``--structured --sparsity`` level on a 0.05 grid whose
planner arena meets the same budget, fine-tuned with the same epochs, samples, lr and seed. Every
result is compiled, built (arena and engine flash from the link map), benched (est. cycles), its
int8 top-1 taken on held-out samples with the host-compiled engine (each checked bit-exact against
the numpy reference), and ``--emulate`` samples run on the emulated board (QEMU) over the UART.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from mcudeploy import datasets
from mcudeploy.compress import compress_model
from mcudeploy.compress.budget import Budget
from mcudeploy.compress.budget_run import budget_compress, dense_measure
from mcudeploy.compress.gates import MIN_WIDTH_FRAC
from mcudeploy.compress.measure import compile_to, int8_accuracy, measure_project
from mcudeploy.compress.uniform import uniform_ratio_for
from mcudeploy.train import cached_trained


def evaluate_point(model, calib, test, outdir: Path, emulate: int, data: str) -> dict:
    compile_to(model, calib, outdir)
    m = measure_project(outdir)
    acc = int8_accuracy(outdir, *test, outdir.parent / (outdir.name + "_host"))
    row = {k: m[k] for k in ("ram", "flash", "cycles", "planner_arena_bytes", "weight_bytes")}
    row.update(int8_top1=acc["top1"], int8_samples=acc["samples"], host_bit_exact=acc["host_bit_exact"])
    if emulate:
        from mcudeploy.validate import validate

        v = validate(outdir, "nucleo-f446re", True, data, limit=emulate, results=outdir.parent / (outdir.name + ".jsonl"))
        row["emulated"] = {k: v[k] for k in ("samples", "bit_exact", "count_per_inference", "counter")}
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dense-epochs", type=int, default=None, help="epochs of the dense model (default: its recipe)")
    ap.add_argument("--dense-limit", type=int, default=-1, help="its training samples (0: all; default: recipe)")
    ap.add_argument("--distill", action="store_true", help="both methods fine-tune against the dense model's outputs")
    ap.add_argument("--gate-frac", type=float, default=0.6, help="share of the schedule in which the gates learn")
    ap.add_argument("--threads", type=int, default=None, help="pin torch to this many threads (a shared machine)")
    ap.add_argument("--refill", type=float, default=None,
                    help="budget-driven: a build measured under this share of the budget (and of the estimate) "
                         "reopens channels to use it (budget_compress refill; e.g. 0.95)")
    ap.add_argument("--min-width-frac", type=float, default=None,
                    help="budget-driven: no channel group closes below max(4, ceil(this * its dense width)) "
                         "(default: the library's, gates.MIN_WIDTH_FRAC; 0: off)")
    ap.add_argument("--seed", type=int, default=0, help="budget-driven: the schedule's seed (a repeat)")
    ap.add_argument("--methods", default="budget,uniform",
                    help="which methods to run (runs can be split); control: the budget-driven schedule with "
                         "nothing pruned, what the training alone gives the dense model")
    ap.add_argument("--no-dense-eval", action="store_true",
                    help="measure the dense model (the tables pruning needs) but take its row from another run's merge")
    ap.add_argument("--merge", default=None, help="comma-separated JSONs of earlier runs: combine, tables, plot")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown (docs/budget_pruning.md)")
    ap.add_argument("--figures", default=None, help="flat JSON for the README generator (with --merge or a run)")
    ap.add_argument("--models", default="resnet_small,dwnet")
    ap.add_argument("--ram-fractions", default="0.5,0.33,0.25", help="budgets as fractions of the dense arena")
    ap.add_argument("--limit", type=int, default=3000, help="training samples")
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--eval-limit", type=int, default=5000, help="held-out samples for top-1")
    ap.add_argument("--emulate", type=int, default=20, help="samples run on the emulated board")
    ap.add_argument("--json", default="benchmarks/budget_pruning.json")
    ap.add_argument("--plot", default="docs/budget_pruning.png")
    args = ap.parse_args()
    if args.merge:
        out = merge([Path(f) for f in args.merge.split(",")])
        return finish(out, args)
    torch.set_num_threads(args.threads or 1)
    if args.threads:  # train_classifier sets 2 threads per call; keep this run at the pinned count
        torch.set_num_threads = lambda n: None
    say = lambda s: print(s, file=sys.stderr, flush=True)
    data = "fashion-mnist"
    train = datasets.load(data, "train", limit=args.limit or None)
    test = datasets.load(data, "test", limit=args.eval_limit)
    val = (test[0][:1000], test[1][:1000])
    calib = train[0][:200]
    example = torch.from_numpy(test[0][:1])
    out: dict = {"data": data, "train_samples": len(train[1]), "test_samples": len(test[1]), "epochs": args.epochs,
                 "lr": args.lr, "distill": "T 4, alpha 0.7" if args.distill else None, "gate_frac": args.gate_frac,
                 "emulated_samples": args.emulate, "models": {}}
    floor = {} if args.min_width_frac is None else {"min_width_frac": args.min_width_frac}
    out["min_width_frac"] = floor.get("min_width_frac", MIN_WIDTH_FRAC)
    if args.seed:  # only then: runs made before the flag existed (seed 0) still merge
        out["seed"] = args.seed
    if args.refill is not None:  # only then: merging with runs made before the flag existed stays possible
        out["refill"] = args.refill
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for name in args.models.split(","):
            t0 = time.perf_counter()
            model, wpath = cached_trained(name, data, args.dense_epochs,
                                          None if args.dense_limit == 0 else args.dense_limit)
            model.eval()
            meta = wpath.with_suffix(".json")
            dense_train = json.loads(meta.read_text()) if meta.is_file() else {"weights": wpath.name}
            dense_train["weights"] = wpath.name
            say(f"{name} dense model {wpath.name} ({time.perf_counter() - t0:.0f} s to load or train)")
            dense = dense_measure(model, calib, tmp / f"{name}_dense", log=say)
            d = None if args.no_dense_eval else evaluate_point(model, calib, test, tmp / f"{name}_dense_eval",
                                                                args.emulate, data)
            res = {"dense": d, "dense_training": dense_train, "points": []}
            out["models"][name] = res
            say(f"{name} dense: {d}")
            if "control" in args.methods:
                res["control"] = control(model, example, train, val, calib, test, dense, tmp / f"{name}_control", args,
                                         say, data, floor)
                Path(args.json).write_text(json.dumps(out, indent=1))
            for frac in [float(f) for f in args.ram_fractions.split(",") if "budget" in args.methods
                         or "uniform" in args.methods]:
                limits = {"ram": int(dense["ram"] * frac)}
                t0 = time.perf_counter()
                if "budget" not in args.methods:
                    b = None
                else:
                    b = budget_compress(model, example, train, val, Budget(**limits), epochs=args.epochs, lr=args.lr,
                                        workdir=tmp / f"{name}_b{frac}", dense=dense, log=say, distill=args.distill,
                                        gate_frac=args.gate_frac, refill=args.refill, seed=args.seed, **floor)
                    row = evaluate_point(b.model, calib, test, tmp / f"{name}_b{frac}_eval", args.emulate, data)
                    row.update(method="budget", budget=limits, met=b.report["met"],
                               seconds=round(time.perf_counter() - t0), train_seconds=b.report["seconds"],
                               channel_groups=b.report["channel_groups"], estimate={r["resource"]: r["estimate"]
                                                                                    for r in b.report["resources"]})
                    res["points"].append(row)
                    say(f"{name} budget {limits}: {row}")
                if "uniform" not in args.methods:
                    Path(args.json).write_text(json.dumps(out, indent=1))
                    continue
                t0 = time.perf_counter()
                ratio, est = uniform_ratio_for(model, example, calib, limits, dense)
                if ratio is None:
                    res["points"].append({"method": "uniform", "budget": limits, "met": False,
                                          "note": "no uniform level on the 0.05 grid meets it"})
                    continue
                u = compress_model(model, example, train=train, test=val, sparsity=ratio, structured=True,
                                   epochs=round(args.epochs), lr=args.lr, distill=args.distill)
                row = evaluate_point(u.model, calib, test, tmp / f"{name}_u{frac}_eval", args.emulate, data)
                row.update(method="uniform", budget=limits, ratio=ratio, met=row["ram"] <= limits["ram"],
                           seconds=round(time.perf_counter() - t0), channel_groups=u.report["channel_groups"],
                           estimate={k: round(v) for k, v in est.items() if v is not None})
                res["points"].append(row)
                say(f"{name} uniform {ratio}: {row}")
                Path(args.json).write_text(json.dumps(out, indent=1))
    Path(args.json).write_text(json.dumps(out, indent=1))
    finish(out, args)


def control(model, example, train, val, calib, test, dense, wd: Path, args, say, data, floor) -> dict:
    """``--methods control``: the budget-driven schedule (epochs, gates, distillation, lr, seed) on
    the dense model under a budget it already meets (twice its arena, no margin), so no channel
    closes: what the extra training alone gives the dense model. A drop measured against this row
    is the pruning's, not the training's."""
    t0 = time.perf_counter()
    limits = {"ram": 2 * dense["ram"]}
    c = budget_compress(model, example, train, val, Budget(**limits), epochs=args.epochs, lr=args.lr, workdir=wd,
                        dense=dense, log=say, distill=args.distill, gate_frac=args.gate_frac, margin=1.0,
                        seed=args.seed, **floor)
    shrunk = [g for g in c.report["channel_groups"] if g["channels_after"] != g["channels_before"]]
    if shrunk:
        raise SystemExit(f"control: the gates closed channels under a budget of twice the arena: {shrunk}")
    row = evaluate_point(c.model, calib, test, wd.parent / (wd.name + "_eval"), args.emulate, data)
    row.update(method="control", budget=limits, seconds=round(time.perf_counter() - t0))
    say(f"control: {row}")
    return row


def merge(paths: list[Path]) -> dict:
    """One result from runs made per model or per budget with the same settings (their settings, and
    their dense model's measured figures, must agree); points sorted by budget, largest first."""
    parts = [json.loads(p.read_text()) for p in paths]
    out = {k: v for k, v in parts[0].items() if k != "models"}
    out["models"] = {}
    for p, part in zip(paths, parts):
        for k, v in out.items():
            if k != "models" and part.get(k) != v:
                raise SystemExit(f"{p}: {k} = {part.get(k)!r}, the first run had {v!r}: merge runs made alike")
        for name, res in part["models"].items():
            have = out["models"].setdefault(name, {**res, "points": []})
            have["dense"] = have["dense"] or res["dense"]  # a --no-dense-eval run has none
            have["control"] = have.get("control") or res.get("control")
            if res["dense"] and have["dense"] != res["dense"]:
                raise SystemExit(f"{p}: the dense {name} measured differently: merge runs of the same dense model")
            have["points"] += res["points"]
    for res in out["models"].values():
        res["points"].sort(key=lambda q: (-q["budget"]["ram"], q["method"]))
    return out


def finish(out: dict, args) -> None:
    if args.merge:
        Path(args.json).write_text(json.dumps(out, indent=1))
    if any(r["dense"] is None for r in out["models"].values()):
        print(f"wrote {args.json}: a --no-dense-eval run, its tables come with --merge")
        return
    print(markdown_tables(out) if args.markdown else "", end="")
    print_tables(out)
    if args.figures:
        Path(args.figures).write_text(json.dumps(figures(out), indent=1) + "\n")
    if args.plot:
        from mcudeploy.sweep_plot import benchmark_plot

        benchmark_plot(out, Path(args.plot))


FIGURE_KEYS = {
    "model": "example network (examples/NAME.py)",
    "method": "dense, budget (budget-driven gates + resource penalty) or uniform (--structured --sparsity)",
    "ram_budget_bytes": "the arena budget of the point (None for dense)",
    "uniform_ratio": "fraction of channels removed per group (uniform only)",
    "arena_bytes": "measured: the mcd_arena_words symbol in the emulated F446RE firmware's link map",
    "arena_reduction": "dense arena / this arena",
    "engine_flash_bytes": "measured: engine/ objects in flash (weights, records, kernel code), same link map",
    "estimated_cycles": "one inference, Cortex-M4 timing model (bench), not silicon",
    "int8_top1_percent": "held-out int8 top-1 of the C engine compiled for the host",
    "drop_points": "dense int8 top-1 minus this one (percentage points)",
    "test_samples": "held-out samples behind int8_top1_percent",
    "host_bit_exact": "of test_samples, outputs equal to the numpy reference",
    "emulated_bit_exact": "samples bit-exact on the emulated board (QEMU netduinoplus2, UART)",
    "emulated_samples": "samples run on the emulated board",
    "met": "measured arena <= budget",
}


def figures(out: dict) -> dict:
    """Flat rows (one per point, the dense model first per network) for a README generator."""
    rows = []
    for name, res in out["models"].items():
        d = res["dense"]
        for p in [dict(d, method="dense")] + res["points"]:
            if "ram" not in p:
                continue
            e = p.get("emulated") or {}
            rows.append({"model": name, "method": p["method"], "ram_budget_bytes": (p.get("budget") or {}).get("ram"),
                         "uniform_ratio": p.get("ratio"), "arena_bytes": p["ram"],
                         "arena_reduction": round(d["ram"] / p["ram"], 2), "engine_flash_bytes": p["flash"],
                         "estimated_cycles": p["cycles"], "int8_top1_percent": p["int8_top1"],
                         "drop_points": round(d["int8_top1"] - p["int8_top1"], 2), "test_samples": p["int8_samples"],
                         "host_bit_exact": p["host_bit_exact"], "emulated_bit_exact": e.get("bit_exact"),
                         "emulated_samples": e.get("samples"), "met": p.get("met", True)})
    settings = {k: v for k, v in out.items() if k != "models"}
    settings["dense_training"] = {n: r.get("dense_training") for n, r in out["models"].items()}
    import datetime
    import subprocess

    from figures import machine  # benchmarks/figures.py: the same "when and where" as the other sets

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent, check=False).stdout.strip()
    return {"set": "budget_pruning", "date": datetime.date.today().isoformat(), "machine": machine(),
            "commit": commit or None,
            "what": "budget-driven against uniform structured pruning at equal RAM budgets (benchmarks/budget_pruning.py)",
            "keys": FIGURE_KEYS, "settings": settings, "rows": rows}


def markdown_tables(out: dict) -> str:
    """The tables of docs/budget_pruning.md, one per model."""
    lines = []
    for name, res in out["models"].items():
        d = res["dense"]
        lines += [(f"\n{name} (dense int8: {d['int8_top1']:.2f} %, arena {d['ram']:,} B, engine flash {d['flash']:,} B, "
                  f"{d['cycles']:,} est. cycles; {d['host_bit_exact']:,}/{d['int8_samples']:,} host samples and "
                  f"{d['emulated']['bit_exact']}/{d['emulated']['samples']} emulated samples bit-exact):\n"),
                  ("| method | RAM budget B | arena B | vs dense | engine flash B | est. cycles | int8 top-1 | drop (points) "
                  "| host bit-exact | emulated bit-exact | met |"), "|---|---|---|---|---|---|---|---|---|---|---|"]
        for p in res["points"]:
            if "ram" not in p:
                lines.append(f"| {p['method']} | {p['budget']['ram']:,} | {p['note']} |||||||||")
                continue
            e = p.get("emulated") or {}
            meth = p["method"] + (f" (R {p['ratio']:.2f})" if p.get("ratio") is not None else "")
            lines.append(f"| {meth} | {p['budget']['ram']:,} | {p['ram']:,} | {d['ram'] / p['ram']:.2f}x | {p['flash']:,} "
                         f"| {p['cycles']:,} | {p['int8_top1']:.2f} % | {d['int8_top1'] - p['int8_top1']:.2f} "
                         f"| {p['host_bit_exact']:,}/{p['int8_samples']:,} | {e.get('bit_exact')}/{e.get('samples')} "
                         f"| {'yes' if p['met'] else 'NO'} |")
        if res.get("control"):
            lines.append("\n" + control_line(res))
    return "\n".join(lines) + "\n"


def control_line(res: dict) -> str:
    c, d = res["control"], res["dense"]
    e = c.get("emulated") or {}
    return (f"control (the same schedule, nothing pruned): int8 {c['int8_top1']:.2f} % "
            f"({c['int8_top1'] - d['int8_top1']:+.2f} points on the dense model), arena {c['ram']:,} B, "
            f"{c['host_bit_exact']:,}/{c['int8_samples']:,} host and {e.get('bit_exact')}/{e.get('samples')} "
            "emulated samples bit-exact; drop against it: "
            + ", ".join(f"{p['method']} {p['ram']:,} B {c['int8_top1'] - p['int8_top1']:.2f}"
                        for p in res["points"] if "ram" in p))


def print_tables(out: dict) -> None:
    for name, res in out["models"].items():
        d = res["dense"]
        print(f"\n{name} ({out['test_samples']:,} held-out samples; dense int8 top-1 {d['int8_top1']:.2f} %, "
              f"arena {d['ram']:,} B, engine flash {d['flash']:,} B, {d['cycles']:,} est. cycles)")
        print(f"{'method':<8}{'RAM budget B':>13}{'arena B':>9}{'vs dense':>9}{'flash B':>9}{'est. cycles':>13}"
              f"{'int8 top-1':>11}{'drop pt':>8}{'emulated bit-exact':>20}{'met':>5}")
        for p in res["points"]:
            if "ram" not in p:
                print(f"{p['method']:<8}{p['budget']['ram']:>13,}  {p['note']}")
                continue
            e = p.get("emulated") or {}
            print(f"{p['method']:<8}{p['budget']['ram']:>13,}{p['ram']:>9,}{d['ram'] / p['ram']:>8.2f}x{p['flash']:>9,}"
                  f"{p['cycles']:>13,}{p['int8_top1']:>10.2f}%{d['int8_top1'] - p['int8_top1']:>8.2f}"
                  f"{(str(e.get('bit_exact')) + '/' + str(e.get('samples'))) if e else '-':>20}{p['met']!s:>5}")
        if res.get("control"):
            print(control_line(res))


if __name__ == "__main__":
    main()
