"""``mcudeploy farm up | down | exporter-config``: a labgrid board farm (thin wrappers over farm/)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..boards import load_board
from ..errors import OutputError


@click.group("farm")
def farm_cmd() -> None:
    """A board farm on labgrid: places on a coordinator, boards served by exporters.

    \b
      mcudeploy farm up --emulate 2 --board nucleo-f446re    # prints the coordinator's HOST:PORT
      mcudeploy validate out/lenet --farm HOST:PORT --board nucleo-f446re --boards 2 --data mnist
      mcudeploy farm down
    """


@farm_cmd.command("up")
@click.option("--emulate", "n", type=click.IntRange(1, 64), required=True, metavar="N",
              help="start N emulated boards (QEMU), each a labgrid place tagged board=BOARD")
@click.option("--board", "-b", default="nucleo-f446re", show_default=True, help="board file (with an emulator)")
@click.option("--coordinator", metavar="HOST:PORT",
              help="join this running labgrid coordinator (another exporter, as a second host would) "
                   "instead of starting one")
@click.option("--name", help="the exporter's name (default emu-1, emu-2, ...); places are NAME-1..NAME-N")
@click.option("--dir", "folder", type=click.Path(file_okay=False),
              help="farm folder for the state file and logs [default: ~/.cache/mcudeploy/farm]")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="write the farm's state here")
def up_cmd(n, board, coordinator, name, folder, json_path):
    """Start a local labgrid coordinator (unless --coordinator) and an exporter of N emulated boards.

    Each board is a QEMU halted until a client loads firmware into it through its GDB stub; the
    exporter serves its UART and GDB ports as labgrid NetworkSerialPort resources. `farm down`
    stops only what `farm up` started."""
    from ..farm import emulated

    state = emulated.up(n, load_board(board), Path(folder) if folder else None, coordinator, name,
                        progress=click.echo)
    click.echo(f"coordinator: {state['exporters'][-1]['coordinator']} (give it to --farm)")
    if json_path:
        Path(json_path).write_text(json.dumps(state, indent=2) + "\n")


@farm_cmd.command("down")
@click.option("--dir", "folder", type=click.Path(file_okay=False),
              help="farm folder given to `farm up --dir` [default: ~/.cache/mcudeploy/farm]")
def down_cmd(folder):
    """Stop the coordinator, exporters and emulators `farm up` started (nothing else)."""
    from ..farm import emulated

    stopped = emulated.down(Path(folder) if folder else None)
    click.echo("\n".join(f"stopped {s}" for s in stopped) or "nothing to stop: no farm was started here")


@farm_cmd.command("exporter-config")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write the YAML here (default: stdout)")
@click.option("--board", "-b", help="the board file for ports several boards share (same probe model)")
@click.option("--force", is_flag=True, help="replace an existing --output file written by this command")
def exporter_config_cmd(output, board, force):
    """A labgrid exporter configuration for the boards `mcudeploy devices` finds on this host:
    per board its USB serial port (USBSerialPort) and debug probe (USBDebugger), matched by the
    probe's USB serial number, with the labgrid-client commands that tag a place per board."""
    from ..farm.exporter_config import exporter_config
    from ..target.discover import discover

    text, groups = exporter_config(discover(), board=board)
    if not output:
        click.echo(text, nl=False)
    else:
        out = Path(output)
        if out.exists() and not (force and out.read_text(errors="replace").startswith(text.splitlines()[0])):
            raise OutputError(f"{out} exists{' and was not written by this command' if force else ''}: it is "
                              "left untouched; choose another -o" + ("" if force else " or pass --force"))
        out.write_text(text)
    click.echo(f"{len(groups)} board(s) found" + (f"; written to {output}" if output else ""), err=True)


COMMANDS = [farm_cmd]
