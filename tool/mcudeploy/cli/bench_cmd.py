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
from .params import emulate_option, emulate_value

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
@emulate_option("suite: the board's emulator: qemu (default; a bare --emulate too) or virtual (the silicon image "
                "on the virtual NUCLEO-F446RE, estimated_dwt_cycles)", default="qemu")
@click.option("--no-emulate", is_flag=True, help="suite: the real board")
@click.option("--port", help="suite: serial port or URL of a board that already runs")
@click.option("--workdir", default="out/mlperf-tiny", show_default=True, type=click.Path(file_okay=False),
              help="suite: where the compiled projects are kept (reused when unchanged)")
@click.option("--float-ports", is_flag=True,
              help="suite: the PyTorch ports with the reference float weights, calibrated here, instead of the "
                   "official int8 .tflite files (the default, imported as they are)")
@click.option("--rounding", type=click.Choice(["litert", "double", "single"]), default="litert", show_default=True,
              help="suite: requantization rounding of the official int8 models (litert: as LiteRT's reference "
                   "kernels, bit-exact with them)")
@click.option("--cycles/--no-cycles", default=True, show_default=True,
              help="suite: also estimate Cortex-M4 cycles (timing model, ~40 s for all four)")
@click.option("--farm", metavar="HOST:PORT", help="suite: run the models on labgrid farm places carrying --board, "
              "acquired from this coordinator (`mcudeploy farm up` starts one); each model runs on the next free place")
@click.option("--boards", type=click.IntRange(1), default=1, show_default=True,
              help="suite, with --farm: acquire up to N free places (places others hold are left alone)")
def bench_cmd(projects, data, json_path, suite, samples, models, board, emulate, no_emulate, port, workdir, cycles,
              float_ports=False, rounding="litert", farm=None, boards=1):
    """Per layer: MACs, instructions, estimated cycles and cycles/MAC of PROJECTS' engines on a Cortex-M4.

    The engine is built -O3 for the M4 (DSP kernels) into a bare-metal harness and run under an
    instruction timing model (Cortex-M4 TRM table, zero-wait memory): the figures are labelled
    estimated_cycles and are estimates, not measurements. The output is checked against the numpy
    reference first. Compare engines as ratios in one run.

    With --suite mlperf-tiny: compiles the four official MLPerf Tiny int8 models (.tflite, their
    own weights and quantization; --float-ports: the PyTorch ports with the reference float
    weights, calibrated on synthetic inputs), runs them on the board (default: the emulated
    NUCLEO-F446RE) and prints per model MACs, counts per inference (emulated_instructions under
    QEMU: not cycles), count/MAC, flash and RAM against the board's limits, and how many outputs
    equal the reference (and LiteRT's reference kernels, for the official models) byte for byte.
    """
    if (farm or boards != 1) and not suite:
        raise click.UsageError("--farm and --boards run the suite over farm places: add --suite mlperf-tiny")
    if boards != 1 and not farm:
        raise click.UsageError(f"--boards {boards} shares the suite's models over farm places: give --farm HOST:PORT too")
    if farm and (no_emulate or port or emulate == "virtual"):
        raise click.UsageError("--farm takes its boards from the farm's places: drop --no-emulate, --port and "
                               "--emulate virtual")
    if suite:
        if projects:
            raise click.UsageError("give either PROJECTS or --suite, not both")
        return _suite(samples, models, board, False if no_emulate else emulate_value(emulate), port, workdir, cycles,
                      json_path, float_ports, rounding, farm, boards)
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
                                       ("estimated_cycles", "estimated_cycles"), ("cycles_per_mac", "cycles/MAC"),
                                       ("estimated_cycles_flash", "estimated_cycles_flash"),
                                       ("cycles_per_mac_flash", "cycles/MAC (flash)")],
                         footer={"name": "total", "macs": r["macs"], "instructions": r["instructions"],
                                 "estimated_cycles": r["estimated_cycles"], "cycles_per_mac": r["cycles_per_mac"],
                                 "estimated_cycles_flash": r["estimated_cycles_flash"],
                                 "cycles_per_mac_flash": r["cycles_per_mac_flash"]}))
    click.echo("\nestimated_cycles: Cortex-M4 timing model over an instruction-exact run, zero-wait memory; "
               "estimated_cycles_flash: the same run with the F446RE's flash at 180 MHz (5 wait states, ART "
               "caches and prefetch modelled); neither is a measurement")
    if json_path:
        write_json(json_path, {"counter": "estimated_cycles", "models": reports})


