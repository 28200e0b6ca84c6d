"""A board that is already running, reached only through its UART URL.

    >>> t = AttachedTarget("socket://127.0.0.1:40123")    # `flash --emulate --detach` printed it
    >>> t.start(elf)                                       # nothing to do: it runs already
    >>> t.uart_url
    'socket://127.0.0.1:40123'

For a detached emulator, or a board on another machine shared with ser2net
(``rfc2217://lab-pc:4000``): mcudeploy neither starts nor flashes it, and cannot reset it. The
model hash check after connecting (device.py) still catches a board running another model.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import TargetError
from .base import Target


class AttachedTarget(Target):
    def __init__(self, url: str):
        self.url = url

    @property
    def uart_url(self) -> str:
        return self.url

    def start(self, elf: Path) -> None:
        """Nothing: the board already runs its firmware (flashed elsewhere, or a detached emulator)."""

    def reset(self) -> None:
        raise TargetError(f"cannot reset the board behind {self.url}: it was not started by this command")

    def stop(self) -> None:
        """Nothing to release: the board keeps running for the next command."""
