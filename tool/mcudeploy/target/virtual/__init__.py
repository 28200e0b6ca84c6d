"""The virtual NUCLEO-F446RE: the silicon ELF, byte for byte what ``flash`` programs, on the
project's Cortex-M4 timing model, with the reference manual's clock rules checked as it runs.

    >>> with VirtualTarget(load_board("nucleo-f446re")) as t:    # `--emulate virtual`
    ...     t.start(build(prj, board, emulate=False).elf)         # boots; a broken rule raises here
    ...     t.uart_url                                            # socket://127.0.0.1:PORT
    # counts come back through the firmware's own DWT code: labelled estimated_dwt_cycles

Why: QEMU runs a different image (``-DMCD_EMULATED``: no PLL waits, SysTick counting
instructions) on a machine with no RCC and no DWT, so the silicon image's clock bring-up, USART
divisor and cycle counter ran nowhere before a user's board. Here they run, on a register model of
RCC, PWR, FLASH, GPIO, USART, SysTick and DWT (board.py and its neighbours), in a process of its
own (server.py) that serves the USART on a socket, so every command above ``target/`` is unchanged.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ...boards import Board
from ...errors import TargetError
from ..base import Target, end_process
from ..qemu import free_port
from .rules import RuleViolation

COUNTER = "estimated_dwt_cycles"  # what "dwt_cycles" from this board really are
FLASH_MODEL_ENV = "MCUDEPLOY_VIRTUAL_FLASH"


def flash_model_on() -> bool:
    """``MCUDEPLOY_VIRTUAL_FLASH=1``: the virtual board also charges the flash wait states and the
    ART as the firmware's FLASH_ACR sets them up (mcudeploy.memmodel), so its DWT counts compare with
    bench's ``estimated_cycles_flash``; off by default (about 5x slower: timing runs in Python)."""
    import os

    return os.environ.get(FLASH_MODEL_ENV, "") not in ("", "0")


class VirtualTarget(Target):
    """The virtual board in a child process; ``start`` returns once the firmware has booted."""

    def __init__(self, board: Board, startup_timeout: float = 60.0):
        if board.mcu.upper() != "STM32F446RE":
            raise TargetError(f"--emulate virtual models the STM32F446RE; {board.name} is a {board.mcu}: use "
                              "--emulate (QEMU) for it")
        from ...extras import CYCLES, require

        require("--emulate virtual (the virtual board runs on the timing model)", *CYCLES,
                alternative="or use --emulate (QEMU)")
        self.board, self.startup_timeout = board, startup_timeout
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.elf: Path | None = None
        self._out = self._err = None

    @property
    def uart_url(self) -> str:
        if self.port is None:
            raise TargetError("the virtual board is not running")
        return f"socket://127.0.0.1:{self.port}"

    def start(self, elf: Path) -> None:
        self.stop()
        self.elf = Path(elf)
        for _ in range(5):  # another process may take the free port before the board binds it
            if self._spawn(free_port()):
                return
        raise TargetError("the virtual board could not bind a free TCP port after 5 attempts")

    def reset(self) -> None:
        if self.elf is None:
            raise TargetError("reset before start")
        port = self.port
        self.stop()
        if not self._spawn(port):
            raise TargetError(f"the virtual board could not listen on port {port} again after a reset")

    def stop(self) -> None:
        if self.proc is not None:
            end_process(self.proc)
            self.proc = None
        for f in (self._out, self._err):
            if f is not None:
                f.close()
        self._out = self._err = None

    def failure(self) -> str | None:
        """The board's one-line error if it stopped (a broken rule, a fault), else None."""
        if self.proc is None or self.proc.poll() is None:
            return None
        lines = self._read(self._err).strip().splitlines()
        return lines[-1] if lines else f"the virtual board exited with status {self.proc.returncode}"

    def _spawn(self, port: int) -> bool:
        """Start the board on ``port`` and wait until it booted; False if the port was taken."""
        from .server import PORT_BUSY

        self.port = port
        self._out, self._err = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115
        cmd = [sys.executable, "-m", "mcudeploy.target.virtual.server", str(self.elf), "--board",
               str(self.board.path), "--port", str(port), "--baud", str(self.board.uart.baud)]
        if flash_model_on():
            cmd.append("--flash-model")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if "ready" in self._read(self._out):
                return True
            if self.proc.poll() is not None:
                if self.proc.returncode == PORT_BUSY:
                    self.stop()
                    return False
                msg = self.failure()
                self.stop()
                err = RuleViolation if msg and msg.startswith("RM0390") else TargetError
                raise err(f"virtual {self.board.name}: {msg}")
            time.sleep(0.02)
        self.stop()
        raise TargetError(f"the virtual {self.board.name} did not boot within {self.startup_timeout:g} s "
                          "(its firmware never waited for the host: is it stuck in a clock wait?)")

    @staticmethod
    def _read(f) -> str:
        if f is None:
            return ""
        f.seek(0)
        return f.read().decode(errors="replace")


__all__ = ["COUNTER", "RuleViolation", "VirtualTarget"]
