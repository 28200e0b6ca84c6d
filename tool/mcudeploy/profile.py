"""``mcudeploy profile``: per-layer cost on the board, and flash/RAM against its limits.

Counts come from the device and carry its counter's unit: ``dwt_cycles`` on silicon,
``emulated_instructions`` under QEMU, ``estimated_dwt_cycles`` on the virtual board (whose layers
also get ``vs_estimate_pct``: its DWT counts against ``bench``'s estimate of the same engine). Where the cycle estimator can run (arm-none-eabi-gcc and
unicorn present), the same engine's ``estimated_cycles`` per layer stand beside them, labelled
as estimates from the Cortex-M4 timing model.
"""

from __future__ import annotations

import numpy as np

from . import datasets
from . import reference as R
from .boards import load_board
from .device import open_device
from .errors import McdError
from .project import Project


def profile(project, board: str, emulate: bool, data: str | None = None, port: str | None = None,
            estimate_cycles: bool = True, probe: str | None = None, baud: int | None = None,
            **link_options) -> dict:
    """Per-layer counts of one inference on the board; ``probe``, ``baud`` and ``link_options``
    (retries, timeout, reconnect_timeout) as for ``open_device``."""
    prj = Project(project)
    g = prj.graph
    if data:
        x, _ = datasets.load_for_project(prj, data, split="test", limit=1)
        xq = R.prepare_input(g, x)
    else:
        x, xq = None, np.full((1, g.tensors[g.input].size), g.tensors[g.input].zero_point, np.int8)
    with open_device(prj.path, board, emulate=emulate, port=port, probe=probe, baud=baud, **link_options) as dev:
        runs = [dev.infer(xq[0].tobytes()) for _ in range(2)]
        info = dev.info(refresh=True)
        build, emulated = dev.build, dev.emulated
    if runs[0].output != R.run(g, xq)[0].tobytes():
        raise McdError("the board's output differs from the reference: run `mcudeploy validate` to see where")
    r = runs[-1]
    ops = {op.name: op for op in g.ops}
    total = r.total_count
    layers = []
    for name, count in zip(prj.meta["layer_names"], r.layer_counts):
        op = ops[name]
        layers.append({"name": name, "op": op.kind + ("+maxpool" if op.attrs.get("pool") else ""), "macs": op.macs,
                       "count": int(count), "count_per_mac": round(count / op.macs, 3) if op.macs else None,
                       "share": round(count / total, 4) if total else None})
    rep = {"board": board, "emulated": emulated, "counter": r.counter, "total_count": int(total),
           "deterministic": runs[0].total_count == runs[1].total_count, "macs": g.macs,
           "count_per_mac": round(total / g.macs, 3) if g.macs else None, "layers": layers,
           "flash_bytes": build.flash_bytes, "ram_bytes": build.ram_bytes, "board_flash_bytes": build.flash_limit,
           "board_ram_bytes": build.ram_limit, "stack_peak_bytes": info.stack_high_water,
           "arena_bytes": prj.meta["arena_bytes"], "engine_bytes": build.engine}
    if estimate_cycles:
        add_estimates(rep, prj, board, x)
    return rep


def add_estimates(rep: dict, project, board: str, x: np.ndarray | None = None) -> dict:
    """Put the Cortex-M4 timing model's ``estimated_cycles`` beside each layer of ``rep["layers"]``
    (profile's or validate's report), or say in ``estimated_cycles_note`` why there are none; where
    the board's counter is the virtual board's DWT (same timing model), also the difference in %."""
    prj = project if isinstance(project, Project) else Project(project)
    if load_board(board).core != "cortex-m4":  # the timing model is the M4's
        rep["estimated_cycles"] = None
        rep["estimated_cycles_note"] = f"not estimated: the timing model is the Cortex-M4's, {board} is not one"
        return rep
    try:
        from .bench import bench_project

        est = bench_project(prj, x)
        by = {row["name"]: row["estimated_cycles"] for row in est["layers"]}
        for row in rep["layers"]:
            row["estimated_cycles"] = by.get(row["name"])
            if rep.get("counter") == "estimated_dwt_cycles" and row["estimated_cycles"]:  # same timing model
                row["vs_estimate_pct"] = round(100 * (row["count"] / row["estimated_cycles"] - 1), 3)
        rep["estimated_cycles"] = est["estimated_cycles"]
        rep["estimated_cycles_model"] = est["timing_model"]
    except (McdError, ImportError) as exc:
        rep["estimated_cycles"] = None
        rep["estimated_cycles_note"] = f"not estimated: {exc}"
    return rep