def _suite(samples, models, board, emulate, port, workdir, cycles, json_path, float_ports=False, rounding="litert",
           farm=None, boards=1):
    require("bench --suite mlperf-tiny (reading the reference models)", *ZOO)
    if cycles:
        require("bench --suite mlperf-tiny --cycles (the Cortex-M4 timing model)", *CYCLES,
                alternative="or add --no-cycles")
    from ..mlperf_suite import check_suite, run_suite

    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    if not float_ports:
        require("bench --suite mlperf-tiny (LiteRT, the official models' oracle)", "ai_edge_litert",
                alternative="or add --float-ports")
    check_suite(names, board, float_ports)
    if farm:
        from ..farm.suite import suite_farm  # labgrid is imported only for a farm run

        rep = suite_farm(workdir, farm, board, boards, samples=samples, names=names, cycles=cycles,
                         progress=progress.echo, float_ports=float_ports, rounding=rounding)
    else:
        rep = run_suite(workdir, samples=samples, names=names, board=board, emulate=emulate, port=port,
                        cycles=cycles, progress=progress.echo, float_ports=float_ports, rounding=rounding)
    unit = rep["counter"]
    cols = [("name", "model"), ("macs", "MACs"), ("count_per_inference", unit), ("count_per_mac", f"{unit}/MAC")]
    if cycles:
        cols += [("estimated_cycles", "estimated_cycles"), ("estimated_cycles_per_mac", "est. cycles/MAC"),
                 ("estimated_cycles_flash_per_mac", "est. cycles/MAC (flash)")]
    cols += [("flash", "flash B (limit)"), ("ram", "RAM B (limit)"), ("exact", "bit-exact"), ("agree", "agree w/ float")]
    rows = [{**m, "flash": f"{m['flash_bytes']:,} / {m['board_flash_bytes']:,}",
             "ram": f"{m['ram_bytes']:,} / {m['board_ram_bytes']:,}", "exact": f"{m['bit_exact']}/{m['samples']}",
             "agree": f"{100 * m['agreement_float']:.0f}% ({m['agreement_metric']})",
             "litert": "-" if m.get("litert_exact") is None else f"{m['litert_exact']}/{m['samples']}"}
            for m in rep["models"]]
    if not float_ports:
        cols.insert(-1, ("litert", "= LiteRT ref"))
    if farm:
        cols.append(("place", "farm place"))
    click.echo(table(rows, cols))
    click.echo(f"models: {rep['models_source']}")
    kind = ("the virtual board's DWT code path, cycles from the timing model" if unit == "estimated_dwt_cycles"
            else "QEMU -icount instruction count, not cycles" if rep["emulated"] else "measured on the board")
    click.echo(f"\n{unit}: " + kind
               + ("; estimated_cycles: Cortex-M4 timing model (zero-wait memory), estimated_cycles_flash: with 5 flash wait "
                  "states and the ART modelled; not measurements" if cycles else "")
               + f"\nRAM includes the reserved minimum stack; inputs: {rep['data']}")
    if farm:
        from ..farm.report import suite_farm_lines

        click.echo("\n".join(suite_farm_lines(rep["farm"])))
    if json_path:
        write_json(json_path, rep)
    bad = [m["name"] for m in rep["models"]
           if m["bit_exact"] != m["samples"] or m.get("litert_exact") not in (None, m["samples"])]
    if bad:
        raise McdError(f"device output differs from the reference (or LiteRT) for {', '.join(bad)}")


COMMANDS = [bench_cmd]
