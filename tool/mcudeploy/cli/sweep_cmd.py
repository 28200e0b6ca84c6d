"""``mcudeploy sweep``: thin wrapper over ``sweep.run_sweep``."""

import click

from ..errors import McdError
from ..report import table, write_json
from ..sweep import Spec, parse_points, run_sweep
from .params import FiniteFloat, budget_tuning, budget_tuning_options, tuning_flags


@click.command("sweep")
@click.argument("model")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), help="state_dict for a FILE.py:FACTORY model.")
@click.option("--data", required=True, metavar="DATA", help="built-in data set or .npz: its train split fine-tunes.")
@click.option("--eval-data", metavar="DATA", help="held-out labelled samples (default: DATA's test split).")
@click.option("--budgets", metavar="ram=A:B:C[,flash=..][,cycles=..]",
              help="one budget-driven point per value (lists of several resources are zipped; a single value "
                   "is used for every point), e.g. --budgets ram=8KB:6KB:4KB.")
@click.option("--sparsity", metavar="S1,S2,...", help="instead: uniform structured pruning at these channel "
              "fractions, e.g. --sparsity 0.5,0.7,0.9.")
@click.option("--epochs", type=FiniteFloat(0, min_open=True), default=2, show_default=True,
              help="training epochs per point (gates and fine-tuning in one schedule).")
@click.option("--lr", type=FiniteFloat(0, min_open=True), default=1e-3, show_default=True)
@click.option("--limit", type=click.IntRange(1), help="use only the first N training samples.")
@click.option("--eval-limit", type=click.IntRange(1), help="use only the first N held-out samples for top-1.")
@click.option("--emulate-samples", type=click.IntRange(0), default=20, show_default=True,
              help="samples each point runs on the emulated board, checked bit-exact (0: none).")
@click.option("--jobs", type=click.IntRange(1), help="points in parallel, each with its own emulator "
              "(default: the machine's cores).")
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False),
              help="sweep directory: points/, sweep.json, pareto.png, pareto.svg, index.html. Run the same "
                   "command again to resume an interrupted sweep.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="also write the report here.")
@click.option("--board", default="nucleo-f446re", show_default=True, help="board the points are built for.")
@click.option("--distill", is_flag=True, help="every point fine-tunes against the dense model's soft outputs "
              "(T 4, alpha 0.7; with --budgets, the whole gate schedule).")
@budget_tuning_options
@click.option("--farm", metavar="HOST:PORT", help="validate each point's --emulate-samples on labgrid farm places "
              "carrying --board (`mcudeploy farm up` starts some) instead of a local emulator.")
@click.option("--boards", type=click.IntRange(1), default=1, show_default=True,
              help="with --farm: places per point (points running at once share the farm; a point waits up to "
                   "10 minutes for a free place).")
def sweep_cmd(model, weights, data, eval_data, budgets, sparsity, epochs, lr, limit, eval_limit, emulate_samples,
              jobs, outdir, json_path, board="nucleo-f446re", farm=None, boards=1, distill=False, gate_frac=None,
              refill=None, min_width_frac=None):
    """Compress MODEL at several budgets or sparsities; compile, build, bench and validate every point on
    the emulated board; write a JSON, a Pareto plot (accuracy vs RAM, flash, est. cycles; PNG and SVG)
    and an HTML page. Points run in parallel and an interrupted sweep resumes."""
    if boards != 1 and not farm:
        raise click.UsageError(f"--boards {boards} shares each point's samples over farm places: give --farm "
                               "HOST:PORT too")
    points = parse_points(budgets, sparsity)
    tuning = budget_tuning(gate_frac, refill, min_width_frac)
    if tuning and not budgets:
        raise McdError(f"{tuning_flags(tuning)} tune budget-driven points: use them with --budgets")
    spec = Spec(model, weights, data, eval_data, limit, eval_limit, epochs, lr, emulate_samples, board=board,
                distill=distill, **tuning)
    where = {"coordinator": farm, "boards": boards, "wait": 600.0} if farm else None
    if farm:  # an unreachable farm, or one without such places, is refused before any training
        from ..farm.client import FarmClient
        from ..farm.run import places_for

        with FarmClient(farm) as fc:
            places_for(fc, board)
    try:
        rep = run_sweep(spec, points, outdir, jobs, progress=lambda s: click.echo(s, err=True), farm=where)
    except KeyboardInterrupt:
        raise McdError(f"interrupted: the finished points are kept in {outdir}/points; run the same command "
                       "again to resume") from None
    d = rep["dense"]
    rows = []
    for p in [d, *rep["points"]]:
        m, e = p["measured"], p.get("emulated") or {}
        rows.append({"point": p["key"], "ram": f"{m['ram']:,}", "flash": f"{m['flash']:,}", "cycles": f"{m['cycles']:,}",
                     "top1": f"{p['int8_top1']:.2f} %", "drop": f"{d['int8_top1'] - p['int8_top1']:+.2f}",
                     "exact": f"{e.get('bit_exact', '-')}/{e.get('samples', '-')}",
                     "met": {True: "yes", False: "NO"}.get(p.get("met"), "")})
    click.echo(table(rows, [("point", "point"), ("ram", "arena B"), ("flash", "engine flash B"),
                            ("cycles", "est. cycles"), ("top1", "int8 top-1"), ("drop", "drop (points)"),
                            ("exact", "emulated bit-exact"), ("met", "budget met")]))
    click.echo("wrote " + ", ".join(rep["files"]))
    if json_path:
        write_json(json_path, rep)


COMMANDS = [sweep_cmd]
