"""The README's measured tables, produced from a run: ``make figures`` (or ``python benchmarks/figures.py``).

    python benchmarks/figures.py                 # run the fast sets, write benchmarks/figures/*.json, update README.md
    python benchmarks/figures.py --all           # also the slow sets (fine-tuning; see SETS for times)
    python benchmarks/figures.py --only lenet    # one set (or several, comma-separated)
    python benchmarks/figures.py --render        # no run: README.md from the committed JSON
    python benchmarks/figures.py --check         # exit 1 if README.md differs from the committed JSON
    python benchmarks/figures.py --list          # the sets, their commands and how long each takes

Why: figures copied by hand drift from what a fresh run prints. Each set runs what its table
measures (a benchmark script with ``--json``, or ``mcudeploy bench --suite``), writes
``benchmarks/figures/<set>.json`` = ``{"set", "date", "machine", "commit", "command", "seconds",
"data"}`` where ``data`` is the script's own ``--json`` output unchanged, and the tables between
``<!-- figures:NAME -->`` and ``<!-- /figures:NAME -->`` in README.md (and the docs in PAGES) are rewritten from that JSON,
never typed (renderers and the keys they read: benchmarks/figure_tables.py).
tests/test_readme_figures.py checks that README.md matches the committed JSON, so a table edited by
hand, or a run whose JSON was not committed with it, fails the tests.

A set's JSON may also be written by someone else running the same script with ``--json`` (no
wrapper): it renders, but its stamp says the date and machine were not recorded and the test fails
until ``make figures FIGURES=<set>`` rewrites it with them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "benchmarks" / "figures"
README = ROOT / "README.md"
# Pages whose tables are generated too: the README and the docs that show a set's figures in more
# detail (a doc that repeats a README table by hand goes stale the day the set is rerun).
PAGES = [README, ROOT / "docs" / "mlperf_tiny.md"]
sys.path.insert(0, str(ROOT / "benchmarks"))
from figure_tables import TABLES, load, render_readme  # noqa: F401  (re-exported for the test)

PY = sys.executable
MCUDEPLOY = [PY, "-m", "mcudeploy"]


# ---- the runs -----------------------------------------------------------------------------------

def machine() -> str:
    """The CPU model and core count, e.g. 'AMD EPYC, 2 cores, Linux x86_64'."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def _commit() -> str:
    """The commit measured; '-dirty' when the working tree had changes."""
    r = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True,
                       check=False)
    return r.stdout.strip() or "unknown"


def _run(cmd: list[str]) -> None:
    """Run one benchmark command from the repository root, its output (progress included) shown as it
    comes; a failure stops the set with the command named, and nothing is written."""
    print("$ " + shlex.join(str(c) for c in cmd), flush=True)
    r = subprocess.run([str(c) for c in cmd], cwd=ROOT, check=False)
    if r.returncode:
        raise SystemExit(f"figures: `{shlex.join(str(c) for c in cmd)}` exited {r.returncode}; no JSON written")


def script(*cmd: str) -> Callable[[Path], dict]:
    """A set that is one command writing its report with ``--json FILE``."""
    def run(tmp: Path) -> dict:
        out = tmp / "out.json"
        _run([*cmd, "--json", out])
        return json.loads(out.read_text())
    run.command = shlex.join([c.replace(PY, "python") for c in cmd] + ["--json", "F"])  # type: ignore[attr-defined]
    return run


def run_lenet(_tmp: Path, emulate_samples: int = 500) -> dict:
    import torch
    from kernels_vs_cmsis import CMSIS_NN, CMSIS_NN_TOTAL
    from mcudeploy import datasets, hostrun, progress
    from mcudeploy import reference as R
    from mcudeploy.bench import bench_project
    from mcudeploy.boards import load_board
    from mcudeploy.pipeline import compile_model, run_module
    from mcudeploy.project import Project
    from mcudeploy.train import cached_trained
    from mcudeploy.validate import validate

    _, w = cached_trained("lenet5")
    with tempfile.TemporaryDirectory() as tmp:
        res = compile_model(f"{ROOT}/examples/lenet5.py:lenet5", str(w), "mnist", Path(tmp) / "lenet")
        prj = Project(res.outdir)
        g = res.graph
        x, y = datasets.load("mnist", "test")
        with progress.task(f"lenet: float and host C on {len(x):,} held-out samples"):
            flo = run_module(prj.float_model(), torch.from_numpy(x)).numpy()
            xq = R.prepare_input(g, x)
            exe = hostrun.build_host(res.outdir / "engine", Path(tmp) / "hb")
            got = hostrun.run_host(exe, xq, g.tensors[g.output].size)
            ref = R.run(g, xq)
        host_exact = int((got == ref).all(axis=1).sum())
        dev = R.dequantize_output(g, got).reshape(len(x), -1)
        v = validate(res.outdir, "nucleo-f446re", True, "mnist", limit=emulate_samples,
                     results=Path(tmp) / "v.jsonl")
        b = bench_project(prj, x[:1])
        rep = res.report
    layers = [{"name": r["name"], "macs": r["macs"], "estimated_cycles": r["estimated_cycles"],
               "cmsis_nn_estimated_cycles": CMSIS_NN[r["name"]]} for r in b["layers"]]
    return {
        "samples": len(x), "accuracy_float": float((flo.argmax(1) == y).mean()),
        "accuracy_int8": float((dev.argmax(1) == y).mean()), "agreement_float": float((dev.argmax(1) == flo.argmax(1)).mean()),
        "host_bit_exact": host_exact,
        "float32_param_bytes": rep["float32_param_bytes"], "weight_bytes": rep["weight_bytes"],
        "arena_bytes": rep["arena_bytes"], "arena_naive_bytes": rep["arena_naive_bytes"],
        "arena_pingpong_bytes": rep["arena_pingpong_bytes"],
        "emulated": {k: v[k] for k in ("samples", "bit_exact", "accuracy_device", "flash_bytes", "board_flash_bytes",
                                       "ram_bytes", "board_ram_bytes", "stack_peak_bytes", "count_per_inference",
                                       "counter")},
        "stack_reserved_bytes": load_board("nucleo-f446re").stack_bytes,
        "estimated_cycles": b["estimated_cycles"], "macs": b["macs"], "layers": layers,
        "cmsis_nn_estimated_cycles": CMSIS_NN_TOTAL,
    }



