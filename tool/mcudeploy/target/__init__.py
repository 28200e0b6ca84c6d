"""Where the firmware runs: one interface, two implementations (QEMU, a real board via pyOCD).

    >>> from mcudeploy.target import open_target
    >>> with open_target(board, emulate=True) as t:     # QemuTarget, or PyocdTarget(board, ...)
    ...     t.start(elf)                                # launch the emulator / flash and run
    ...     url = t.uart_url                            # "socket://127.0.0.1:40123" / "/dev/ttyACM0"
    ...     t.reset()
    # t.stop() on exit

Everything above this package (link, device, validate, profile) sees only ``uart_url``: the
emulator and silicon share every line above the transport.
"""

from __future__ import annotations

from ..boards import Board
from .base import Target
from .pyocd import PyocdTarget
from .qemu import QemuTarget


def open_target(board: Board, emulate: bool, port: str | None = None, probe: str | None = None) -> Target:
    """The target for ``board``: QEMU if ``emulate``, else the probe (``probe`` = its unique id)."""
    if emulate:
        return QemuTarget(board)
    return PyocdTarget(board, port=port, probe_id=probe)


__all__ = ["PyocdTarget", "QemuTarget", "Target", "open_target"]
