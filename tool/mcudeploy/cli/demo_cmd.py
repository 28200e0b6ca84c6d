"""``mcudeploy demo``: LeNet-5 on MNIST end to end on the emulated NUCLEO-F446RE."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option("--board", "-b", default="nucleo-f446re", show_default=True, help="board to emulate")
@click.option("--limit", type=click.IntRange(1), default=500, show_default=True, help="held-out MNIST samples to validate on the board")
@click.option("-o", "--output", "outdir", default="out/demo-lenet5", show_default=True, type=click.Path(file_okay=False),
              help="project directory to write")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="write the validation report here")
@click.pass_context
def demo_cmd(ctx, board, limit, outdir, json_path):
    """Train (or reuse the cached) LeNet-5 on MNIST, compile it to int8 C, build the firmware, run it
    on the emulated board, validate the held-out split over the UART and profile it per layer."""
    from ..boards import load_board
    from ..paths import ROOT
    from ..train import cached_trained
    from .compile_cmd import compile_cmd
    from .measure_cmds import profile_cmd, validate_cmd

    load_board(board)  # an unknown board is refused before minutes of training
    click.secho("1/4 model: LeNet-5 on MNIST (the committed weights, or trained once and cached)", bold=True)
    _model, weights = cached_trained("lenet5", "mnist")
    click.echo(f"    weights {weights}")
    click.secho("\n2/4 compile: int8, fused conv+relu+pool, static arena", bold=True)
    ctx.invoke(compile_cmd, model=f"{ROOT}/examples/lenet5.py:lenet5", weights=str(weights), calib="mnist",
               outdir=outdir, calib_limit=500, no_host_check=False, json_path=None)
    click.secho(f"\n3/4 validate on the emulated {board}: {limit} held-out samples over the UART", bold=True)
    ctx.invoke(validate_cmd, project=outdir, board=board, emulate="qemu", port=None, data="mnist", limit=limit,
               results=None, resume=False, json_path=json_path, html_path=str(Path(outdir) / "validate.html"))
    click.secho("\n4/4 profile per layer", bold=True)
    ctx.invoke(profile_cmd, project=outdir, board=board, emulate="qemu", port=None, data="mnist", json_path=None,
               no_estimate=False)
    click.echo(f"\nHTML report: {Path(outdir) / 'validate.html'}")


COMMANDS = [demo_cmd]