run_lenet.command = "in benchmarks/figures.py (compile, host C, validate --emulate 500, bench)"  # type: ignore[attr-defined]

COMPRESS_95 = ["examples/lenet5.py:lenet5", "--data", "mnist", "--sparsity", "0.95", "--steps", "5", "--epochs", "4",
               "--layer-sparsity", "conv1=0.7", "--layer-sparsity", "conv2=0.85"]


def run_deep_compression(tmp: Path) -> dict:
    """`mcudeploy compress` (the README's settings) from the cached trained LeNet-5, then
    benchmarks/deep_compression.py on the result with 500 samples on the emulated board."""
    from mcudeploy.train import cached_trained

    _, w = cached_trained("lenet5")
    _run([*MCUDEPLOY, "compress", *COMPRESS_95, "--weights", w, "-o", tmp / "pruned.pt2", "--json", tmp / "c.json"])
    _run([PY, "benchmarks/deep_compression.py", tmp / "pruned.pt2", "--emulate", "500", "--json", tmp / "d.json"])
    out = json.loads((tmp / "d.json").read_text())
    out["compress"] = json.loads((tmp / "c.json").read_text())
    out["compress_args"] = COMPRESS_95
    return out


run_deep_compression.command = ("mcudeploy compress " + shlex.join(COMPRESS_95)  # type: ignore[attr-defined]
                                + " --weights W -o P.pt2; python benchmarks/deep_compression.py P.pt2 --emulate 500")


def run_ops(tmp: Path) -> dict:
    """benchmarks/op_table.py: every case of tests/op_oracle.py against LiteRT BUILTIN_REF (both rounding rules)
    and torch float, and the est. cycles/MAC of the ops with MACs; ``data`` is its ``{"fields", "rows"}``."""
    out = tmp / "ops.json"
    _run([PY, "benchmarks/op_table.py", "--json", "--out", out])
    return json.loads(out.read_text())["data"]


run_ops.command = "python benchmarks/op_table.py --json --out F"  # type: ignore[attr-defined]


BUDGET_ARGS = ["--dense-epochs", "5", "--dense-limit", "0", "--limit", "0", "--epochs", "1", "--eval-limit", "10000",
               "--emulate", "10", "--distill", "--gate-frac", "0.3", "--threads", "1"]


def run_budget_pruning(tmp: Path) -> dict:
    """benchmarks/budget_pruning.py, both nets, three RAM budgets, budget-driven and uniform; ``data`` is its flat
    ``--figures`` JSON without the stamp (what, keys, settings, rows)."""
    out = tmp / "f.json"
    _run([PY, "benchmarks/budget_pruning.py", *BUDGET_ARGS, "--json", tmp / "raw.json", "--plot", tmp / "p.png",
          "--figures", out])
    doc = json.loads(out.read_text())
    return {k: doc[k] for k in ("what", "keys", "settings", "rows")}


run_budget_pruning.command = shlex.join(["python", "benchmarks/budget_pruning.py", *BUDGET_ARGS,  # type: ignore[attr-defined]
                                         "--figures", "F"])


LOWBIT_ARGS = ["--only", "ternary + channels + pruning", "--channels", "0.35", "--layer-sparsity",
               "conv1=0,conv2=0.3,fc1=0.95,fc2=0.75,fc3=0.3", "--epochs", "3", "--lr", "2e-3", "--layer-format",
               "conv2=ternary,fc2=ternary,fc3=ternary", "--emulate", "20"]


