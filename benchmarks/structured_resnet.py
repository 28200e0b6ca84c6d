"""Structured (channel) pruning of the ResNet-style example on Fashion-MNIST: dense against pruned,
both compiled to int8 and measured the same way (the README's structured-pruning table).

    python benchmarks/structured_resnet.py [--sparsity 0.3] [--epochs 1] [--limit 20000] [--json F]

The dense model is examples/resnet_small.py trained by its recipe (cached or committed weights);
the pruned one is `compress --structured --sparsity S` of it, fine-tuned --epochs over the first
--limit training samples. Each is compiled and measured by deep_compression.measure on the whole
10,000-sample test split: float and int8 top-1 (host C engine), every sample checked bit-exact
against the numpy reference, instructions and estimated_cycles of one inference (timing model).
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

DATA = "fashion-mnist"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sparsity", type=float, default=0.3, help="fraction of channels removed per group")
    ap.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs")
    ap.add_argument("--limit", type=int, default=20000, help="training samples for fine-tuning")
    ap.add_argument("--json")
    args = ap.parse_args()
    x, y = datasets.load(DATA, "test")
    _, w = cached_trained("resnet_small")
    spec = f"{ROOT}/examples/resnet_small.py:resnet_small"
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        dense = compile_model(spec, str(w), DATA, tmp / "dense")
        res = compress_file(spec, str(w), DATA, tmp / "pruned.pt2", limit=args.limit, structured=True,
                            sparsity=args.sparsity, epochs=args.epochs)
        pruned = compile_model(str(tmp / "pruned.pt2"), None, DATA, tmp / "pruned")
        out = {"model": "resnet_small", "data": DATA, "settings": vars(args),
               "compress": {k: res.report[k] for k in ("macs_before", "macs_after", "params_before", "params_after",
                                                       "macs_reduction", "params_reduction", "accuracy")},
               "dense": measure(dense.outdir, x, y, tmp), "pruned": measure(pruned.outdir, x, y, tmp)}
    for k in ("dense", "pruned"):
        m = out[k]
        print(f"{k:<7} top-1 int8 {100 * m['accuracy_int8']:.2f} % (float {100 * m['accuracy_float']:.2f} %), "
              f"bit-exact {m['bit_exact']:,} / {m['samples']:,}, {m['instructions']:,} instructions, "
              f"{m['estimated_cycles']:,} estimated_cycles")
    c = out["compress"]
    print(f"MACs {c['macs_before']:,} -> {c['macs_after']:,}, parameters {c['params_before']:,} -> {c['params_after']:,}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
