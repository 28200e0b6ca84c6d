"""The MLPerf Tiny suite over a labgrid farm: 1, 2 and 4 emulated places, and a host lost mid-suite.

    python benchmarks/farm_suite.py [--samples 3] [--workdir out/mlperf-tiny] [--json F]

Starts a real ``labgrid-coordinator`` and two ``labgrid-exporter`` processes ("hostA", "hostB",
two QEMU places each) on 127.0.0.1, compiles the four official int8 models once (reused from
WORKDIR), then runs ``bench --suite mlperf-tiny --farm`` (``farm.suite.suite_farm``):

* with 1 place (the one-board baseline through the same farm path), 2 places (hostA) and 4;
* with 4 places where host A (its exporter and its two QEMUs) is SIGKILLed as soon as the first
  model is done: its running models must be run again on host B, each model reported once.

Per run: models per place, bit-exact count per model, emulated_instructions per model (equal in
every run: the count does not depend on the place), and the wall time of the dealing loop
(flash + run of every model; compile/build is done before any place is held and is not in it).
Estimated cycles are host side (the timing model) and are left out here (``--no-cycles``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import time
from pathlib import Path

from mcudeploy.boards import load_board
from mcudeploy.farm import emulated
from mcudeploy.farm.suite import suite_farm
from mcudeploy.mlperf_suite import MODELS

BOARD = "nucleo-f446re"


def run(workdir: Path, addr: str, boards: int, samples: int, on_model=None) -> dict:
    t0 = time.perf_counter()
    rep = suite_farm(workdir, addr, BOARD, boards, samples=samples, on_model=on_model)
    return {"boards": boards, "loop_seconds": rep["farm"]["seconds"], "command_seconds": round(time.perf_counter() - t0, 2),
            "models_per_place": rep["farm"]["models_per_place"], "model_names": [m["name"] for m in rep["models"]],
            "models": {m["name"]: {"place": m["place"], "bit_exact": m["bit_exact"], "samples": m["samples"],
                                   "litert_exact": m["litert_exact"], "count_per_inference": m["count_per_inference"],
                                   "counter": m["counter"], "seconds_on_board": m["seconds_on_board"],
                                   "load_seconds": m["load_seconds"], "seconds_on_place": m["seconds_on_place"]}
                       for m in rep["models"]},
            "places": rep["farm"]["places"], "loadavg_after": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("out/mlperf-tiny"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="farm-suite-"))
    b = load_board(BOARD)
    out = {"suite": "mlperf-tiny (official int8)", "samples_per_model": args.samples, "cores": os.cpu_count(),
           "runs": {}}
    try:
        addr = emulated.up(2, b, folder, name="hostA")["coordinator"]["address"]
        emulated.up(2, b, folder, coordinator=addr, name="hostB")
        state = emulated.read_state(folder)
        for k in (1, 2, 4):
            r = run(args.workdir, addr, k, args.samples)
            out["runs"][f"{k}_places"] = r
            print(json.dumps({x: r[x] for x in ("boards", "loop_seconds", "models_per_place")}), flush=True)
        host_a = next(e for e in state["exporters"] if e["name"] == "hostA")
        killed = {}

        def kill_host_a(name, place, done, total):
            if not killed:
                for proc in [host_a, *host_a["places"]]:
                    os.kill(proc["pid"], signal.SIGKILL)
                killed.update(after_model=name, on=place, done=done,
                              pids=[host_a["pid"], *(p["pid"] for p in host_a["places"])])

        r = run(args.workdir, addr, 4, args.samples, on_model=kill_host_a)
        r["killed"] = killed
        out["runs"]["4_places_hostA_killed"] = r
        print(json.dumps({x: r[x] for x in ("loop_seconds", "models_per_place", "killed")}), flush=True)
    finally:
        emulated.down(folder)
    one = out["runs"]["1_places"]["loop_seconds"]
    out["speedup"] = {k: round(one / v["loop_seconds"], 2) for k, v in out["runs"].items()}
    counts = {k: {n: m["count_per_inference"] for n, m in v["models"].items()} for k, v in out["runs"].items()}
    out["same_counts_in_every_run"] = all(c == counts["1_places"] for c in counts.values())
    out["all_bit_exact"] = all(m["bit_exact"] == m["samples"] == m["litert_exact"]
                               for v in out["runs"].values() for m in v["models"].values())
    out["every_model_once"] = all(sorted(v["model_names"]) == sorted(MODELS) for v in out["runs"].values())
    print(json.dumps({x: out[x] for x in ("speedup", "same_counts_in_every_run", "all_bit_exact",
                                          "every_model_once")}))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
