"""Where the firmware runs: one interface, two implementations (QEMU, a real board via pyOCD).

    >>> from mcudeploy.target import open_target
    >>> with open_target(board, emulate=True) as t:     # QemuTarget, or PyocdTarget(board, ...)
    ...     t.start(elf)                                # launch the emulator / flash and run
    ...     url = t.uart_url                            # "socket://127.0.0.1:40123" / "/dev/ttyACM0"
    ...     t.reset()
    # t.stop() on exit

Everything above this package (link, device, validate, profile) sees only ``uart_url``: the
emulator and silicon share every line above the transport. A ``port`` that is a pyserial URL
(``socket://``, ``rfc2217://``) names a board that already runs (a detached emulator, a board
shared with ser2net): it is attached to, never started or flashed.
"""

from __future__ import annotations

from ..boards import Board
from ..errors import TargetError
from .attached import AttachedTarget
from .base import Target
from .pyocd import PyocdTarget
from .qemu import QemuTarget


def is_url(port: str | None) -> bool:
    return port is not None and "://" in port


def is_virtual(emulate: bool | str | None) -> bool:
    """``--emulate virtual``: the silicon image on the virtual board (target/virtual/)."""
    return emulate == "virtual"


def builds_emulated(emulate: bool | str | None) -> bool:
    """Whether ``emulate`` runs the -DMCD_EMULATED image (QEMU); the virtual board runs silicon's."""
    return bool(emulate) and not is_virtual(emulate)


def open_target(board: Board, emulate: bool | str, port: str | None = None, probe: str | None = None) -> Target:
    """The target for ``board``: attached if ``port`` is a URL, the virtual board if ``emulate`` is
    "virtual", QEMU if ``emulate`` is otherwise true, else the probe (``probe`` = its unique id)
    with the board's virtual COM port (or ``port``)."""
    if is_url(port):
        return AttachedTarget(port)
    if is_virtual(emulate):
        from .virtual import VirtualTarget  # unicorn is imported only by the board's own process

        if port:
            raise TargetError(f"--port {port} with --emulate virtual: the virtual board serves its own socket; "
                              "drop --port")
        return VirtualTarget(board)
    if emulate:
        if port:
            raise TargetError(f"--port {port} with --emulate: give the socket:// URL of a running emulator "
                              "(`mcudeploy flash PROJECT --emulate --detach` prints it), or no --port")
        return QemuTarget(board)
    return PyocdTarget(board, port=port, probe_id=probe)


__all__ = ["AttachedTarget", "PyocdTarget", "QemuTarget", "Target", "builds_emulated", "is_url", "is_virtual",
           "open_target"]
