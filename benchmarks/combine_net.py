"""Combine-Net's three tools on the ResNet-style Fashion-MNIST example at one channel sparsity:
held-out top-1 after `compress --structured` alone, with --adaptive-bn, with --distill, with both,
and with all three (--knee chooses its own rate, so that row's rate differs).

    python benchmarks/combine_net.py [--sparsity 0.9] [--epochs 2] [--limit 20000] [--json F]

The dense model is examples/resnet_small.py trained by its recipe (mcudeploy.train.RECIPES, cached).
Every row fine-tunes the same way (--epochs over the first --limit training samples, Adam, cosine
lr from --lr, seed 0) and is measured on the whole 10,000-sample test split, which nothing here
chose anything on -- except the knee row: its rate is chosen on the even half, so it also reports
the odd half. The knee curves (pruned, not fine-tuned, judged on the even half) are printed with
and without adaptive BN: the difference is what adaptive BN changes in how candidates are judged.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch
from mcudeploy import datasets
from mcudeploy.compress import compress_model, prune_channels
from mcudeploy.compress.adaptive_bn import recalibrate_bn
from mcudeploy.compress.knee import sweep, sweep_rates
from mcudeploy.train import cached_trained, evaluate

CONFIGS = [("baseline", {}), ("+ adaptive BN", {"adaptive_bn": True}), ("+ distill", {"distill": True}),
           ("+ adaptive BN + distill", {"adaptive_bn": True, "distill": True}),
           ("all three (knee rate)", {"adaptive_bn": True, "distill": True, "knee": True})]


def knee_curve(model, example, x_train, val, abn: bool) -> dict:
    def make(rate):
        cand = prune_channels(model, example, rate)[0]
        if abn:
            recalibrate_bn(cand, x_train)
        return cand
    return sweep(make, lambda m: round(100 * evaluate(m, *val), 2), sweep_rates())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sparsity", type=float, default=0.9, help="fraction of channels removed per group")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=20000, help="training samples (fine-tuning, BN, teacher)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--distill-temperature", type=float, default=4.0)
    ap.add_argument("--distill-alpha", type=float, default=0.7)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(1)  # 2 cores shared by many jobs: minutes, not a machine
    dense, weights = cached_trained("resnet_small")
    train = datasets.load("fashion-mnist", "train", limit=args.limit)
    test = datasets.load("fashion-mnist", "test")
    val = (test[0][0::2], test[1][0::2])
    example = torch.from_numpy(test[0][:1])
    say = lambda s: print(s, file=sys.stderr, flush=True)
    dense_acc = round(100 * evaluate(dense, *test), 2)
    curves = {}
    for abn in (False, True):
        t0 = time.perf_counter()
        curves["adaptive_bn" if abn else "plain"] = c = knee_curve(dense, example, train[0], val, abn)
        say(f"knee curve{' with adaptive BN' if abn else ''}: knee {c['rate']} ({time.perf_counter() - t0:.0f} s)")
    rows = []
    for name, kw in CONFIGS:
        t0 = time.perf_counter()
        level = {} if kw.get("knee") else {"sparsity": args.sparsity}
        res = compress_model(dense, example, train=train, test=test, structured=True, epochs=args.epochs,
                             lr=args.lr, distill_temperature=args.distill_temperature,
                             distill_alpha=args.distill_alpha, **level, **kw)
        r = res.report
        rows.append({"config": name, "rate": r["settings"]["sparsity"], "top1": r["accuracy"]["after"],
                     "unseen_top1": r["accuracy"].get("unseen_after"), "params": r["params_after"],
                     "macs": r["macs_after"], "seconds": round(time.perf_counter() - t0, 1)})
        say(f"{name}: {rows[-1]}")
    base = rows[0]["top1"]
    print(f"ResNet-small, Fashion-MNIST: dense top-1 {dense_acc:.2f} % (10,000 held-out); structured pruning, "
          f"fine-tuned {args.epochs} epochs on {len(train[1]):,} samples, lr {args.lr:g}; distillation T "
          f"{args.distill_temperature:g}, alpha {args.distill_alpha:g}\n")
    print(f"{'configuration':<26}{'channel rate':>13}{'top-1 %':>9}{'vs baseline':>13}{'params':>9}"
          f"{'MACs':>10}{'seconds':>9}")
    for r in rows:
        print(f"{r['config']:<26}{r['rate']:>13.2f}{r['top1']:>9.2f}{r['top1'] - base:>+13.2f}{r['params']:>9,}"
              f"{r['macs']:>10,}{r['seconds']:>9.0f}")
    if rows[-1]["unseen_top1"] is not None:
        print(f"(knee row: its rate was chosen on the even half of the test split; odd half: "
              f"{rows[-1]['unseen_top1']:.2f} %)")
    print("\nknee curves (pruned, not fine-tuned; top-1 % on the even half of the test split)")
    print(f"{'rate':>6}{'plain':>9}{'adaptive BN':>13}")
    for a, b in zip(curves["plain"]["curve"], curves["adaptive_bn"]["curve"]):
        print(f"{a['rate']:>6.2f}{a['accuracy']:>9.2f}{b['accuracy']:>13.2f}")
    print(f"{'knee':>6}{curves['plain']['rate'] or '-':>9}{curves['adaptive_bn']['rate'] or '-':>13}")
    if args.json:
        out = {"model": "resnet_small", "weights": str(weights), "dense_top1": dense_acc, "settings": vars(args),
               "rows": rows, "knee_curves": curves}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
