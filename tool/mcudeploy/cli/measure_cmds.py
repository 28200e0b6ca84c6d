"""``mcudeploy validate`` and ``profile``: thin wrappers over validate.py and profile.py."""

from __future__ import annotations

from pathlib import Path

import click

from ..html_report import render
from ..profile import profile as run_profile
from ..report import table, write_json
from ..validate import validate as run_validate

_board = click.option("--board", "-b", default="nucleo-f446re", show_default=True, help="board (see `mcudeploy boards`)")
_emulate = click.option("--emulate", is_flag=True, help="run on the board's emulator (QEMU) instead of hardware")
_port = click.option("--port", help="serial port or pyserial URL of the board (default: found by USB id)")


def _fmt_count(v, counter):
    return f"{v:,} {counter}"


@click.command("validate")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@_board
@_emulate
@_port
@click.option("--data", required=True, help="an .npz with 'x' (and optional 'y'), or digits / mnist / fashion-mnist "
              "(their held-out test split)")
@click.option("--limit", type=int, help="validate the first N samples only")
@click.option("--results", type=click.Path(dir_okay=False), help="per-sample results file (JSON lines); "
              "default PROJECT/validate-BOARD.jsonl")
@click.option("--resume", is_flag=True, help="continue an interrupted run from its results file")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="write the JSON report here")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="write an HTML report with plots here")
def validate_cmd(project, board, emulate, port, data, limit, results, resume, json_path, html_path):
    """Run DATA through the board and compare its outputs with the numpy reference (bit-exact),
    the float model and the labels."""
    with click.progressbar(length=1, label="samples", show_pos=True, file=None) as bar:
        def progress(k, n):
            bar.length = n
            bar.update(k - bar.pos)

        rep = run_validate(project, board, emulate, data, limit, port, Path(results) if results else None, resume,
                           progress)
    c = rep["counter"]
    n = rep["samples"]
    lines = [
        f"board            {rep['board']}{' (emulated)' if rep['emulated'] else ''}",
        f"samples          {n}" + (f" ({rep['resumed_samples']} from an earlier run)" if rep["resumed_samples"] else ""),
        f"bit-exact        {rep['bit_exact']}/{n} vs the numpy reference",
        f"top-1 agreement  {100 * rep['agreement_float']:.2f}% vs the float model "
        f"(rmse {rep['rmse']:.4g}, mae {rep['mae']:.4g}, l2r {rep['l2r']:.4g}, cos {rep['cos']:.6f})",
    ]
    if rep["accuracy_device"] is not None:
        lines.append(f"accuracy         device {100 * rep['accuracy_device']:.2f}% | float "
                     f"{100 * rep['accuracy_float']:.2f}% (labels)")
    lines += [
        f"per inference    {_fmt_count(rep['count_per_inference'], c)} (median)",
        f"flash            {rep['flash_bytes']:,} / {rep['board_flash_bytes']:,} bytes",
        f"ram              {rep['ram_bytes']:,} / {rep['board_ram_bytes']:,} bytes (stack peak "
        f"{rep['stack_peak_bytes']:,} bytes, arena {rep['arena_bytes']:,} bytes)",
    ]
    if rep["throughput"]["samples_per_s"]:
        lines.append(f"throughput       {rep['throughput']['samples_per_s']} samples/s")
    click.echo("\n".join(lines))
    if json_path:
        write_json(json_path, rep)
    if html_path:
        Path(html_path).write_text(render(f"mcudeploy validate: {project}", rep, rep["layers"], c,
                                          rep["confusion_matrix"]))
    if rep["bit_exact"] != n:
        raise click.ClickException(f"{n - rep['bit_exact']} samples differ from the reference "
                                   f"(first: sample {rep['bit_exact_first_mismatch']})")


@click.command("profile")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@_board
@_emulate
@_port
@click.option("--data", help="profile on the first sample of DATA (default: an all-zero input)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="write the JSON report here")
@click.option("--no-estimate", is_flag=True, help="skip the Cortex-M4 cycle estimate beside the board's counts")
def profile_cmd(project, board, emulate, port, data, json_path, no_estimate):
    """Per-layer cost on the board (name, op, MACs, count, count/MAC, share), with flash and RAM."""
    rep = run_profile(project, board, emulate, data, port, not no_estimate)
    c = rep["counter"]
    cols = [("name", "layer"), ("op", "op"), ("macs", "MACs"), ("count", c), ("count_per_mac", f"{c}/MAC"),
            ("share", "share")]
    if any("estimated_cycles" in r for r in rep["layers"]):
        cols.append(("estimated_cycles", "estimated_cycles"))
    rows = [dict(r, share=f"{100 * r['share']:.1f}%" if r["share"] is not None else "") for r in rep["layers"]]
    click.echo(table(rows, cols, footer={"name": "total", "macs": rep["macs"], "count": rep["total_count"],
                                         "estimated_cycles": rep.get("estimated_cycles") or ""}))
    click.echo(f"\ncounter: {c}" + (" (QEMU -icount: instructions, not cycles)" if rep["emulated"] else "")
               + ("; estimated_cycles: Cortex-M4 timing model (TRM table), not a measurement"
                  if rep.get("estimated_cycles") else ""))
    click.echo(f"flash {rep['flash_bytes']:,} / {rep['board_flash_bytes']:,} bytes | ram {rep['ram_bytes']:,} / "
               f"{rep['board_ram_bytes']:,} bytes | stack peak {rep['stack_peak_bytes']:,} bytes")
    if json_path:
        write_json(json_path, rep)


COMMANDS = [validate_cmd, profile_cmd]
