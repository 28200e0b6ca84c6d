"""``mcudeploy build``, ``flash``, ``devices`` and ``boards``: thin wrappers over build.py, target/
and boards.py. The connection options shared with ``validate`` and ``profile`` are defined here."""

from __future__ import annotations

import json
import shlex

import click

from ..boards import list_boards, load_board, with_baud
from ..build import build as build_firmware
from ..device import open_device
from ..errors import BoardError
from ..project import Project
from ..report import table, write_json
from ..target import builds_emulated, is_url
from .params import emulate_option, emulate_value

_board_opt = click.option("--board", "-b", default="nucleo-f446re", show_default=True,
                          help="board name (see `mcudeploy boards`) or the path of your own board file (.toml)")


@click.command("build")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@_board_opt
@emulate_option("build for the board's QEMU machine (-DMCD_EMULATED); --emulate virtual builds the silicon image, "
                "which is what the virtual board runs")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="write the size report here")
@click.option("--verbose", "-v", is_flag=True, help="show the CMake / compiler output")
@click.option("--protocol", type=click.Choice(["mcd", "mlperf"]), default="mcd", show_default=True,
              help="mcd: mcudeploy's framed link; mlperf: the MLPerf Tiny performance-mode text protocol")
@click.option("--mlperf-model", type=click.Choice(["ic_resnet8", "kws_dscnn", "vww_mobilenet", "ad_autoencoder"]),
              help="mlperf: which reference model PROJECT is (profile% name, ad's anomaly score)")
@click.option("--runner-input", is_flag=True, help="mlperf: db takes the runner's data format, not engine bytes")
def build_cmd(project: str, board: str, emulate: str | None, json_path: str | None, verbose: bool, protocol: str,
              mlperf_model: str | None, runner_input: bool) -> None:
    """Build PROJECT's firmware for a board and check that it fits."""
    emulate = builds_emulated(emulate_value(emulate))
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


# --- options shared by the commands that talk to a board -----------------------------------------
port_option = click.option(
    "--port", metavar="PORT|URL",
    help="the board's UART: a serial device (/dev/ttyACM0, COM5) or any pyserial URL. A URL "
         "(socket://HOST:PORT printed by `flash --emulate --detach`, rfc2217://HOST:PORT of a board "
         "shared with ser2net) attaches to a board that already runs: nothing is started or flashed. "
         "Default: the virtual COM port of the board's probe, found by USB id (`mcudeploy devices`).")
probe_option = click.option(
    "--probe", metavar="UID",
    help="unique id of the debug probe to use when several are attached (listed by `mcudeploy devices`).")
baud_option = click.option(
    "--baud", type=int, metavar="N",
    help="UART baud rate (default: the board file's, 115200); the firmware is rebuilt for it. A standard "
         "rate up to the board's [uart] max_baud, e.g. 921600 on nucleo-f446re.")


def board_with_baud(board: str, baud: int | None):
    """The board at ``baud``, or a usage error naming --baud (checked before anything is built)."""
    try:
        return with_baud(load_board(board), baud)
    except BoardError as exc:
        if baud is None:
            raise
        raise click.BadParameter(str(exc).removeprefix(f"--baud {baud}: "), param_hint="--baud") from None


@click.command("flash")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@_board_opt
@emulate_option("the emulated board instead of a real one: build its firmware, start it, check it answers with "
                "PROJECT's model, stop it (unless --detach). Bare --emulate is QEMU; --emulate virtual boots the "
                "silicon image on the virtual NUCLEO-F446RE, checking the reference manual's clock rules")
@click.option("--detach", is_flag=True,
              help="with --emulate: leave the emulator running after this command and print its UART URL, "
                   "for `validate`/`profile --port URL`; stop it with --stop")
@click.option("--stop", is_flag=True,
              help="with --emulate: stop the emulator that --detach left running for PROJECT and --board")
@port_option
@probe_option
@baud_option
@click.option("--protocol", type=click.Choice(["mcd", "mlperf"]), default="mcd", show_default=True,
              help="mcd: mcudeploy's framed link; mlperf: the MLPerf Tiny text protocol, for the official "
                   "runner (with --detach: a pty in front of the emulated board, via socat)")
@click.option("--mlperf-model", type=click.Choice(["ic_resnet8", "kws_dscnn", "vww_mobilenet", "ad_autoencoder"]),
              help="mlperf: which reference model PROJECT is: profile% reports its runner name (ic01, kws01, "
                   "vww01, ad01) and db takes the runner's data format")
