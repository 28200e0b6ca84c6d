"""The target interface (after microTVM's project API verbs: flash/start, reset, transport)."""

from __future__ import annotations

import subprocess
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Self


class Target(ABC):
    """A board that can run a firmware ELF and exposes its UART as a pyserial URL."""

    @abstractmethod
    def start(self, elf: Path) -> None:
        """Load ``elf`` and let it run (flash a board, or launch the emulator)."""

    @abstractmethod
    def reset(self) -> None:
        """Restart the firmware from its reset vector."""

    @property
    @abstractmethod
    def uart_url(self) -> str:
        """pyserial URL of the board's protocol UART; valid after ``start``."""

    @abstractmethod
    def stop(self) -> None:
        """Release the board (stop the emulator, close the probe). Safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def end_process(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Terminate a child (an emulator) and reap it; kill it if it has not gone after ``timeout`` s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
