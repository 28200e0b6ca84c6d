"""One validation over a labgrid farm: 2 exporters x 2 emulated boards against one board, and a host lost.

    python benchmarks/farm_scaling.py [--samples 1000] [--model lenet|digits] [--work DIR] [--json F]

Starts a real ``labgrid-coordinator`` and two ``labgrid-exporter`` processes ("hostA", "hostB",
two QEMU places each) on 127.0.0.1, then runs ``validate --farm`` on the same N samples:

* with 1 place (the one-board baseline, through the same farm path), with 2, and with 4 places;
* with 4 places while a second client (``labgrid-client acquire`` with another user) asks for a
  held place (the coordinator must refuse it);
* with 4 places where host A (its exporter and its two QEMUs) is SIGKILLed a third of the way in.

For each run: bit-exact count, each sample index present exactly once in the results file,
samples per place, wall time of the sample loop, and CPU seconds used by the QEMU processes and
by this (host-side) Python process during the loop, against what the machine's cores could give:
that says what limits the scaling. MNIST has 2,000 held-out images, so 1,000 samples need
``--model lenet`` (the default); ``digits`` (360 samples) is the quick check.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from link_faults import make_project  # the link benchmark's project set-up (a sibling script)
from mcudeploy.boards import load_board
from mcudeploy.farm import emulated
from mcudeploy.farm.run import validate_farm

HERE = Path(__file__).resolve().parent
BOARD = "nucleo-f446re"
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(prj: Path, data: str, addr: str, n: int, boards: int, res: Path, qemus: list[int], progress=None,
        on_started=None) -> dict:
    q0 = {p: _cpu_s(p) for p in qemus}
    c0, t0 = _self_cpu(), time.perf_counter()
    rep = validate_farm(prj, addr, BOARD, boards, data, limit=n, results=res, fresh=True, progress=progress,
                        on_started=on_started)
    wall = time.perf_counter() - t0
    loop = rep["throughput"]["seconds"]
    recs = [json.loads(line) for line in res.read_text().splitlines()[1:]]
    idx = sorted(r["i"] for r in recs)
    return {"boards": boards, "samples": rep["samples"], "bit_exact": rep["bit_exact"],
            "each_sample_once": idx == list(range(n)), "records": len(recs),
            "samples_per_place": rep["farm"]["samples_per_place"], "places": rep["farm"]["places"],
            "held_by_others": rep["farm"]["held_by_others"],
            "loop_seconds": loop, "samples_per_s": rep["throughput"]["samples_per_s"],
            "command_seconds": round(wall, 2),
            "qemu_cpu_seconds": round(sum(_cpu_s(p) - q0[p] for p in qemus), 2),
            "host_python_cpu_seconds": round(_self_cpu() - c0, 2),
            "count_per_inference": rep["count_per_inference"], "counter": rep["counter"],
            "link": rep["link"], "loadavg_after": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--model", choices=["lenet", "digits"], default="lenet")
    ap.add_argument("--work", type=Path, help="keep the compiled project here between runs")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="farm-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    prj, data = make_project(args.model, work / args.model)
    folder = Path(tempfile.mkdtemp(prefix="farm-"))
    b = load_board(BOARD)
    out = {"model": args.model, "data": data, "samples": args.samples, "cores": os.cpu_count(), "runs": {}}
    try:
        addr = emulated.up(2, b, folder, name="hostA")["coordinator"]["address"]
        emulated.up(2, b, folder, coordinator=addr, name="hostB")
        state = emulated.read_state(folder)
        qemus = [p["pid"] for e in state["exporters"] for p in e["places"]]
        out["coordinator"] = addr
        for k in (1, 2, 4):
            refusals = []

            def second_client(places, refusals=refusals):
                lg = subprocess.run([shutil.which("labgrid-client"), "-x", addr, "-p", places[0].name, "acquire"],
                                    check=False, capture_output=True, text=True,
                                    env=dict(os.environ, LG_USERNAME="second-client"))
                refusals.append({"place": places[0].name, "exit_code": lg.returncode,
                                 "message": (lg.stdout + lg.stderr).strip().splitlines()[-1]})

            r = run(prj, data, addr, args.samples, k, work / f"r{k}.jsonl", qemus,
                    on_started=second_client if k == 4 else None)
            if refusals:
                r["second_client"] = refusals[0]
            out["runs"][f"{k}_places"] = r
            print(json.dumps({x: r[x] for x in ("boards", "bit_exact", "each_sample_once", "loop_seconds",
                                                "samples_per_place", "qemu_cpu_seconds",
                                                "host_python_cpu_seconds")}), flush=True)
        host_a = next(e for e in state["exporters"] if e["name"] == "hostA")
        killed = {}

        def kill_host_a(k, n):
            if k >= n // 3 and not killed:
                for proc in [host_a, *host_a["places"]]:
                    os.kill(proc["pid"], signal.SIGKILL)
                killed.update(at_sample=k, pids=[host_a["pid"], *(p["pid"] for p in host_a["places"])])

        r = run(prj, data, addr, args.samples, 4, work / "killed.jsonl", qemus, progress=kill_host_a)
        r["killed"] = killed
        out["runs"]["4_places_hostA_killed"] = r
        print(json.dumps({x: r[x] for x in ("bit_exact", "each_sample_once", "records", "samples_per_place",
                                            "killed")}), flush=True)
    finally:
        emulated.down(folder)
    one = out["runs"]["1_places"]["loop_seconds"]
    out["speedup"] = {k: round(one / v["loop_seconds"], 2) for k, v in out["runs"].items()}
    print(json.dumps(out["speedup"]))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
