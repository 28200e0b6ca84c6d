"""The ``mcudeploy`` command line: a click group whose commands are thin wrappers.

Each command lives in its own module under ``cli/`` and only parses options, calls one public
function of the package, and prints. ``run`` (what ``main``, the console script and
``python -m mcudeploy`` call) is the guard that keeps tracebacks from users. Exit codes:

* 0 success; 2 a user or setup error (``McdError``: bad data, board, model, missing package;
  also usage errors); 3 a run interrupted mid-way (``validate``: resume it); 130 Ctrl-C;
  1 a failure reported by a command itself (e.g. outputs differ from the reference);
* 70 (``EX_SOFTWARE`` of sysexits.h): an unexpected exception, i.e. a bug in mcudeploy. The user
  sees one line naming the file that holds the full trace (see ``crash.py``);
  ``MCUDEPLOY_DEBUG=1`` lets the exception through with its traceback instead.
"""

import errno
import importlib
import os
import sys
from pathlib import Path

import click

from ..errors import McdError
from ..extras import from_import_error
from .crash import write_crash_report

EXIT_BUG = 70  # sysexits.h EX_SOFTWARE: distinct from 1 (a command's own failure) and 2 (user error)
# OSErrors that say the machine or the user's files refused, not that the code is wrong
_ENVIRONMENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}
# A path the user gave that the OS cannot even look up (Path.is_file() raises these, not False).
_PATH_ERRNOS = {errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.ENOENT}

# Modules that define commands; each exposes ``COMMANDS`` (a list of click commands).
_COMMAND_MODULES = ["compile_cmd", "compress_cmd", "device_cmds", "measure_cmds", "demo_cmd", "bench_cmd", "farm_cmds",
                    "sweep_cmd"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mcudeploy")
@click.option("--quiet", "-q", is_flag=True, help="no progress output (bars, or a line every few seconds when "
              "not on a terminal); MCUDEPLOY_QUIET=1 does the same. Results and errors are still printed")
def cli(quiet: bool = False) -> None:
    """Deploy a PyTorch model to a microcontroller: compress, quantize to int8, generate a C engine,
    build firmware, flash (or emulate) a board, and validate it in the loop over UART.

    \b
    Typical flow:
      mcudeploy compile examples/lenet5.py:LeNet5 --weights lenet5.pt --calib mnist -o out/lenet
      mcudeploy validate out/lenet --board nucleo-f446re --emulate --data mnist --limit 500
      mcudeploy profile  out/lenet --board nucleo-f446re --emulate
    """
    from .. import progress

    # each invocation decides (an in-process caller may run several; a --quiet one must not leak)
    progress.set_quiet(quiet or os.environ.get("MCUDEPLOY_QUIET", "") not in ("", "0"))


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


def _startup_shown() -> bool:
    """Whether this import starts the command line itself (the console script, or ``python -m
    mcudeploy``) without --quiet. Then the time spent loading torch and the command modules gets a
    progress line: 2-3 s on an idle machine, but 24-35 s at a load of 30, silent before anything
    else could print (the longest silence of ``mcudeploy demo``)."""
    prog = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    if not (prog.name == "mcudeploy" or (prog.name == "__main__.py" and prog.parent.name == "mcudeploy")):
        return False
    return not {"-q", "--quiet"} & set(sys.argv[1:]) and os.environ.get("MCUDEPLOY_QUIET", "") in ("", "0")


if _startup_shown():
    from .. import progress

    with progress.task("start mcudeploy (load torch and the commands)"):
        _register()
else:
    _register()


def run(args: list[str] | None = None, prog_name: str = "mcudeploy") -> int:
    """Run the CLI on ``args`` (default: ``sys.argv[1:]``) and return its exit code; every error
    is printed as one line on stderr, never as a traceback (unless ``MCUDEPLOY_DEBUG=1``)."""
    args = sys.argv[1:] if args is None else list(args)
    try:
        rv = cli.main(args=args, prog_name=prog_name, standalone_mode=False)
        return rv if type(rv) is int else 0  # non-standalone click returns Exit's code (--help: 0)
    except McdError as exc:
        return _fail(str(exc), exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except Exception as exc:  # the guard: whatever escaped the commands
        if os.environ.get("MCUDEPLOY_DEBUG", "") not in ("", "0"):
            raise
        known = from_import_error(exc)
        if known is not None:
            return _fail(str(known), known.exit_code)
        if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRNOS:
            where = f" '{exc.filename}'" if exc.filename else ""
            return _fail(f"cannot access{where}: {exc.strerror}; choose a path you may write, free space, "
                         "or fix its permissions", 2)
        if isinstance(exc, OSError) and exc.errno in _PATH_ERRNOS:
            name = str(exc.filename or "")
            name = name if len(name) <= 80 else name[:77] + "..."
            return _fail(f"the path '{name}' cannot be used: {exc.strerror}; check the file names given", 2)
        return _internal_error(exc, args)


def _fail(message: str, code: int) -> int:
    click.secho(f"error: {message}", fg="red", err=True)
    return code


def _internal_error(exc: Exception, args: list[str]) -> int:
    path = write_crash_report(exc, args)
    where = f"full trace in {path}" if path else "the trace could not be saved; run again with MCUDEPLOY_DEBUG=1 to see it"
    msg = " ".join(str(exc).split())  # one line, whatever the exception's text holds
    if len(msg) > 300:
        msg = msg[:300] + "..."
    return _fail(f"internal error: {type(exc).__name__}: {msg} (a bug in mcudeploy; {where}, please report it)",
                 EXIT_BUG)


def main() -> None:
    """The console script ``mcudeploy`` (pyproject ``[project.scripts]``)."""
    sys.exit(run())
