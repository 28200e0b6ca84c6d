"""The ``mcudeploy`` command line: a click group whose commands are thin wrappers.

Each command lives in its own module under ``cli/`` and only parses options, calls one public
function of the package, and prints. ``McdError`` from anywhere below becomes one clear line on
stderr and a non-zero exit code, never a traceback.
"""

import importlib
import sys

import click

from ..errors import McdError

# Modules that define commands; each exposes ``COMMANDS`` (a list of click commands).
_COMMAND_MODULES = ["compile_cmd", "compress_cmd", "device_cmds", "measure_cmds", "demo_cmd", "bench_cmd"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mcudeploy")
def cli() -> None:
    """Deploy a PyTorch model to a microcontroller: compress, quantize to int8, generate a C engine,
    build firmware, flash (or emulate) a board, and validate it in the loop over UART.

    \b
    Typical flow:
      mcudeploy compile examples/lenet5.py:LeNet5 --weights lenet5.pt --calib mnist -o out/lenet
      mcudeploy validate out/lenet --board nucleo-f446re --emulate --data mnist --limit 500
      mcudeploy profile  out/lenet --board nucleo-f446re --emulate
    """


def _register() -> None:
    for name in _COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:  # a command module not written yet
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        for cmd in getattr(mod, "COMMANDS", []):
            cli.add_command(cmd)


_register()


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except McdError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
