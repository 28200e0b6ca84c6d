"""``mcudeploy bench``: estimated Cortex-M4 cycles per layer of a compiled project."""

from __future__ import annotations

import click

from ..bench import bench_project
from ..datasets import load_spec
from ..project import Project
from ..report import table, write_json


@click.command("bench")
@click.argument("projects", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--data", help="run on the first sample of DATA (default: an all-zero input)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="write the JSON report here")
def bench_cmd(projects, data, json_path):
    """Per layer: MACs, instructions, estimated cycles and cycles/MAC of PROJECTS' engines on a Cortex-M4.

    The engine is built -O3 for the M4 (DSP kernels) into a bare-metal harness and run under an
    instruction timing model (Cortex-M4 TRM table, zero-wait memory): the figures are labelled
    estimated_cycles and are estimates, not measurements. The output is checked against the numpy
    reference first. Compare engines as ratios in one run.
    """
    x = load_spec(data, split="test", limit=1)[0] if data else None
    reports = []
    for path in projects:
        r = bench_project(Project(path), x)
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


COMMANDS = [bench_cmd]
