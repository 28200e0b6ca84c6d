"""The README's measured tables, produced from a run: ``make figures`` (or ``python benchmarks/figures.py``).

    python benchmarks/figures.py                 # run every set, write benchmarks/figures/*.json, update README.md
    python benchmarks/figures.py --only lenet    # one set
    python benchmarks/figures.py --render        # no run: README.md from the committed JSON
    python benchmarks/figures.py --check         # exit 1 if README.md differs from the committed JSON

Why: figures copied by hand drift from what a fresh run prints. Each set runs what its table
measures, writes its JSON (with the date, the machine and the mcudeploy commit), and the tables
between ``<!-- figures:NAME -->`` and ``<!-- /figures:NAME -->`` in README.md are rewritten from
that JSON, never typed. tests/test_readme_figures.py checks that README.md matches the committed
JSON, so a table edited by hand, or a run whose JSON was not committed with it, fails the tests.

Sets (each reuses the trained-weights cache; times on an idle 2-core machine):
  lenet   LeNet-5 on MNIST: float and int8 top-1 on the held-out split, host C bit-exactness on
          every sample, 500 samples over the UART on the emulated NUCLEO-F446RE (flash, RAM, stack
          peak, emulated_instructions), estimated_cycles per layer against CMSIS-NN (~3 min).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "benchmarks" / "figures"
README = ROOT / "README.md"
sys.path.insert(0, str(ROOT / "benchmarks"))


# ---- the runs -----------------------------------------------------------------------------------

def machine() -> str:
    """The CPU model and core count, e.g. 'Intel(R) Xeon(R) ... , 2 cores, Linux x86_64'."""
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


def run_lenet(emulate_samples: int = 500) -> dict:
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


SETS = {"lenet": run_lenet}


# ---- the tables ----------------------------------------------------------------------------------

def _n(v: int) -> str:
    return f"{v:,}"


def _p(v: float) -> str:
    return f"{100 * v:.2f} %"


def stamp(doc: dict) -> str:
    return (f"_Measured {doc['date']} on {doc['machine']} (mcudeploy {doc['commit']}) by `make figures`; "
            f"JSON: `benchmarks/figures/{doc['set']}.json`._")


def table_lenet_summary(doc: dict) -> str:
    d, e = doc["data"], doc["data"]["emulated"]
    n = d["samples"]
    rows = [
        "| | float32 | mcudeploy int8 |", "|---|---|---|",
        (f"| top-1 accuracy, {_n(n)} held-out images | {_p(d['accuracy_float'])} | {_p(d['accuracy_int8'])} "
        f"(top-1 agreement with float {_p(d['agreement_float'])}) |"),
        (f"| bit-exact with the numpy reference | | {_n(d['host_bit_exact'])} / {_n(n)} (host C); "
        f"{_n(e['bit_exact'])} / {_n(e['samples'])} over the UART on emulated F446RE (top-1 "
        f"{_p(e['accuracy_device'])} on those {_n(e['samples'])}) |"),
        f"| weights + bias + requantization constants | {_n(d['float32_param_bytes'])} B | {_n(d['weight_bytes'])} B |",
        (f"| activation arena (incl. kernel scratch) | | {_n(d['arena_bytes'])} B (no reuse: {_n(d['arena_naive_bytes'])} B; "
        f"two ping-pong buffers of the largest activation: {_n(d['arena_pingpong_bytes'])} B) |"),
        (f"| firmware flash / RAM on NUCLEO-F446RE | | {_n(e['flash_bytes'])} / {_n(e['board_flash_bytes'])} B; "
        f"{_n(e['ram_bytes'])} / {_n(e['board_ram_bytes'])} B (incl. {d['stack_reserved_bytes'] // 1024} KB stack; stack peak {_n(e['stack_peak_bytes'])} B) |"),
        (f"| per inference | | {_n(e['count_per_inference'])} {e['counter']} (median over {_n(e['samples'])} samples); "
        f"{_n(d['estimated_cycles'])} estimated_cycles |"),
    ]
    return "\n".join([stamp(doc), "", *rows])


LAYER_LABELS = {"conv1": "conv1 6@5x5 pad 2 (+ max-pool)", "conv2": "conv2 16@5x5 (+ max-pool)",
                "fc1": "fc 400->120", "fc2": "fc 120->84", "fc3": "fc 84->10"}


def table_lenet_kernels(doc: dict) -> str:
    d = doc["data"]
    rows = ["| LeNet-5 layer | MACs | CMSIS-NN | mcudeploy | ratio |", "|---|---|---|---|---|"]
    for r in d["layers"]:
        rows.append(f"| {LAYER_LABELS.get(r['name'], r['name'])} | {_n(r['macs'])} | {_n(r['cmsis_nn_estimated_cycles'])} | "
                    f"{_n(r['estimated_cycles'])} | {r['estimated_cycles'] / r['cmsis_nn_estimated_cycles']:.2f} |")
    rows.append(f"| **total** | {_n(d['macs'])} | {_n(d['cmsis_nn_estimated_cycles'])} | {_n(d['estimated_cycles'])} | "
                f"**{d['estimated_cycles'] / d['cmsis_nn_estimated_cycles']:.3f}** |")
    return "\n".join([stamp(doc), "", *rows])


# block name in README -> (set, renderer)
TABLES = {"lenet-summary": ("lenet", table_lenet_summary), "lenet-kernels": ("lenet", table_lenet_kernels)}


def load(name: str) -> dict:
    return json.loads((FIGURES / f"{name}.json").read_text())


def render_readme(text: str) -> str:
    """README text with every figures block regenerated from the committed JSON."""
    def block(m: re.Match) -> str:
        name = m.group(1)
        if name not in TABLES:
            raise SystemExit(f"README.md has a figures block '{name}' that figures.py does not know")
        set_name, fn = TABLES[name]
        return f"<!-- figures:{name} -->\n{fn(load(set_name))}\n<!-- /figures:{name} -->"
    return re.sub(r"<!-- figures:([\w-]+) -->\n.*?\n<!-- /figures:\1 -->", block, text, flags=re.DOTALL)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help=f"comma-separated sets ({', '.join(SETS)})")
    ap.add_argument("--render", action="store_true", help="no run: regenerate README.md from the committed JSON")
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md differs from the committed JSON")
    args = ap.parse_args(argv)
    if not (args.render or args.check):
        for name in (args.only.split(",") if args.only else SETS):
            if name not in SETS:
                ap.error(f"no figure set '{name}'; sets: {', '.join(SETS)}")
            data = SETS[name]()
            doc = {"set": name, "date": datetime.date.today().isoformat(), "machine": machine(),
                   "commit": _commit(), "data": data}
            FIGURES.mkdir(parents=True, exist_ok=True)
            tmp = FIGURES / f".{name}.json.tmp"
            tmp.write_text(json.dumps(doc, indent=1) + "\n")
            tmp.replace(FIGURES / f"{name}.json")
            print(f"wrote {FIGURES / f'{name}.json'}")
    text = README.read_text()
    new = render_readme(text)
    if args.check:
        if new != text:
            print("README.md's figures differ from benchmarks/figures/*.json: run `python benchmarks/figures.py "
                  "--render` (or `make figures`) and commit both", file=sys.stderr)
            return 1
        return 0
    if new != text:
        README.write_text(new)
        print("updated README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
