"""The README's measured tables, rendered from benchmarks/figures/<set>.json (written by figures.py).

One renderer per README block; each docstring names the keys of the set's ``data`` it reads (the
benchmark script's own ``--json`` output), so a script that changes its JSON changes one function
here. Why: the README's figures must be what a run printed, never typed by hand.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

FIGURES = Path(__file__).resolve().parent / "figures"


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
