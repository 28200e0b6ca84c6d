"""The virtual NUCLEO-F446RE against QEMU: samples/s of ``validate`` on the same project, and how
far the virtual board's DWT counts are from ``bench``'s estimate per layer.

    python benchmarks/virtual_board.py PROJECT [--data mnist] [--samples 200] [--json F]

Runs ``validate`` on the virtual board (``--emulate virtual``: the silicon image) and on QEMU
(``--emulate``: the -DMCD_EMULATED image), one after the other on the same machine, then
``profile --emulate virtual`` for the per-layer comparison. Both emulators are single-threaded;
on a shared machine the two figures move together with the load, their ratio less so.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from mcudeploy.profile import profile
from mcudeploy.validate import validate

BOARD = "nucleo-f446re"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("project")
    ap.add_argument("--data", default="mnist")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--json")
    a = ap.parse_args()
    out: dict = {"project": a.project, "samples": a.samples}
    with tempfile.TemporaryDirectory() as tmp:
        for name, emulate in (("virtual", "virtual"), ("qemu", True)):
            rep = validate(a.project, BOARD, emulate, a.data, limit=a.samples, results=Path(tmp) / f"{name}.jsonl")
            out[name] = {"bit_exact": rep["bit_exact"], "samples": rep["samples"], "counter": rep["counter"],
                         "count_per_inference": rep["count_per_inference"],
                         "samples_per_s": rep["throughput"]["samples_per_s"]}
            print(f"{name:8} {rep['bit_exact']}/{rep['samples']} bit-exact, {rep['count_per_inference']:,} "
                  f"{rep['counter']} per inference, {rep['throughput']['samples_per_s']:g} samples/s")
    prof = profile(a.project, BOARD, "virtual", data=a.data)
    out["layers"] = [{k: row.get(k) for k in ("name", "count", "estimated_cycles", "vs_estimate_pct")}
                     for row in prof["layers"]]
    for row in out["layers"]:
        print(f"{row['name']:10} {row['count']:>12,} estimated_dwt_cycles  {row['estimated_cycles'] or 0:>12,} "
              f"bench estimated_cycles  {row['vs_estimate_pct']:+.3f} %")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
