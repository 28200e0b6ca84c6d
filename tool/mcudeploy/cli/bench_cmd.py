"""``mcudeploy bench``: estimated Cortex-M4 cycles per layer of compiled projects, or the MLPerf
Tiny suite on a board (``--suite mlperf-tiny``, see mlperf_suite.py)."""

from __future__ import annotations

import click

from .. import progress
from ..bench import bench_project
from ..datasets import load_for_project
from ..errors import McdError
from ..extras import CYCLES, ZOO, require
from ..project import Project
from ..report import table, write_json

SUITES = ["mlperf-tiny"]


@click.command("bench")
@click.argument("projects", nargs=-1, type=click.Path(exists=True, file_okay=False))
@click.option("--data", help="run on the first sample of DATA (default: an all-zero input)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="write the JSON report here")
@click.option("--suite", type=click.Choice(SUITES), help="run a benchmark suite on a board instead of PROJECTS")
@click.option("--samples", type=click.IntRange(1), default=3, show_default=True,
              help="suite: synthetic inputs per model, each checked against the reference")
@click.option("--models", help="suite: comma-separated subset (default: all four)")
@click.option("--board", default="nucleo-f446re", show_default=True, help="suite: board to run on")
@click.option("--emulate/--no-emulate", default=True, show_default=True, help="suite: QEMU or the real board")
@click.option("--port", help="suite: serial port or URL of a board that already runs")
@click.option("--workdir", default="out/mlperf-tiny", show_default=True, type=click.Path(file_okay=False),
              help="suite: where the compiled projects are kept (reused when unchanged)")
@click.option("--cycles/--no-cycles", default=True, show_default=True,
              help="suite: also estimate Cortex-M4 cycles (timing model, ~40 s for all four)")
def bench_cmd(projects, data, json_path, suite, samples, models, board, emulate, port, workdir, cycles):
    """Per layer: MACs, instructions, estimated cycles and cycles/MAC of PROJECTS' engines on a Cortex-M4.

    The engine is built -O3 for the M4 (DSP kernels) into a bare-metal harness and run under an
    instruction timing model (Cortex-M4 TRM table, zero-wait memory): the figures are labelled
    estimated_cycles and are estimates, not measurements. The output is checked against the numpy
    reference first. Compare engines as ratios in one run.

    With --suite mlperf-tiny: compiles the four MLPerf Tiny reference models (PyTorch ports with
    the reference weights, calibrated on synthetic inputs), runs them on the board (default: the
    emulated NUCLEO-F446RE) and prints per model MACs, counts per inference (emulated_instructions
    under QEMU: not cycles), count/MAC, flash and RAM against the board's limits.
    """
    if suite:
        if projects:
            raise click.UsageError("give either PROJECTS or --suite, not both")
        return _suite(samples, models, board, emulate, port, workdir, cycles, json_path)
    if not projects:
        raise click.UsageError("give PROJECTS (compiled project directories) or --suite mlperf-tiny")
    require("bench (the Cortex-M4 timing model)", *CYCLES)
    prjs = [Project(path) for path in projects]  # every project and the data checked before any build
    xs = [load_for_project(prj, data, split="test", limit=1)[0] if data else None for prj in prjs]
    reports = []
    for path, prj, x in zip(projects, prjs, xs):
        r = bench_project(prj, x)
        r["project"] = path
        reports.append(r)
        click.secho(f"\n{path}", bold=True)
        click.echo(table(r["layers"], [("name", "layer"), ("op", "op"), ("macs", "MACs"), ("instructions", "instructions"),
                                       ("estimated_cycles", "estimated_cycles"), ("cycles_per_mac", "cycles/MAC")],
                         footer={"name": "total", "macs": r["macs"], "instructions": r["instructions"],
                                 "estimated_cycles": r["estimated_cycles"], "cycles_per_mac": r["cycles_per_mac"]}))
    click.echo("\nestimated_cycles: Cortex-M4 timing model over an instruction-exact run; not a measurement")
    if json_path:
        write_json(json_path, {"counter": "estimated_cycles", "models": reports})


def _suite(samples, models, board, emulate, port, workdir, cycles, json_path):
    require("bench --suite mlperf-tiny (reading the reference models)", *ZOO)
    if cycles:
        require("bench --suite mlperf-tiny --cycles (the Cortex-M4 timing model)", *CYCLES,
                alternative="or add --no-cycles")
    from ..mlperf_suite import check_suite, run_suite

    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    check_suite(names, board)
    rep = run_suite(workdir, samples=samples, names=names, board=board, emulate=emulate, port=port,
                    cycles=cycles, progress=progress.echo)
    unit = rep["counter"]
    cols = [("name", "model"), ("macs", "MACs"), ("count_per_inference", unit), ("count_per_mac", f"{unit}/MAC")]
    if cycles:
        cols += [("estimated_cycles", "estimated_cycles"), ("estimated_cycles_per_mac", "est. cycles/MAC")]
    cols += [("flash", "flash B (limit)"), ("ram", "RAM B (limit)"), ("exact", "bit-exact"), ("agree", "agree w/ float")]
    rows = [{**m, "flash": f"{m['flash_bytes']:,} / {m['board_flash_bytes']:,}",
             "ram": f"{m['ram_bytes']:,} / {m['board_ram_bytes']:,}", "exact": f"{m['bit_exact']}/{m['samples']}",
             "agree": f"{100 * m['agreement_float']:.0f}% ({m['agreement_metric']})"} for m in rep["models"]]
    click.echo(table(rows, cols))
    click.echo(f"\n{unit}: " + ("QEMU -icount instruction count, not cycles" if rep["emulated"] else "measured on the board")
               + ("; estimated_cycles: Cortex-M4 timing model (zero-wait memory), not a measurement" if cycles else "")
               + f"\nRAM includes the reserved minimum stack; inputs: {rep['data']}")
    if json_path:
        write_json(json_path, rep)
    bad = [m["name"] for m in rep["models"] if m["bit_exact"] != m["samples"]]
    if bad:
        raise McdError(f"device output differs from the reference for {', '.join(bad)}")


COMMANDS = [bench_cmd]
