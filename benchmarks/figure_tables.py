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
    """The line above every table: when, where, at which commit, and which JSON."""
    if "date" not in doc:
        return (f"_Date and machine not recorded (a raw script JSON): run `make figures FIGURES={doc['set']}`; "
                f"JSON: `benchmarks/figures/{doc['set']}.json`._")
    took = f" in {doc['seconds'] / 60:.0f} min" if doc.get("seconds", 0) >= 90 else ""
    return (f"_Measured {doc['date']} on {doc['machine']} (mcudeploy {doc['commit']}) by `make figures`{took}; "
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


def _x(v: float) -> str:
    return f"{v:.1f}x"


def table_deep_compression(doc: dict) -> str:
    """Set ``deep_compression`` (benchmarks/deep_compression.py --json): ``dense_int8`` and
    ``pruned_sparse_int8`` each with samples, bit_exact, accuracy_float, accuracy_int8, estimated_cycles,
    footprint_bytes, float32_bytes, arena_bytes, sparsity, ``layers`` (name, nonzeros, weights) and
    ``bench_layers`` (name, estimated_cycles); ``emulated`` (samples, bit_exact, accuracy_device,
    count_per_inference, counter, flash_bytes, ram_bytes); ``compress_args`` (the compress command)."""
    d = doc["data"]
    a, b, e = d["dense_int8"], d["pruned_sparse_int8"], d.get("emulated")
    n = a["samples"]
    f32 = a["float32_bytes"]
    sp = {r["name"]: r for r in b["layers"]}
    lay = ", ".join(f"{k} {100 * (1 - sp[k]['nonzeros'] / max(sp[k]['weights'], 1)):.0f} %" for k in ("conv1", "conv2")
                    if k in sp)
    emu = (f"; {_n(e['bit_exact'])} / {_n(e['samples'])} over the UART on the emulated F446RE (top-1 "
           f"{_p(e['accuracy_device'])} on those {_n(e['samples'])}; {_n(e['count_per_inference'])} {e['counter']}; "
           f"flash {_n(e['flash_bytes'])} B, RAM {_n(e['ram_bytes'])} B)") if e else ""
    rows = [
        (f"| LeNet-5, MNIST ({_n(n)} held-out) | float32 | dense int8 | pruned {100 * b['sparsity']:.0f} % ({lay}) "
        "+ int8 + sparse |"), "|---|---|---|---|",
        (f"| top-1 | {_p(a['accuracy_float'])} | {_p(a['accuracy_int8'])} | {_p(b['accuracy_int8'])} "
         f"({100 * (b['accuracy_int8'] - a['accuracy_float']):+.2f} points) |"),
        (f"| footprint: weights (+ indices, scales, bias) + activation arena | {_n(f32)} B | "
         f"{_n(a['footprint_bytes'])} B | {_n(b['footprint_bytes'])} B (**{_x(f32 / b['footprint_bytes'])}** "
         "smaller than float32) |"),
        (f"| estimated_cycles per inference | | {_n(a['estimated_cycles'])} | {_n(b['estimated_cycles'])} "
         f"(**{a['estimated_cycles'] / b['estimated_cycles']:.2f}x** fewer) |"),
        (f"| bit-exact with the reference | | {_n(a['bit_exact'])} / {_n(n)} | {_n(b['bit_exact'])} / {_n(n)} "
         f"host{emu} |"),
    ]
    dl = {r["name"]: r["estimated_cycles"] for r in a["bench_layers"]}
    per = ["| layer | format | non-zeros / weights | dense est. cycles | pruned est. cycles | ratio |",
           "|---|---|---|---|---|---|"]
    for r, bl in zip(b["layers"], b["bench_layers"]):
        dc, pc = dl.get(bl["name"]), bl["estimated_cycles"]
        per.append(f"| {bl['name']} | {r['format']} | {_n(r['nonzeros'])} / {_n(r['weights'])} | "
                   f"{_n(dc) if dc else ''} | {_n(pc)} | {f'{dc / pc:.2f}x' if dc else ''} |")
    cmd = f"`mcudeploy compress {' '.join(d['compress_args'])} --weights W -o P.pt2`" if "compress_args" in d else ""
    return "\n".join([stamp(doc), "", *rows, "", f"Per layer ({cmd}):" if cmd else "Per layer:", "", *per])


def table_lowbit(doc: dict) -> str:
    """Set ``lowbit_lenet`` (benchmarks/lowbit_lenet.py --figures; ``data``: float32_bytes, float_top1_pct,
    held_out_samples, keys (each row key explained), rows): per row variant, top1_pct, loss_points_vs_float,
    footprint_bytes (weight_bytes + arena_bytes), ratio_vs_float32, estimated_cycles, speedup_vs_dense_int8,
    bit_exact_host / host_samples, bit_exact_emulated / emulated_samples (None: not run), formats."""
    d = doc["data"]
    rows = [(f"| LeNet-5, MNIST ({_n(d['held_out_samples'])} held-out; float32 {d['float_top1_pct']:.2f} %) | top-1 "
             f"(loss) | footprint: weights + indices + scales + arena | vs float32 ({_n(d['float32_bytes'])} B) | "
             "estimated_cycles | bit-exact host / emulated F446RE | formats chosen |"), "|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        speed = "" if r["speedup_vs_dense_int8"] == 1 else f" ({r['speedup_vs_dense_int8']:.2f}x fewer)"
        emu = "-" if r["bit_exact_emulated"] is None else f"{r['bit_exact_emulated']} / {r['emulated_samples']}"
        rows.append(f"| {r['variant']} | {r['top1_pct']:.2f} % ({r['loss_points_vs_float']:.2f}) | "
                    f"{_n(r['footprint_bytes'])} B ({_n(r['weight_bytes'])} + {_n(r['arena_bytes'])}) | "
                    f"**{r['ratio_vs_float32']:.1f}x** | {_n(r['estimated_cycles'])}{speed} | "
                    f"{_n(r['bit_exact_host'])} / {_n(r['host_samples'])}; {emu} | {r['formats']} |")
    return "\n".join([stamp(doc), "", *rows])


def table_combine_net(doc: dict) -> str:
    """Set ``combine_net`` (benchmarks/combine_net.py --json; ``data``: channel_rate, finetune_samples,
    finetune_epochs, dense_top1_pct, held_out_samples, rows): per row config, rate, top1_pct, vs_baseline_points,
    params, macs; plus pruned_not_finetuned_top1_pct_at_0.9 (plain, adaptive_bn) and knee_rate."""
    d = doc["data"]
    rows = ["| ResNet-style, Fashion-MNIST | channels removed | top-1 (float) | vs baseline (points) | parameters / MACs |",
            "|---|---|---|---|---|"]
    for r in d["rows"]:
        rows.append(f"| {r['config']} | {100 * r['rate']:.0f} % | {r['top1_pct']:.2f} % | "
                    f"{r['vs_baseline_points']:+.2f} | {_n(r['params'])} / {_n(r['macs'])} |")
    pre = d.get("pruned_not_finetuned_top1_pct_at_0.9", {})
    return "\n".join([stamp(doc) + f" Dense {d['dense_top1_pct']:.2f} %, {_n(d['held_out_samples'])} held-out; "
                      f"fine-tuned {d['finetune_epochs']} epoch on {_n(d['finetune_samples'])} samples. Before "
                      f"fine-tuning at {100 * d['channel_rate']:.0f} %: {pre.get('plain', '-')} % with stale BatchNorm "
                      f"statistics, {pre.get('adaptive_bn', '-')} % recalibrated.", "", *rows])


def table_structured(doc: dict) -> str:
    """Set ``resnet_structured`` (benchmarks/structured_resnet.py --json): ``settings.sparsity``;
    ``compress`` (macs_before, macs_after, params_before, params_after); ``dense`` and ``pruned`` each with
    samples, bit_exact, accuracy_float, accuracy_int8, instructions, estimated_cycles."""
    d = doc["data"]
    c, a, b = d["compress"], d["dense"], d["pruned"]
    pct = lambda new, old: f"{100 * (new - old) / old:+.1f} %"
    return "\n".join([stamp(doc), "", (
        f"| ResNet-style, Fashion-MNIST ({_n(a['samples'])} held-out), structured pruning | dense | channels pruned "
        f"{100 * d['settings']['sparsity']:.0f} % per group |"), "|---|---|---|",
        (f"| MACs / parameters | {_n(c['macs_before'])} / {_n(c['params_before'])} | {_n(c['macs_after'])} "
         f"({pct(c['macs_after'], c['macs_before'])}) / {_n(c['params_after'])} ({pct(c['params_after'], c['params_before'])}) |"),
        (f"| int8 top-1 (float top-1) | {_p(a['accuracy_int8'])} ({_p(a['accuracy_float'])}) | "
         f"{_p(b['accuracy_int8'])} ({_p(b['accuracy_float'])}) |"),
        (f"| instructions / estimated_cycles per inference (est. cycles/MAC) | {_n(a['instructions'])} / "
         f"{_n(a['estimated_cycles'])} ({a['estimated_cycles'] / c['macs_before']:.2f}) | {_n(b['instructions'])} "
         f"({pct(b['instructions'], a['instructions'])}) / {_n(b['estimated_cycles'])} "
         f"({pct(b['estimated_cycles'], a['estimated_cycles'])}) |"),
        f"| bit-exact (host C) | {_n(a['bit_exact'])} / {_n(a['samples'])} | {_n(b['bit_exact'])} / {_n(b['samples'])} |",
    ])


MLPERF_LABELS = {"ic_resnet8": "IC ResNet-8", "kws_dscnn": "KWS DS-CNN", "vww_mobilenet": "VWW MobileNetV1-0.25",
                 "ad_autoencoder": "AD autoencoder"}
# Published, not measured here: ST X-CUBE-AI on the NUCLEO-L4R5ZI (Cortex-M4F, 120 MHz). Best MLPerf Tiny
# v1.2/v1.3 closed figures as silicon cycles/MAC with our MAC counts (docs/mlperf_tiny.md) ...
XCUBE_BEST_CYCLES_PER_MAC = {"ic_resnet8": 1.585, "kws_dscnn": 1.951, "vww_mobilenet": 1.425, "ad_autoencoder": 2.177}
# ... and v1.0 closed: median latency in ms at 120 MHz (results.txt of mlcommons/tiny_results_v1.0).
XCUBE_V10_MS = {"ic_resnet8": 226.9, "kws_dscnn": 75.1, "vww_mobilenet": 230.5, "ad_autoencoder": 7.58}


def _mlabel(r: dict) -> str:
    return MLPERF_LABELS.get(r["name"], r["name"])


def table_mlperf_suite(doc: dict) -> str:
    """Set ``mlperf_suite`` (``mcudeploy bench --suite mlperf-tiny --json``): ``models_source``, ``models``
    rows with name, macs, estimated_cycles_per_mac, estimated_cycles_flash_per_mac, flash_bytes, ram_bytes,
    samples, bit_exact, litert_exact (None for a port). The X-CUBE-AI column is published, not measured."""
    d = doc["data"]
    rows = [("| official int8 model | MACs | est. cycles/MAC, zero-wait | est. cycles/MAC, flash model | "
            "X-CUBE-AI, silicon | flash / RAM (F446RE) | bit-exact (= LiteRT) |"), "|---|---|---|---|---|---|---|"]
    for r in d["models"]:
        lite = "" if r.get("litert_exact") is None else f" ({r['litert_exact']}/{r['samples']})"
        xc = XCUBE_BEST_CYCLES_PER_MAC.get(r["name"])
        rows.append(f"| {_mlabel(r)} | {_n(r['macs'])} | {r['estimated_cycles_per_mac']:.3f} | "
                    f"{r['estimated_cycles_flash_per_mac']:.3f} | {xc if xc else '-'} | {_n(r['flash_bytes'])} / "
                    f"{_n(r['ram_bytes'])} B | {r['bit_exact']}/{r['samples']}{lite} |")
    return "\n".join([stamp(doc) + f" Models: {d['models_source']}.", "", *rows])


def table_mlperf_float_ports(doc: dict) -> str:
    """Set ``mlperf_float_ports`` (``bench --suite mlperf-tiny --float-ports --json``): ``models`` rows
    with name, macs, count_per_inference, counter, estimated_cycles, estimated_cycles_per_mac,
    flash_bytes, ram_bytes, board_flash_bytes, board_ram_bytes, samples, bit_exact, agreement_metric,
    agreement_float. The X-CUBE-AI column (v1.0, ms at 120 MHz) is published, not measured."""
    d = doc["data"]
    m = lambda v: f"{v / 1e6:.2f} M"
    rows = [("| model | MACs | emulated_instructions | estimated_cycles (est./MAC) | flash / RAM (bytes) | bit-exact | "
            "int8 vs float | published, ST X-CUBE-AI on L4R5ZI at 120 MHz (silicon cycles/MAC) |"), "|---|---|---|---|---|---|---|---|"]
    for r in d["models"]:
        agree = ("score rank" if r["agreement_metric"] == "anomaly_score_rank" else "top-1") + \
            f" {100 * r['agreement_float']:.1f} %"
        ms = XCUBE_V10_MS.get(r["name"])
        pub = f"{ms} ms ({ms * 1e-3 * 120e6 / r['macs']:.2f})" if ms else "-"
        rows.append(f"| {_mlabel(r)} | {m(r['macs'])} | {m(r['count_per_inference'])} | {m(r['estimated_cycles'])} "
                    f"({r['estimated_cycles_per_mac']:.2f}) | {_n(r['flash_bytes'])} / {_n(r['ram_bytes'])} | "
                    f"{r['bit_exact']}/{r['samples']} | {agree} | {pub} |")
    return "\n".join([stamp(doc), "", *rows])


FAMILY_LABELS = {"mobilenetv3": "MobileNetV3-style (Hardswish, SE, Hardsigmoid), digits",
                 "tcresnet": "TC-ResNet KWS (Conv1d, dilation 1/2/4), synthetic keywords",
                 "unet": "tiny U-Net (ConvTranspose, bilinear Upsample, concat), digits",
                 "grouped": "grouped convs (groups 2, 4), digits"}


def table_families(doc: dict) -> str:
    """Set ``families`` (benchmarks/families.py --json: a list): per row family, ops, samples, bit_exact,
    flash_bytes, ram_bytes, test_samples and top1_int8/top1_float (classifiers) or mse_int8/mse_float."""
    rows = ["| family | ops used | bit-exact on the board | int8 / float (held-out) | flash / RAM (bytes) |",
            "|---|---|---|---|---|"]
    for r in doc["data"]:
        q = (f"top-1 {_p(r['top1_int8'])} / {_p(r['top1_float'])}" if "top1_int8" in r
             else f"MSE {r['mse_int8']:.5f} / {r['mse_float']:.5f}")
        rows.append(f"| {FAMILY_LABELS.get(r['family'], r['family'])} | {', '.join(r['ops'])} | "
                    f"{r['bit_exact']} / {r['samples']} | {q} ({_n(r['test_samples'])}) | {_n(r['flash_bytes'])} / "
                    f"{_n(r['ram_bytes'])} |")
    return "\n".join([stamp(doc), "", *rows])


def table_ops(doc: dict) -> str:
    """Set ``ops`` (benchmarks/op_table.py --json; ``data`` = {"fields", "rows"}, the keys explained in ``fields``):
    per row op, kind, kernel, in_shape, out_shape, litert_op (None: no int8 LiteRT kernel), bytes_equal and
    litert_max_diff (single rounding), bytes_equal_double / litert_max_diff_double (conv-type records),
    float_max_steps (torch float oracle, in output steps), est_cycles_per_mac and bench_shape (ops with MACs,
    estimated_cycles of the M4 timing model, zero-wait); a row with ``error`` is shown as failed."""
    rows_in = doc["data"]["rows"]

    def pct(x: float) -> str:
        return "equal" if x == 1 else f"{100 * x:.2f} %"

    rows = [("| case (IR op) | kernel | shape (HWC) in -> out | est. cycles/MAC (M4, zero-wait) | "
             "LiteRT single rounding | LiteRT double rounding | vs torch float, max steps |"),
            "|---|---|---|---|---|---|---|"]
    for r in rows_in:
        if "error" in r:
            rows.append(f"| {r['op']} | failed: {r['error']} | | | | | |")
            continue
        shape = f"{'x'.join(map(str, r['in_shape']))} -> {'x'.join(map(str, r['out_shape']))}"
        cyc = f"{r['est_cycles_per_mac']:.2f}" if r.get("est_cycles_per_mac") is not None else "-"
        if not r.get("litert_op"):
            single = "no int8 LiteRT op"
        elif r.get("bytes_equal") is not None:
            single = f"{r['litert_op']}: {pct(r['bytes_equal'])}" + (
                f", max {r['litert_max_diff']}" if r["bytes_equal"] != 1 else "")
        else:
            single = f"{r['litert_op']}: {r.get('litert_error', '?')}"
        dbl = "-"
        if r.get("bytes_equal_double") is not None:
            dbl = pct(r["bytes_equal_double"]) + (
                f", max {r['litert_max_diff_double']}" if r["bytes_equal_double"] != 1 else "")
        rows.append(f"| {r['op']} ({r['kind']}) | {r['kernel']} | {shape} | {cyc} | {single} | {dbl} | "
                    f"{r['float_max_steps']:.3f} |")
    worst = max((r["float_max_steps"] for r in rows_in if "float_max_steps" in r), default=0)
    return "\n".join([stamp(doc) + f" {len(rows_in)} cases; worst against torch float: {worst:.3f} steps.",
                      "", *rows])


def table_budget_pruning(doc: dict) -> str:
    """Set ``budget_pruning`` (benchmarks/budget_pruning.py --figures; ``data``: what, keys (each row key
    explained), settings, rows): per row model, method (dense/budget/uniform), ram_budget_bytes, arena_bytes,
    arena_reduction, engine_flash_bytes, estimated_cycles, int8_top1_percent, drop_points, test_samples,
    host_bit_exact, emulated_bit_exact, emulated_samples."""
    d = doc["data"]
    rows = [("| net | method | RAM budget | arena (link map) | vs dense | engine flash | estimated_cycles | int8 top-1 "
             "| drop (points) | bit-exact host / emulated |"), "|---|---|---|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        budget = f"{_n(r['ram_budget_bytes'])} B" if r["ram_budget_bytes"] else "-"
        method = r["method"] + (f" ({r['uniform_ratio']:.2f} removed)" if r.get("uniform_ratio") else "")
        rows.append(f"| {r['model']} | {method} | {budget} | {_n(r['arena_bytes'])} B | {r['arena_reduction']:.2f}x | "
                    f"{_n(r['engine_flash_bytes'])} B | {_n(r['estimated_cycles'])} | {r['int8_top1_percent']:.2f} % | "
                    f"{r['drop_points']:.2f} | {_n(r['host_bit_exact'])} / {_n(r['test_samples'])}; "
                    f"{r['emulated_bit_exact']} / {r['emulated_samples']} |")
    st = d["settings"]
    return "\n".join([stamp(doc) + f" Fashion-MNIST, {_n(st['test_samples'])} held-out; each point fine-tuned "
                      f"{st['epochs']:g} epoch over {_n(st['train_samples'])} samples, distilled ({st['distill']}).",
                      "", *rows])


# block name in README -> (set, renderer)
TABLES = {"lenet-summary": ("lenet", table_lenet_summary), "lenet-kernels": ("lenet", table_lenet_kernels),
          "deep-compression": ("deep_compression", table_deep_compression), "lowbit": ("lowbit_lenet", table_lowbit),
          "resnet-structured": ("resnet_structured", table_structured),
          "mlperf-suite": ("mlperf_suite", table_mlperf_suite),
          "mlperf-float-ports": ("mlperf_float_ports", table_mlperf_float_ports),
          "ops": ("ops", table_ops), "budget-pruning": ("budget_pruning", table_budget_pruning),
          "combine-net": ("combine_net", table_combine_net), "families": ("families", table_families)}


def load(name: str) -> dict:
    """The set's JSON as ``{"set", "date", "machine", "commit", ..., "data"}``; a raw script JSON (no
    wrapper, e.g. written by the script's own ``--json``) becomes ``{"set", "data"}``."""
    doc = json.loads((FIGURES / f"{name}.json").read_text())
    if not (isinstance(doc, dict) and "data" in doc and doc.get("set") == name):
        doc = {"set": name, "data": doc}
    return doc


NOT_RUN = "_Not regenerated by `make figures` yet"
BLOCK = re.compile(r"<!-- figures:([\w-]+) -->\n(.*?)\n<!-- /figures:\1 -->", re.DOTALL)


def render_readme(text: str) -> str:
    """README text with every figures block regenerated from the committed JSON.

    A block whose set has no JSON yet is kept as it is, but it must say so: its text starts with
    NOT_RUN (the run's date, and why it was not rerun), so a hand-copied table is never taken for a
    generated one."""
    def block(m: re.Match) -> str:
        name, body = m.group(1), m.group(2)
        if name not in TABLES:
            raise SystemExit(f"a page has a figures block '{name}' that figures.py does not know; known: "
                             f"{', '.join(TABLES)}")
        set_name, fn = TABLES[name]
        if not (FIGURES / f"{set_name}.json").is_file():
            if not body.startswith(NOT_RUN):
                raise SystemExit(f"README.md's figures block '{name}' has no benchmarks/figures/{set_name}.json and "
                                 f"does not start with '{NOT_RUN}': run `make figures FIGURES={set_name}`")
            return m.group(0)
        return f"<!-- figures:{name} -->\n{fn(load(set_name))}\n<!-- /figures:{name} -->"
    return BLOCK.sub(block, text)