def flash_cmd(project: str, board: str, emulate: str | None, detach: bool, stop: bool, port: str | None,
              probe: str | None, baud: int | None, protocol: str = "mcd", mlperf_model: str | None = None) -> None:
    """Build if needed, flash PROJECT's firmware and check the board answers with the right model.

    \b
    A real board is flashed through pyOCD (program, verify, reset, run):
      mcudeploy flash out/lenet --board nucleo-f446re [--probe UID]
    The emulated board can be left running for other commands:
      mcudeploy flash out/lenet --board nucleo-f446re --emulate --detach
      mcudeploy validate out/lenet --board nucleo-f446re --port socket://127.0.0.1:PORT --data mnist
      mcudeploy flash out/lenet --board nucleo-f446re --emulate --stop
    The MLPerf Tiny runner, unchanged, against an emulated board (prints the pty to give it):
      mcudeploy flash out/kws --emulate --detach --protocol mlperf --mlperf-model kws_dscnn
    """
    if detach and stop:
        raise click.UsageError("give --detach (start and leave running) or --stop, not both")
    if emulate == "virtual" and (detach or stop):
        raise click.UsageError("--detach/--stop keep a QEMU emulator running; the virtual board runs for one "
                               "command: use --emulate (QEMU) with them, or `validate --emulate virtual` directly")
    emulate = emulate_value(emulate)
    if detach and not emulate:
        raise click.UsageError("--detach is for the emulated board: add --emulate (a real board keeps running "
                               "its firmware after `flash` anyway)")
    if stop and not emulate:
        raise click.UsageError("--stop stops an emulator that `--emulate --detach` left running: add --emulate")
    if stop:
        return _stop_detached(project, board)
    if mlperf_model and protocol != "mlperf":
        raise click.UsageError("--mlperf-model is for --protocol mlperf")
    _ = Project(project).meta  # not a project, or a damaged one: one error before any build
    b = board_with_baud(board, baud)
    if is_url(port):
        raise click.UsageError(f"--port {port} names a board that already runs: `flash` cannot program "
                               "through a UART URL (flash a ser2net-shared board on the machine it is "
                               "attached to; an emulator with --emulate)")
    if detach:
        if port:
            raise click.UsageError("--emulate --detach chooses its own socket: no --port")
        if protocol == "mlperf":
            return _start_detached_mlperf(project, b, mlperf_model)
        return _start_detached(project, b)
    if protocol == "mlperf":
        if emulate == "virtual":
            raise click.UsageError("--protocol mlperf runs on QEMU (--emulate) or a board; the virtual board "
                                   "speaks mcudeploy's framed link only")
        from ..mlperf_device import flash_mlperf

        i = flash_mlperf(project, b, emulate, mlperf_model, port=port, probe=probe)
        click.echo(f"{i['name']}{' (emulated)' if emulate else ''} runs the MLPerf Tiny firmware ({i['profile']}, "
                   f"model {i['model']}) on {i['url']} at {b.uart.baud} baud")
        return
    with open_device(project, b, emulate=emulate, port=port, probe=probe) as dev:
        i = dev.info()
        kind = " (virtual board)" if dev.virtual else " (emulated)" if i.emulated else ""
        click.echo(f"{i.board}{kind} runs model {i.model_hash:#010x} on "
                   f"{dev.target.uart_url} at {b.uart.baud} baud: {i.input_bytes} bytes in, {i.output_bytes} "
                   f"bytes out, {i.num_layers} layers, arena {i.arena_bytes:,} bytes, counter {i.counter}")


def _start_detached(project: str, b) -> None:
    import os

    from ..target.detached import claim, start_detached, stop_detached

    lock = claim(project, b)  # one emulator per project and board: refused here, before the build
    try:
        result = build_firmware(project, b, emulate=True)
        target = start_detached(project, b, result.elf, lock)
    finally:
        os.close(lock)  # QEMU holds it from now on
    url = target.uart_url
    try:  # the same checks as any command: it answers, and with PROJECT's model
        with open_device(project, b, emulate=True, port=url) as dev:
            i = dev.info()
    except BaseException:
        stop_detached(project, b)
        raise
    q = shlex.quote(project)
    click.echo(f"{b.name} (emulated) runs model {i.model_hash:#010x}, left running (pid {target.proc.pid}); "
               f"its UART: {url}")
    click.echo(f"  validate: mcudeploy validate {q} --board {b.name} --port {url} --data DATA")
    click.echo(f"  profile:  mcudeploy profile {q} --board {b.name} --port {url}")
    click.echo(f"  stop:     mcudeploy flash {q} --board {b.name} --emulate --stop")


