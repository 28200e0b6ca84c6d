"""Resources of a model as the firmware has them: compile, build, bench; and the dense model's tables.

    >>> ep, g, p = int8_graph(model, calib_x)                      # the planner's view, no files
    >>> prof = dense_profile(model, calib_x, workdir, cycles=True, firmware=True)
    >>> m = measure_project(project_dir, "nucleo-f446re")          # link map + bench
    >>> m["ram"], m["flash"], m["cycles"]

``measure_project`` is the judge of a budget: ``ram`` is the size of the engine's arena symbol
(``mcd_arena_words``) in the firmware's link map, ``flash`` the bytes of the engine/ objects in flash
(weights, records, kernel code) from the same map, ``cycles`` the estimated Cortex-M4 cycles of one
inference from ``bench`` (whose output is checked byte for byte against the reference first).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from .. import reference as R
from ..codegen.kernels import choose_format, scratch_for
from ..errors import McdError
from ..plan import plan

ARENA_SYMBOL = "mcd_arena_words"


def int8_graph(model: torch.nn.Module, calib_x: np.ndarray):
    """(exported program, int8 graph with formats chosen, plan) of ``model``, as compile makes them."""
    from ..frontend import capture, export_module, simplify
    from ..lower import lower

    ep = export_module(model, torch.from_numpy(calib_x[:1]))
    g = lower(simplify(capture(ep)), calib_x)
    for op in g.ops:
        if op.kind in ("conv2d", "fc"):
            op.attrs["format"] = choose_format(g, op, "auto")
    return ep, g, plan(g, scratch=scratch_for(g))


def compile_to(model: torch.nn.Module, calib_x: np.ndarray, outdir: Path, host_check: bool = True):
    """``compile`` of an in-memory module into ``outdir`` (a project, replaced if this tool wrote it)."""
    from ..frontend import export_module
    from ..pipeline import build_project

    ep = export_module(model.eval(), torch.from_numpy(calib_x[:1]))
    return build_project(ep, calib_x, Path(outdir), host_check, source={"model": "compress --budget"})


def arena_from_map(mapfile: Path) -> int | None:
    """Bytes of the arena symbol in a GNU ld map (``.bss.mcd_arena_words 0xADDR 0xSIZE file``)."""
    text = Path(mapfile).read_text(errors="replace")
    m = re.search(rf"\.bss\.{ARENA_SYMBOL}\s+0x[0-9a-f]+\s+0x([0-9a-f]+)", text)
    return int(m.group(1), 16) if m else None


def measure_project(project: Path, board: str = "nucleo-f446re", cycles: bool = True,
                    firmware: bool = True) -> dict:
    """ram/flash from the emulated board's firmware link map, cycles from bench (None when skipped)."""
    from ..build import build
    from ..project import Project

    out: dict = {"ram": None, "flash": None, "cycles": None}
    prj = Project(project)
    out["planner_arena_bytes"] = prj.meta["arena_bytes"]
    out["weight_bytes"] = prj.report["weight_bytes"]
    if firmware:
        b = build(project, board, emulate=True)
        arena = arena_from_map(b.map)
        if arena is None:
            raise McdError(f"internal: no {ARENA_SYMBOL} in the link map {b.map}")
        out.update(ram=arena, flash=b.engine.get("flash"), firmware_flash_bytes=b.flash_bytes,
                   firmware_ram_bytes=b.ram_bytes, runtime_ram_bytes=b.ram_bytes - arena,
                   runtime_flash_bytes=b.flash_bytes - b.engine.get("flash", 0),
                   engine_code_bytes=b.engine.get("flash", 0) - prj.report["weight_bytes"],
                   link_map=str(b.map))
    if cycles:
        from ..bench import bench_project

        r = bench_project(prj)
        out["cycles"] = r["estimated_cycles"]
        out["layer_cycles"] = {row["name"]: row["estimated_cycles"] for row in r["layers"]}
    return out


def int8_accuracy(project: Path, x: np.ndarray, y: np.ndarray, workdir: Path) -> dict:
    """Held-out int8 top-1 of the project's C engine on the host, every sample checked bit-exact
    against the numpy reference (the engine the firmware links, compiled for the host)."""
    from .. import hostrun
    from ..project import Project

    prj = Project(project)
    g = prj.graph
    xq = R.prepare_input(g, x)
    ref = R.run(g, xq)
    if hostrun.have_cc():
        got = hostrun.run_host(hostrun.build_host(prj.engine_dir, Path(workdir)), xq, g.tensors[g.output].size)
        exact = int((got == ref).all(axis=1).sum())
    else:
        got, exact = ref, None
    return {"top1": round(100.0 * float((got.argmax(1) == y).mean()), 2), "samples": len(y),
            "host_bit_exact": exact}
