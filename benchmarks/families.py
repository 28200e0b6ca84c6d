"""Issue 12's four model families (examples/families.py) end to end: train a few seconds, compile,
validate on the emulated NUCLEO-F446RE (QEMU) and report bit-exact samples, int8 vs float
top-1 (or reconstruction error), flash and RAM of the firmware.

    python benchmarks/families.py [--samples 100] [--json families.json] [FAMILY ...]

Counts: bit-exactness compares the board's output bytes with the numpy reference over the UART;
flash/RAM are the linked ELF's (text + data, data + bss); accuracy on the held-out split.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from families import FAMILIES, train
from mcudeploy import reference as R
from mcudeploy.frontend import export_module
from mcudeploy.pipeline import build_project
from mcudeploy.validate import validate


def run_family(name: str, samples: int, workdir: Path) -> dict:
    t0 = time.time()
    model, xtr, _ytr, xte, yte = train(name)
    task = FAMILIES[name][2]
    res = build_project(export_module(model, torch.from_numpy(xtr[:1])), xtr[:300], workdir / name)
    g = res.graph
    data = workdir / f"{name}_test.npz"
    if task == "classify":
        np.savez(data, x=xte[:samples], y=yte[:samples].astype(np.int64))
    else:
        np.savez(data, x=xte[:samples])
    rep = validate(res.outdir, "nucleo-f446re", True, str(data), limit=samples, results=workdir / f"{name}.jsonl")
    row = {"family": name, "samples": rep["samples"], "bit_exact": rep["bit_exact"],
           "flash_bytes": rep["flash_bytes"], "ram_bytes": rep["ram_bytes"], "arena_bytes": res.report["arena_bytes"],
           "weight_bytes": res.report["weight_bytes"], "macs": g.macs, "counter": rep["counter"],
           "count_per_inference": rep.get("count_per_inference"),
           "ops": sorted({op.kind for op in g.ops})}
    # int8 vs float on the whole held-out split, through the reference (equal to the board: bit-exact)
    yq = R.dequantize_output(g, R.run(g, R.prepare_input(g, xte))).reshape(len(xte), -1)
    with torch.no_grad():
        yf = model(torch.from_numpy(xte)).numpy().reshape(len(xte), -1)
    if task == "classify":
        row.update(test_samples=len(xte), top1_int8=round(float((yq.argmax(1) == yte).mean()), 4),
                   top1_float=round(float((yf.argmax(1) == yte).mean()), 4))
    else:
        row.update(test_samples=len(xte), mse_int8=round(float(((yq - xte.reshape(len(xte), -1)) ** 2).mean()), 5),
                   mse_float=round(float(((yf - xte.reshape(len(xte), -1)) ** 2).mean()), 5))
    row["seconds"] = round(time.time() - t0, 1)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("families", nargs="*", default=list(FAMILIES))
    ap.add_argument("--samples", type=int, default=100, help="samples validated on the emulated board")
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fam in args.families:
            rows.append(run_family(fam, args.samples, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
