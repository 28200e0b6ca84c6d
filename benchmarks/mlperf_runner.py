"""The official MLPerf Tiny runner's own performance and accuracy scripts, unchanged, on the
emulated NUCLEO-F446RE (the four PyTorch ports, compiled as `bench --suite mlperf-tiny` does).

    python benchmarks/mlperf_runner.py [--models kws_dscnn ad_autoencoder] [--files 5] [--json out.json]

Each board runs behind a socat pty; the runner's DUT / Script / summarize_result (imported from
MCUDEPLOY_MLPERF_RUNNER, default ../shared/third_party/mlperf_tiny_runner) run its
tests_performance.yaml and tests_accuracy.yaml as they are, on synthetic data files in its layout
(mcudeploy.mlperf_dataset: the real sets are not available offline, so Top-1 / AUC say nothing
about the models). Inferences/s are the runner's, from the firmware's m-lap-us: emulated
instructions / core MHz (one instruction a cycle), not a silicon time. The runner's "ERROR 2"
(a window under 10 s of wall time) measures the emulator's speed, not the board's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

import yaml
from mcudeploy import mlperf_suite as S
from mcudeploy.mlperf_dataset import CLASSES
from mlperf_runner_host import run_runner

RUNNER = Path(os.environ.get("MCUDEPLOY_MLPERF_RUNNER", "/work/shared/third_party/mlperf_tiny_runner"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", choices=S.MODELS, default=S.MODELS)
    ap.add_argument("--files", type=int, default=5, help="data files per model (>= 5: the performance loop)")
    ap.add_argument("--workdir", default="out/mlperf-tiny", help="compiled projects (shared with bench --suite)")
    ap.add_argument("--json", help="write the runner's results and summaries here")
    args = ap.parse_args()
    perf = yaml.safe_load((RUNNER / "tests_performance.yaml").read_text())
    acc = yaml.safe_load((RUNNER / "tests_accuracy.yaml").read_text())
    projects = {n: S.compile_model(n, Path(args.workdir) / n) for n in args.models}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as work:
        out, _ = run_runner(RUNNER, Path(work), projects, lambda m: {"p": perf[m], "a": acc[m]},
                            {n: max(args.files, CLASSES[n]) for n in args.models})
    print(f"runner on {len(projects)} emulated board(s): {time.time() - t0:.0f} s wall")
    for model, o in out.items():
        print(f"\n== {model} ({o['name']}, emulated; throughput from emulated instructions / MHz)")
        for mode, run in o["runs"].items():
            lines = [ln.split("ulp-mlperf: ", 1)[-1] for ln in run["summary"].splitlines()
                     if re.search(r"Median|Throughput:|Top 1%|AUC|ERROR", ln)]
            print(f"  {'performance' if mode == 'p' else 'accuracy'}: " + "; ".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