def run_lowbit(tmp: Path) -> dict:
    """benchmarks/lowbit_lenet.py, the ternary + channels + pruning variant against dense int8; ``data`` is its
    flat ``--figures`` JSON (keys explained in ``keys``; rows)."""
    out = tmp / "f.json"
    _run([PY, "benchmarks/lowbit_lenet.py", *LOWBIT_ARGS, "--figures", out])
    return json.loads(out.read_text())


run_lowbit.command = shlex.join(["python", "benchmarks/lowbit_lenet.py", *LOWBIT_ARGS,  # type: ignore[attr-defined]
                                 "--figures", "F"])


@dataclass(frozen=True)
class Set:
    """One figure set: how to run it, whether it is slow (only with --all), and how long it took.

    ``takes``: wall time of the 2026-11-30 run on the 2-core machine at a load of 20-30 (eight
    sessions sharing it); an idle machine is several times faster."""
    run: Callable[[Path], dict]
    slow: bool
    takes: str


SETS = {
    "lenet": Set(run_lenet, False, "~3 min"),
    "families": Set(script(PY, "benchmarks/families.py", "--samples", "50"), False, "6 min"),
    "ops": Set(run_ops, False, "~2.5 min"),
    "mlperf_suite": Set(script(*MCUDEPLOY, "bench", "--suite", "mlperf-tiny", "--samples", "2"), False, "9 min"),
    "mlperf_float_ports": Set(script(*MCUDEPLOY, "bench", "--suite", "mlperf-tiny", "--float-ports", "--samples", "20"),
                              True, "17 min"),
    "lowbit_lenet": Set(run_lowbit, True, "2 min alone, 5 min beside a second run (two compress "
                        "runs of 3 epochs, 20 emulated samples); the 1-epoch run took ~40 min at a load of 20-30"),
    "combine_net": Set(script(PY, "benchmarks/combine_net.py", "--sparsity", "0.9", "--limit", "4000", "--epochs", "1"),
                       True, "~40 min"),
    "deep_compression": Set(run_deep_compression, True, "~2 h"),
    "budget_pruning": Set(run_budget_pruning, True, "~4 h (two dense trainings of 15-18 min, 12 points)"),
    "resnet_structured": Set(script(PY, "benchmarks/structured_resnet.py", "--sparsity", "0.3", "--epochs", "1"),
                             True, "42 min"),
}


def measure(name: str, commit: str | None = None) -> None:
    """Run one set and write its JSON atomically (nothing is written when the run fails)."""
    t0, commit = time.time(), commit or _commit()
    with tempfile.TemporaryDirectory() as tmp:
        data = SETS[name].run(Path(tmp))
    doc = {"set": name, "date": datetime.date.today().isoformat(), "machine": machine(), "commit": commit,
           "command": SETS[name].run.command, "seconds": round(time.time() - t0, 1), "data": data}
    FIGURES.mkdir(parents=True, exist_ok=True)
    tmp = FIGURES / f".{name}.json.tmp"
    tmp.write_text(json.dumps(doc, indent=1, default=float) + "\n")
    tmp.replace(FIGURES / f"{name}.json")
    print(f"wrote {FIGURES / f'{name}.json'} ({doc['seconds']:.0f} s)", flush=True)


def list_sets() -> str:
    """One line per set: name, fast/slow, time, command. A time too long for its column (the slow
    sets explain theirs) puts the command on the next line, so the two never run together."""
    lines = []
    for name, s in SETS.items():
        head = f"{name:<20}{'slow' if s.slow else 'fast':<6}"
        if len(s.takes) < 10:
            lines.append(f"{head}{s.takes:<10}{s.run.command}")
        else:
            lines += [f"{head}{s.takes}", f"{'':<36}{s.run.command}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help=f"comma-separated sets ({', '.join(SETS)})")
    ap.add_argument("--all", action="store_true", help="also run the slow sets (fine-tuning: many minutes)")
    ap.add_argument("--render", action="store_true", help="no run: regenerate README.md and the docs in PAGES from the committed JSON")
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md or a doc in PAGES differs from the committed JSON")
    ap.add_argument("--list", action="store_true", help="print the sets, their commands and times, and exit")
    args = ap.parse_args(argv)
    if args.list:
        print(list_sets())
        return 0
    if not (args.render or args.check):
        names = args.only.split(",") if args.only else [n for n, s in SETS.items() if args.all or not s.slow]
        for name in names:
            if name not in SETS:
                ap.error(f"no figure set '{name}'; sets: {', '.join(SETS)}")
        commit = _commit()  # before the first set writes its JSON (which would make the tree look dirty to the next)
        for name in names:
            measure(name, commit)
    stale = []
    for page in PAGES:
        text = page.read_text()
        new = render_readme(text)
        if new == text:
            continue
        rel = page.relative_to(ROOT)
        if args.check:
            stale.append(str(rel))
            continue
        tmp = page.with_name(f".{page.name}.tmp")
        tmp.write_text(new)
        tmp.replace(page)
        print(f"updated {rel}")
    if stale:
        print(f"{', '.join(stale)}: figures differ from benchmarks/figures/*.json: run `python benchmarks/figures.py "
              "--render` (or `make figures`) and commit both", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
