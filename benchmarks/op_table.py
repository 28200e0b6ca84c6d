"""Issue 12's table of every op: supported shapes, kernel variant, est. cycles/MAC on the M4 where
the op has MACs, and its independent oracle result, from the real oracle code (tests/op_oracle.py).

    python benchmarks/op_table.py                  # print the table (markdown)
    python benchmarks/op_table.py --json           # also write benchmarks/figures/ops.json
    python benchmarks/op_table.py --no-bench conv2d_grouped convt_k2s2   # some ops, no cycle runs

Per op (one row per case of tests/op_oracle.py):

* the oracle: the op as a one-op int8 TFLite graph (same weights, scales, zero points) run by
  LiteRT's reference kernels (BUILTIN_REF), against mcudeploy's numpy reference, which every C
  kernel equals byte for byte (tests/test_ops.py, tests/test_kernels_m4.py); 64 random int8
  inputs over the full range. Conv-type records are measured with both requantization rules:
  single (the PyTorch path's default) and double (``--rounding double``, LiteRT's own rule for
  convolutions: there the bytes must be equal). Float: the dequantized output against torch's op
  on the dequantized input, in output quantization steps;
* cycles: a one-layer model of the op at a larger shape (16 channels where the op allows),
  compiled and run through ``bench`` (the Cortex-M4 timing model, zero-wait memory): counter
  ``estimated_cycles``, not silicon. The harness checks the output bytes against the reference.

JSON (``--json``): the figures envelope of benchmarks/figures.py (set, date, machine, commit)
with ``data.rows``, one flat object per op; ``data.fields`` says what each key means.
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
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import op_oracle as O
from figures import FIGURES, _commit, machine

FIELDS = {
    "op": "case name in tests/op_oracle.py",
    "kind": "IR op kind (the op record's name)",
    "kernel": "kernel variant the generator selects (fast / generic, the conv variants), or the kernel file of "
              "a one-kernel record",
    "supported": "what the op supports (shapes, parameters)",
    "in_shape": "oracle input shape, device layout (H, W, C; Conv1d 1 x L x C; vectors (N,))",
    "out_shape": "oracle output shape, device layout",
    "litert_op": "the TFLite builtin run by LiteRT BUILTIN_REF (null: no int8 reference kernel, float check only)",
    "same_rule": "LiteRT rounds as the reference under single rounding: bytes must be equal",
    "bytes_equal": "share of output bytes equal to LiteRT, reference with single rounding (0..1)",
    "litert_max_diff": "largest |difference| to LiteRT in output steps, single rounding",
    "bytes_equal_double": "share of bytes equal to LiteRT with --rounding double (conv-type records only)",
    "litert_max_diff_double": "largest |difference| to LiteRT with --rounding double",
    "float_max_steps": "largest |int8 dequantized - torch float| in output steps (single rounding)",
    "bench_shape": "input shape (torch, batch removed) of the one-layer model run through bench",
    "macs": "multiply-accumulates of that layer",
    "est_cycles_per_mac": "estimated_cycles / MACs on the Cortex-M4 timing model, zero-wait memory",
    "counter": "estimated_cycles: the Cortex-M4 timing model (tool/mcudeploy/cycles.py), not silicon",
}

CONV_KINDS = ("conv2d", "dwconv2d", "gconv2d", "convt", "fc")

# the one-layer model of each op with MACs, at a shape where per-layer overheads are amortized
BENCH = {
    "conv2d": (lambda: nn.Conv2d(16, 16, 3, padding=1), (16, 12, 12)),
    "conv2d_dilated": (lambda: nn.Conv2d(16, 16, 3, padding=2, dilation=2), (16, 12, 12)),
    "conv2d_grouped": (lambda: nn.Conv2d(16, 16, 3, padding=1, groups=2), (16, 12, 12)),
    "conv2d_groups4": (lambda: nn.Conv2d(16, 16, 3, padding=1, groups=4), (16, 12, 12)),
    "conv2d_groups4_odd": (lambda: nn.Conv2d(12, 12, 3, stride=2, groups=4), (12, 13, 13)),
    "conv2d_groups8": (lambda: nn.Conv2d(16, 16, 3, padding=1, groups=8), (16, 12, 12)),
    "dwconv_dilated": (lambda: nn.Conv2d(16, 16, 3, padding=2, dilation=2, groups=16), (16, 12, 12)),
    "dwconv_dilated_odd": (lambda: nn.Conv2d(7, 7, 5, padding=4, dilation=2, groups=7), (7, 12, 12)),
    "conv1d_dilated": (lambda: nn.Conv1d(16, 16, 3, padding=2, dilation=2), (16, 64)),
    "convt_k2s2": (lambda: nn.ConvTranspose2d(16, 16, 2, stride=2), (16, 6, 6)),
    "convt_k2s2_odd": (lambda: nn.ConvTranspose2d(5, 3, 2, stride=2), (5, 6, 6)),
    "convt_k4s2p1": (lambda: nn.ConvTranspose2d(16, 16, 4, stride=2, padding=1), (16, 6, 6)),
}

SUPPORTED = {
    "conv2d": "Conv2d groups 1, dilation 1, any kernel/stride/padding",
    "gconv2d": "Conv2d/Conv1d with groups > 1 (any, incl. depthwise with dilation) and/or dilation > 1",
    "convt": "ConvTranspose2d groups 1, dilation 1, any kernel/stride, padding <= kernel - 1, output_padding",
}


def bench_op(name: str) -> dict:
    """est. cycles/MAC of the op's one-layer model (bench: the harness also checks the bytes)."""
    from mcudeploy.bench import bench_project
    from mcudeploy.frontend import export_module
    from mcudeploy.pipeline import build_project
    from mcudeploy.project import Project

    make, shape = BENCH[name]
    torch.manual_seed(0)
    m = nn.Sequential(make()).eval()
    x = np.random.default_rng(0).standard_normal((32,) + shape).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        res = build_project(export_module(m, torch.from_numpy(x[:1])), x, Path(d) / "p")
        b = bench_project(Project(res.outdir), x[:1])
    layer = max(b["layers"], key=lambda lay: lay["macs"] or 0)
    return {"bench_shape": list(shape), "macs": layer["macs"], "est_cycles_per_mac": layer["cycles_per_mac"],
            "counter": "estimated_cycles"}


