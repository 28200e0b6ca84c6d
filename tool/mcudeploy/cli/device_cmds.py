"""``mcudeploy build``, ``flash`` and ``boards``: thin wrappers over build.py, target/ and boards.py."""

from __future__ import annotations

import json

import click

from ..boards import list_boards, load_board
from ..build import build as build_firmware
from ..device import open_device

_board_opt = click.option("--board", "-b", default="nucleo-f446re", show_default=True,
                          help="board name (see `mcudeploy boards`)")


@click.command("build")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@_board_opt
@click.option("--emulate", is_flag=True, help="build for the board's QEMU machine")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="write the size report here")
@click.option("--verbose", "-v", is_flag=True, help="show the CMake / compiler output")
@click.option("--protocol", type=click.Choice(["mcd", "mlperf"]), default="mcd", show_default=True,
              help="mcd: mcudeploy's framed link; mlperf: the MLPerf Tiny performance-mode text protocol")
@click.option("--mlperf-model", type=click.Choice(["ic_resnet8", "kws_dscnn", "vww_mobilenet", "ad_autoencoder"]),
              help="mlperf: which reference model PROJECT is (profile% name, ad's anomaly score)")
@click.option("--runner-input", is_flag=True, help="mlperf: db takes the runner's data format, not engine bytes")
def build_cmd(project: str, board: str, emulate: bool, json_path: str | None, verbose: bool, protocol: str,
              mlperf_model: str | None, runner_input: bool) -> None:
    """Build PROJECT's firmware for a board and check that it fits."""
    if protocol == "mlperf":
        from ..mlperf_suite import build_mlperf

        r = build_mlperf(project, board, emulate=emulate, name=mlperf_model, runner_input=runner_input)
    else:
        r = build_firmware(project, board, emulate=emulate, verbose=verbose)
    click.echo(f"{r.elf}  ({'emulated' if r.emulated else 'silicon'})")
    click.echo(f"{'region':<8}{'used (bytes)':>14}{'limit (bytes)':>15}{'used':>8}")
    for name, used, limit in (("flash", r.flash_bytes, r.flash_limit), ("ram", r.ram_bytes, r.ram_limit)):
        click.echo(f"{name:<8}{used:>14,}{limit:>15,}{100 * used / limit:>7.1f}%")
    click.echo(f"engine: {r.engine.get('flash', 0):,} bytes flash, {r.engine.get('ram', 0):,} bytes ram; "
               f"ram includes a {r.stack_reserved:,}-byte minimum stack")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(r.to_json(), f, indent=2)


@click.command("flash")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@_board_opt
@click.option("--emulate", is_flag=True, help="start the emulated board instead and check it answers")
@click.option("--port", help="serial port of the board (default: found by the probe's USB id)")
@click.option("--probe", help="unique id of the debug probe, if several are connected")
def flash_cmd(project: str, board: str, emulate: bool, port: str | None, probe: str | None) -> None:
    """Build if needed, flash PROJECT's firmware and check the board answers with the right model."""
    with open_device(project, board, emulate=emulate, port=port, probe=probe) as dev:
        i = dev.info()
        click.echo(f"{i.board} runs model {i.model_hash:#010x} on {dev.target.uart_url}: "
                   f"{i.input_bytes} bytes in, {i.output_bytes} bytes out, {i.num_layers} layers, "
                   f"arena {i.arena_bytes:,} bytes, counter {i.counter}")


@click.command("boards")
def boards_cmd() -> None:
    """List the known boards."""
    click.echo(f"{'board':<16}{'core':<15}{'clock (MHz)':>12}{'flash (KB)':>12}{'ram (KB)':>10}  emulator")
    for name in list_boards():
        b = load_board(name)
        emu = b.emulator.qemu_machine if b.emulator else "-"
        click.echo(f"{b.name:<16}{b.core + ('F' if b.fpu != 'none' else ''):<15}{b.clock_hz / 1e6:>12g}"
                   f"{b.flash.size // 1024:>12}{b.ram.size // 1024:>10}  {emu}")


COMMANDS = [build_cmd, flash_cmd, boards_cmd]
