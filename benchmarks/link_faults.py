"""The link under damage: samples/s and delivery through a fault-injecting proxy, per damage rate.

    python benchmarks/link_faults.py [--model lenet|digits] [--samples 200] [--damage 0,1,3,10] [--json F]

Builds the model's project for the emulated NUCLEO-F446RE, starts QEMU once, and for each damage
rate runs ``validate`` (the user's path: one pass, no --resume) through a FaultProxy that, per byte
and per direction, drops it with probability d/2 and flips one of its bits with probability d/2
(``d`` = the damage rate; seeded). Prints per rate: samples ok / lost / doubled (from the results
file: each sample index must appear once), bit-exact against the numpy reference, samples/s, the
ratio to the clean run, and link counts (retries, timeouts, bad frames, bytes each way per sample).

Run against another checkout's package to compare (the proxy is loaded from this checkout's file
if that package has none): ``PYTHONPATH=/path/to/other/tool python benchmarks/link_faults.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mcudeploy import datasets
from mcudeploy import reference as R
from mcudeploy.boards import load_board
from mcudeploy.build import build
from mcudeploy.project import Project
from mcudeploy.target.qemu import QemuTarget
from mcudeploy.validate import ValidationInterrupted, validate

HERE = Path(__file__).resolve().parent
BOARD = "nucleo-f446re"


class _TimeUp(Exception):
    """A damage rate's run passed its time limit (raised from validate's progress callback)."""


def fault_proxy_class():
    try:
        from mcudeploy.link.faultproxy import FaultProxy
    except ImportError:  # an older package: this checkout's file is standalone (stdlib only)
        spec = importlib.util.spec_from_file_location("faultproxy", HERE.parent / "tool/mcudeploy/link/faultproxy.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        FaultProxy = mod.FaultProxy
    return FaultProxy


def make_project(model: str, out: Path) -> tuple[Path, str]:
    """Compile the model once into ``out`` (kept between runs); returns (project dir, data set)."""
    if model == "digits":
        sys.path.insert(0, str(HERE.parent / "tests"))
        sys.path.insert(0, str(HERE.parent / "tests" / "fixtures"))
        from digits_mlp import compile_digits

        if not (out / "project.json").is_file():
            compile_digits(out)
        return out, "digits"
    from mcudeploy.paths import ROOT
    from mcudeploy.pipeline import compile_model
    from mcudeploy.train import cached_trained

    if not (out / "project.json").is_file():
        _, weights = cached_trained("lenet5", "mnist")
        compile_model(f"{ROOT}/examples/lenet5.py:lenet5", str(weights), "mnist", out)
    return out, "mnist"


def run_rate(prj: Path, data: str, n: int, url_of, damage: float, seed: int, tmp: Path, limit_s: float) -> dict:
    FaultProxy = fault_proxy_class()
    results = tmp / f"r-{damage:g}.jsonl"
    t0 = time.perf_counter()
    last = [t0]

    def progress(k, _n):
        last[0] = time.perf_counter()
        if last[0] - t0 > limit_s:
            raise _TimeUp()

    d = damage / 100
    with FaultProxy(url_of(), seed=seed, drop=d / 2, flip=d / 2) as proxy:
        rep, stop = None, ""
        try:
            rep = validate(prj, BOARD, True, data, limit=n, port=proxy.url, results=results, progress=progress)
        except ValidationInterrupted as exc:
            stop = str(exc).splitlines()[0]
        except _TimeUp:
            stop = f"time limit of {limit_s:g} s"
        damaged = {k: round(proxy.fraction_damaged(k), 4) for k in ("to_device", "to_host")}
    seconds = rep["throughput"]["seconds"] if rep else last[0] - t0
    idx = [json.loads(line)["i"] for line in results.read_text().splitlines()[1:]] if results.is_file() else []
    outs = {}
    for line in results.read_text().splitlines()[1:] if results.is_file() else []:
        r = json.loads(line)
        outs[r["i"]] = bytes.fromhex(r["out"])
    ok = len(set(idx))
    row = {"damage_pct": damage, "damaged_fraction": damaged, "samples": n, "ok": ok, "lost": n - ok,
           "doubled": len(idx) - ok, "bit_exact": bit_exact(prj, data, n, outs),
           "seconds": round(seconds, 2), "samples_per_s": round(ok / seconds, 3) if seconds > 0 else None,
           "stopped": stop}
    if rep:
        tp = rep["throughput"]
        row.update(link=rep["link"], bytes_to_device_per_sample=round(tp["bytes_to_device"] / n),
                   bytes_from_device_per_sample=round(tp["bytes_from_device"] / n))
    return row


def bit_exact(prj: Path, data: str, n: int, outs: dict[int, bytes]) -> int:
    g = Project(prj).graph
    x, _ = datasets.load_spec(data, split="test", limit=n)
    ref = R.run(g, R.prepare_input(g, x))
    return sum(1 for i, o in outs.items() if np.frombuffer(o, np.int8).tobytes() == ref[i].astype(np.int8).tobytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=("lenet", "digits"), default="lenet")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--damage", default="0,1,3,10", help="damage rates in percent, comma separated")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=600, help="seconds per damage rate before giving up")
    ap.add_argument("--project", type=Path, help="where to keep the compiled project (default: a temp dir)")
    ap.add_argument("--json")
    args = ap.parse_args()
    rates = [float(r) for r in args.damage.split(",")]
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        prj, data = make_project(args.model, args.project or tmp / args.model)
        board = load_board(BOARD)
        target = QemuTarget(board)
        target.start(build(prj, board, emulate=True).elf)
        try:
            rows = [run_rate(prj, data, args.samples, lambda: ("127.0.0.1", target.port), r, args.seed, tmp,
                             args.time_limit) for r in rates]
        finally:
            target.stop()
    clean = next((r["samples_per_s"] for r in rows if r["damage_pct"] == 0), None)
    for r in rows:
        r["ratio_to_clean"] = round(r["samples_per_s"] / clean, 3) if clean and r["samples_per_s"] else None
    print(f"{args.model}, {args.samples} samples per rate, damage = per byte and direction: drop d/2 + flip d/2")
    print(f"{'damage':>6} {'ok':>4} {'lost':>4} {'dbl':>3} {'exact':>5} {'samples/s':>9} {'ratio':>6} "
          f"{'retries':>7} {'timeouts':>8} {'bad':>5} {'B out/smp':>9} {'B in/smp':>8}  stopped")
    for r in rows:
        lk = r.get("link", {})
        print(f"{r['damage_pct']:>5g}% {r['ok']:>4} {r['lost']:>4} {r['doubled']:>3} {r['bit_exact']:>5} "
              f"{r['samples_per_s'] or 0:>9.2f} {r['ratio_to_clean'] or 0:>6.2f} {lk.get('retries', '-'):>7} "
              f"{lk.get('timeouts', '-'):>8} {lk.get('bad_frames', '-'):>5} "
              f"{r.get('bytes_to_device_per_sample', '-'):>9} {r.get('bytes_from_device_per_sample', '-'):>8}  "
              f"{r['stopped']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