def row_for(case, bench: bool) -> dict:
    name, _module, _shape, tfl = case
    r = O.check_case(*case)
    if "error" in r:
        return r
    from mcudeploy import ops as OPS

    rec = OPS.REGISTRY.get(r["kind"])
    kernel = r["variant"]
    if rec is not None and rec.select is None:  # one kernel, no variants: name its file
        kernel = rec.c_files[0] if rec.c_files else "none (no code)"
    row = {"op": name, "kind": r["kind"], "kernel": kernel,
           "supported": SUPPORTED.get(r["kind"]) or (rec.supported if rec else ""),
           "in_shape": r["in_shape"], "out_shape": r["out_shape"], "litert_op": tfl,
           "same_rule": name in O.SAME_RULE, "bytes_equal": r.get("bytes_equal"),
           "litert_max_diff": r.get("litert_max_diff"), "float_max_steps": r["float_max_steps"]}
    if "litert_error" in r:
        row["litert_error"] = r["litert_error"]
    if tfl and r["kind"] in CONV_KINDS:
        d = O.check_case(*case, rounding="double")
        row.update(bytes_equal_double=d.get("bytes_equal"), litert_max_diff_double=d.get("litert_max_diff"))
    if bench and name in BENCH:
        row.update(bench_op(name))
    return row


def markdown(rows: list[dict]) -> str:
    def pct(v):
        return "–" if v is None else f"{100 * v:.2f} %"

    head = ("| op | kernel | oracle shape in -> out | est. cycles/MAC (bench shape) | LiteRT single | "
            "LiteRT double | float max steps |")
    out = [head, "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['op']} | error: {r['error']} | | | | | |")
            continue
        cyc = f"{r['est_cycles_per_mac']:.2f} ({'x'.join(map(str, r['bench_shape']))})" if "est_cycles_per_mac" in r else "–"
        lite = "no int8 kernel" if not r["litert_op"] else (
            f"{pct(r['bytes_equal'])}, max {r['litert_max_diff']}" if r.get("bytes_equal") is not None
            else r.get("litert_error", "?"))
        dbl = f"{pct(r['bytes_equal_double'])}, max {r['litert_max_diff_double']}" if "bytes_equal_double" in r else "–"
        out.append(f"| {r['op']} ({r['kind']}) | {r['kernel']} | {'x'.join(map(str, r['in_shape']))} -> "
                   f"{'x'.join(map(str, r['out_shape']))} | {cyc} | {lite} | {dbl} | {r['float_max_steps']} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ops", nargs="*", help="case names of tests/op_oracle.py (default: all)")
    ap.add_argument("--json", action="store_true", help="write the rows to --out")
    ap.add_argument("--out", type=Path, default=FIGURES / "ops.json", help="JSON path (default: %(default)s)")
    ap.add_argument("--no-bench", action="store_true", help="skip the cycle runs (oracle only, seconds)")
    a = ap.parse_args(argv)
    cases = [c for c in O.cases() if not a.ops or c[0] in a.ops]
    unknown = set(a.ops) - {c[0] for c in O.cases()}
    if unknown:
        print(f"error: unknown op case(s) {sorted(unknown)}; expected names from tests/op_oracle.py cases(), "
              f"e.g. {', '.join(c[0] for c in O.cases()[:4])}", file=sys.stderr)
        return 2
    rows = []
    t0 = time.time()
    for i, c in enumerate(cases):
        print(f"[{i + 1}/{len(cases)}] {c[0]} ...", file=sys.stderr, flush=True)
        try:
            rows.append(row_for(c, bench=not a.no_bench))
        except Exception as exc:  # noqa: BLE001  (the table shows it)
            rows.append({"op": c[0], "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"})
    print(markdown(rows))
    if a.json:
        doc = {"set": "ops", "date": time.strftime("%Y-%m-%d"), "machine": machine(), "commit": _commit(),
               "command": "python benchmarks/op_table.py --json --out F", "seconds": round(time.time() - t0, 1),
               "data": {"fields": FIELDS, "rows": rows}}
        a.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = a.out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        tmp.replace(a.out)
        print(f"wrote {a.out}", file=sys.stderr)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
