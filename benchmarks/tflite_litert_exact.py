"""The four official MLPerf Tiny int8 models imported as they are: byte equality with LiteRT's
reference kernels (BUILTIN_REF) of the numpy reference, the host-compiled engine and (with
--emulate N) the emulated NUCLEO-F446RE; estimated Cortex-M4 cycles/MAC under each rounding rule;
flash and RAM of the F446RE firmware. And the cost of double rounding on LeNet-5 (PyTorch path).

    python benchmarks/tflite_litert_exact.py [--samples 200] [--emulate 200] [--models kws_dscnn,...] [--json F]

Inputs are synthetic (zoo.mlperf_tiny.sample_inputs, seed 100 as the suite): the evaluation data
sets are not offline. Equality is checked on the graph's output tensor, the int8 input of the
final SOFTMAX (left out of the engine) where the file has one. estimated_cycles: the timing model
of mcudeploy.cycles (Cortex-M4 TRM table, zero-wait memory), not a measurement.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from mcudeploy import hostrun
from mcudeploy import reference as R
from mcudeploy.bench import bench_project
from mcudeploy.litert import run_reference_kernels
from mcudeploy.mlperf_suite import EVAL_SEED, MODELS, compile_official, run_model
from mcudeploy.paths import ROOT
from mcudeploy.pipeline import compile_model
from mcudeploy.project import Project
from mcudeploy.train import cached_trained
from mcudeploy.zoo import mlperf_tiny as mt

RULES = ("litert", "double", "single")


def measure_model(name: str, work: Path, samples: int, emulate: int) -> dict:
    x = mt.sample_inputs(name, samples, seed=EVAL_SEED)
    out: dict = {"samples": samples}
    for rule in RULES:
        prj = compile_official(name, work / f"{name}-{rule}", rule)
        g = prj.graph
        xq = R.prepare_input(g, x)
        t0 = time.perf_counter()
        want = run_reference_kernels(prj.path / "model.tflite", xq)
        t_lit = time.perf_counter() - t0
        ref = R.run(g, xq)
        r = {"reference_equal_litert": int((ref == want).all(axis=1).sum()),
             "max_abs_diff_vs_litert": int(np.abs(ref.astype(int) - want).max()), "litert_seconds": round(t_lit, 1)}
        if rule == "litert":
            exe = hostrun.build_host(prj.engine_dir, work / f"{name}-host")
            host = hostrun.run_host(exe, xq, g.tensors[g.output].size)
            r["host_engine_equal_litert"] = int((host == want).all(axis=1).sum())
            r["host_engine_equal_reference"] = int((host == ref).all(axis=1).sum())
        b = bench_project(prj, x[:1], work / f"{name}-{rule}-bench")
        r.update(macs=b["macs"], estimated_cycles=b["estimated_cycles"], estimated_cycles_per_mac=b["cycles_per_mac"])
        out[rule] = r
        host = f"  host = LiteRT {r['host_engine_equal_litert']}/{samples}" if rule == "litert" else ""
        print(f"{name:<15} {rule:<7} reference = LiteRT {r['reference_equal_litert']:>4}/{samples}{host}"
              f"  est. cycles {b['estimated_cycles']:,} ({b['cycles_per_mac']} /MAC)", flush=True)
    if emulate:
        prj = Project(work / f"{name}-litert")
        m = run_model(name, prj, "nucleo-f446re", emulate, emulate=True)
        out["emulated"] = {k: m[k] for k in ("samples", "bit_exact", "litert_exact", "counter", "count_per_inference",
                                             "count_per_mac", "flash_bytes", "ram_bytes", "board_flash_bytes",
                                             "board_ram_bytes", "stack_peak_bytes", "arena_bytes",
                                             "seconds_on_board")}
        e = out["emulated"]
        print(f"{name:<15} emulated F446RE: = LiteRT {e['litert_exact']}/{e['samples']}, = reference "
              f"{e['bit_exact']}/{e['samples']}, flash {e['flash_bytes']:,} B, RAM {e['ram_bytes']:,} B", flush=True)
    return out


def lenet_rounding_cost(work: Path) -> dict:
    """Estimated cycles of the LeNet-5 example (PyTorch path) with single and double rounding."""
    _, w = cached_trained("lenet5")
    out = {}
    for rule in ("single", "double"):
        res = compile_model(f"{ROOT}/examples/lenet5.py:lenet5", str(w), "mnist", work / f"lenet-{rule}",
                            rounding=rule)
        b = bench_project(Project(res.outdir), None, work / f"lenet-{rule}-bench")
        out[rule] = {"estimated_cycles": b["estimated_cycles"], "cycles_per_mac": b["cycles_per_mac"]}
    out["double_over_single"] = round(out["double"]["estimated_cycles"] / out["single"]["estimated_cycles"], 4)
    print(f"LeNet-5 est. cycles: single {out['single']['estimated_cycles']:,}, double "
          f"{out['double']['estimated_cycles']:,} (x{out['double_over_single']})", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=200, help="synthetic inputs per model (reference, host engine)")
    ap.add_argument("--emulate", type=int, default=0, help="also run N of them on the emulated F446RE")
    ap.add_argument("--models", help="comma-separated subset of " + ", ".join(MODELS))
    ap.add_argument("--no-lenet", action="store_true", help="skip the LeNet-5 single/double cycle comparison")
    ap.add_argument("--workdir", help="keep the compiled projects here (default: a temporary folder)")
    ap.add_argument("--json")
    args = ap.parse_args()
    names = args.models.split(",") if args.models else MODELS
    with tempfile.TemporaryDirectory() as t:
        work = Path(args.workdir or t)
        rep = {"inputs": f"synthetic (zoo.mlperf_tiny.sample_inputs, seed {EVAL_SEED})",
               "oracle": "LiteRT BUILTIN_REF (ai-edge-litert)", "counter": "estimated_cycles",
               "timing_model": "Cortex-M4 TRM table, zero-wait memory",
               "models": {n: measure_model(n, work, args.samples, args.emulate) for n in names}}
        if not args.no_lenet:
            rep["lenet5_rounding_cost"] = lenet_rounding_cost(work)
    if args.json:
        Path(args.json).write_text(json.dumps(rep, indent=1) + "\n")


if __name__ == "__main__":
    main()