def _start_detached_mlperf(project: str, b, name: str | None) -> None:
    from ..mlperf_device import start_detached_mlperf

    d = start_detached_mlperf(project, b, name)
    q = shlex.quote(project)
    click.echo(f"{b.name} (emulated) runs the MLPerf Tiny firmware, model {d['model']}, left running (pid "
               f"{d['pid']}, socat pid {d['bridge_pid']}); its UART as a serial port: {d['pty']}")
    click.echo(f"  runner: give {d['pty']} as the DUT's port (baud {b.uart.baud}); the socket {d['url']} is the "
               "bridge's")
    click.echo(f"  stop:   mcudeploy flash {q} --board {b.name} --emulate --stop")


def _stop_detached(project: str, board: str) -> None:
    from ..target.detached import read_state, state_file, stop_detached

    b = load_board(board)
    damaged = state_file(project, b).is_file() and read_state(project, b) is None
    stopped = stop_detached(project, b)
    for e in stopped:
        click.echo(f"stopped the emulated {b.name} of {project} (pid {e['pid']}, {e['url'] or 'port not recorded'}"
                   + (f", pty {e['pty']}" if e.get("pty") else "") + ")")
    if not stopped:
        click.echo(f"no emulated {b.name} of {project} was running (nothing to stop)"
                   + ("; its unreadable emulator.json was removed" if damaged else ""))


@click.command("devices")
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help="also write what was found (probes, ports, matched boards) here as JSON")
def devices_cmd(json_path: str | None) -> None:
    """List attached debug probes (pyOCD) and serial ports (pyserial), matched to board files.

    A port matches a board when its USB VID:PID is the board file's probe; a probe when pyOCD
    recognises the board behind it. `flash`, `validate` and `profile` find the port the same way,
    so --port is only needed when several candidates match.
    """
    from ..target.discover import discover

    found = discover()
    click.secho("debug probes (pyOCD)", bold=True)
    if found["probe_error"]:
        click.echo(f"  {found['probe_error']}")
    elif not found["probes"]:
        click.echo("  no probes attached")
    else:
        rows = [{**p, "boards": ", ".join(p["boards"]) or "-", "port": p["port"] or "-",
                 "board_name": p["board_name"] or "-"} for p in found["probes"]]
        click.echo(table(rows, [("unique_id", "unique id (--probe)"), ("description", "probe"),
                                ("board_name", "board (pyOCD)"), ("boards", "board files"), ("port", "port")]))
    click.secho("\nserial ports (pyserial)", bold=True)
    if not found["ports"]:
        click.echo("  no serial ports")
    else:
        rows = [{**p, "usb": p["usb"] or "-", "serial_number": p["serial_number"] or "-",
                 "boards": ", ".join(p["boards"]) or "-", "probe": p["probe"] or "-"} for p in found["ports"]]
        click.echo(table(rows, [("device", "port (--port)"), ("usb", "USB id"), ("serial_number", "serial"),
                                ("description", "description"), ("boards", "board files"), ("probe", "probe")]))
    if not found["probes"] and not any(p["boards"] for p in found["ports"]):
        click.echo("\nno board found: connect one over USB, or use the emulated board with --emulate")
    if json_path:
        write_json(json_path, found)


@click.command("boards")
@click.argument("files", nargs=-1, metavar="[BOARD.toml]...")
def boards_cmd(files: tuple[str, ...]) -> None:
    """List the known boards, or check and show your own board files.

    Every board is checked as a build would check it (unknown keys, types, sizes, origins and
    clocks possible for the core); the first problem is one line and exit code 2.
    """
    loaded = [load_board(f) for f in (files or list_boards())]  # all checked before any row is printed
    click.echo(f"{'board':<16}{'core':<15}{'clock (MHz)':>12}{'flash (KB)':>12}{'ram (KB)':>10}  emulator")
    for b in loaded:
        emu = b.emulator.qemu_machine if b.emulator else "-"
        click.echo(f"{b.name:<16}{b.core + ('F' if b.fpu != 'none' else ''):<15}{b.clock_hz / 1e6:>12g}"
                   f"{b.flash.size // 1024:>12}{b.ram.size // 1024:>10}  {emu}")


COMMANDS = [build_cmd, flash_cmd, devices_cmd, boards_cmd]
