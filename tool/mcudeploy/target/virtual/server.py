"""The virtual board as a process: ``python -m mcudeploy.target.virtual.server ELF --board B --port P``.

It serves the firmware's USART on 127.0.0.1:P (as QEMU does), prints ``ready`` on stdout once the
firmware has booted (clock bring-up done, waiting for the host), and on a broken rule or a fault
prints that one-line error on stderr and exits with status 3. VirtualTarget (``__init__.py``)
starts it and turns that line into the error the user sees.
"""

from __future__ import annotations

import argparse
import signal
import sys
import traceback
from dataclasses import replace

from ...boards import load_board
from ...errors import McdError
from .board import VirtualBoard
from .uart_io import SocketUart, Stop

PORT_BUSY = 4


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("elf")
    ap.add_argument("--board", required=True, help="board name or TOML path")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--baud", type=int, help="the UART rate the firmware was built for (default: the board file's)")
    ap.add_argument("--python-hook", action="store_true", help="time blocks in Python, not C (for comparison)")
    ap.add_argument("--flash-model", action="store_true",
                    help="charge flash wait states and the ART as FLASH_ACR sets them up (memmodel.py; slower)")
    a = ap.parse_args(argv)
    board = load_board(a.board)
    if a.baud:
        board = replace(board, uart=replace(board.uart, baud=a.baud))

    def ready() -> None:
        print(f"ready {a.port}", flush=True)

    try:
        io = SocketUart(a.port, on_ready=ready)
    except OSError as exc:  # another process took the port: the target retries with another
        print(f"cannot listen on 127.0.0.1:{a.port}: {exc}", file=sys.stderr, flush=True)
        return PORT_BUSY

    def stop(*_):
        raise Stop("terminated")

    signal.signal(signal.SIGTERM, stop)
    vb = None
    try:
        vb = VirtualBoard(a.elf, board, io, native=not a.python_hook, flash_model=a.flash_model)
        vb.run()
    except Stop:
        return 0
    except McdError as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return 3
    except Exception as exc:  # noqa: BLE001 - a Unicorn error or a bug: traceback kept, one line last
        traceback.print_exc()
        print(f"the virtual board failed at pc={_pc(vb)}: {type(exc).__name__}: {exc} (a bug in mcudeploy's "
              "virtual board, or an instruction Unicorn cannot run; the traceback is above in its log)",
              file=sys.stderr, flush=True)
        return 70
    finally:
        io.close()
    return 0


def _pc(vb) -> str:
    try:
        return f"{vb.pc:#010x}"
    except Exception:  # noqa: BLE001 - no CPU yet
        return "?"


if __name__ == "__main__":
    sys.exit(main())
