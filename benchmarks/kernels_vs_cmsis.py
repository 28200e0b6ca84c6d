"""Estimated Cortex-M4 cycles of mcudeploy's engine against CMSIS-NN's, per LeNet-5 layer.

    python benchmarks/kernels_vs_cmsis.py [--json F]

The CMSIS-NN figures are the reference of the fast-kernels issue: CMSIS-NN kernels, gcc 12 -O3,
Cortex-M4F, run under the same instruction timing model (../shared/tools/m4cycles.py) that
mcudeploy.cycles implements. Both sides are *estimated* cycles of the same model; compare them as
ratios. Also reports the ResNet-style example's whole-model cycles per MAC.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from mcudeploy import datasets
from mcudeploy.bench import bench_project
from mcudeploy.frontend import export_module
from mcudeploy.paths import ROOT
from mcudeploy.pipeline import build_project, compile_model
from mcudeploy.project import Project
from mcudeploy.train import cached_trained

# layer -> CMSIS-NN estimated cycles (conv+its max-pool, since mcudeploy fuses them)
CMSIS_NN = {"conv1": 1_850_269 + 86_291, "conv2": 801_064 + 20_569, "fc1": 118_592, "fc2": 28_768, "fc3": 2_794}
CMSIS_NN_TOTAL = 2_908_347


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    args = ap.parse_args()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        _, w = cached_trained("lenet5")
        res = compile_model(f"{ROOT}/examples/lenet5.py:lenet5", str(w), "mnist", Path(tmp) / "lenet")
        x, _ = datasets.load("mnist", "test", limit=1)
        r = bench_project(Project(res.outdir), x)
        print(f"{'layer':<8}{'MACs':>10}{'mcudeploy':>12}{'CMSIS-NN':>12}{'ratio':>8}   (estimated_cycles)")
        for row in r["layers"]:
            ref = CMSIS_NN[row["name"]]
            print(f"{row['name']:<8}{row['macs']:>10,}{row['estimated_cycles']:>12,}{ref:>12,}"
                  f"{row['estimated_cycles'] / ref:>8.3f}")
        print(f"{'total':<8}{r['macs']:>10,}{r['estimated_cycles']:>12,}{CMSIS_NN_TOTAL:>12,}"
              f"{r['estimated_cycles'] / CMSIS_NN_TOTAL:>8.3f}")
        out["lenet5"] = dict(r, cmsis_nn_estimated_cycles=CMSIS_NN_TOTAL,
                             ratio=r["estimated_cycles"] / CMSIS_NN_TOTAL)

        m, _ = cached_trained("resnet_small")
        xf, _ = datasets.load("fashion-mnist", "train", limit=200)
        res = build_project(export_module(m, torch.from_numpy(xf[:1])), xf, Path(tmp) / "resnet")
        r = bench_project(Project(res.outdir), xf[:1])
        print(f"\nresnet_small: {r['macs']:,} MACs, {r['estimated_cycles']:,} estimated_cycles, "
              f"{r['cycles_per_mac']} estimated cycles/MAC")
        out["resnet_small"] = r
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
