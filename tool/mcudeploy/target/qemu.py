"""The emulated board: QEMU's machine for the board, its USART on a local TCP socket.

QEMU hands its ``-serial`` options to the machine's UARTs in order (USART1, USART2, ... on the
STM32 machines), so the board's ``emulator.serial_index`` picks the one the firmware uses and the
ones before it get ``null``. The socket is a TCP server inside QEMU (``wait=off``: the firmware
runs at once, bytes it sends before the host connects are dropped, which the protocol tolerates),
and the host connects with ``socket://127.0.0.1:PORT``. ``nodelay=on`` matters: QEMU sends each
UART byte as its own write, and with Nagle's algorithm against the host's delayed ACKs every reply
cost ~40 ms instead of ~1 ms.

Which binary: ``qemu_find.find_qemu`` (QEMU 7.2 or 10, by the board's ``emulator.qemu_version``).
A family may ask for QEMU trace events (``Family.qemu_trace``, e.g. the L4's USART baud rate as
the modelled clocks produce it); they go to QEMU's log, which ``check_clocks`` hands back to the
family's ``check_emulator_log`` once the firmware has answered.

``-icount shift=S,align=off,sleep=off`` makes the virtual clock advance exactly 2^S ns per
executed instruction and nothing else: that is what makes SysTick an instruction counter and the
counts repeatable run after run (see firmware_template/src/counter_systick.c). A board with
``emulator.rx_wfi`` (b-l475e-iot01a) sleeps in WFI while it waits for the host and needs
``sleep=on`` to be woken (see board/stm32l4/port.c); no instruction of a measurement changes.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from ..boards import Board
from ..errors import TargetError
from ..families import family_for
from .base import Target, end_process
from .qemu_find import find_qemu

QEMU = "qemu-system-arm"


def free_port() -> int:
    """A TCP port nobody listens on right now (QEMU binds it a moment later; start() retries)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_command(board: Board, elf: Path, port: int, qemu: str = QEMU, name: str | None = None) -> list[str]:
    """QEMU's command line; ``name`` (``-name``) marks a detached emulator, so ``--stop`` finds it."""
    e = board.emulator
    if e is None:
        raise TargetError(f"board {board.name} has no [emulator] section")
    serial = ["-serial", "null"] * (e.serial_index - 1)
    # nodelay: QEMU writes the UART byte by byte; with Nagle + delayed ACKs each reply took 40 ms
    serial += ["-serial", f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on"]
    fam = family_for(board.family)
    # only a machine that models the clock tree has anything to trace (netduinoplus2 has no RCC)
    trace = [a for ev in (fam.qemu_trace if fam and e.clock_tree else ()) for a in ("-trace", ev)]
    return [qemu, "-M", e.qemu_machine, "-nodefaults", "-display", "none", "-monitor", "none",
            *(["-name", name] if name else []), *trace,
            "-icount", f"shift={e.icount_shift},align=off,sleep={'on' if e.rx_wfi else 'off'}", *serial,
            "-kernel", str(elf)]


class QemuTarget(Target):
    """QEMU running the board's machine. ``log`` (a path) keeps QEMU's output in a file instead of
    a temporary one, and ``detach`` starts it in its own process group, so that it outlives this
    process and Ctrl-C in its terminal (not its own session: with the kernel's scheduler
    autogroups, one per session, every byte between the host and a QEMU in another session
    waited for a cross-group switch on a loaded machine: a VWW input through the MLPerf runner
    took 17 s instead of 4 s)
    (``mcudeploy flash --emulate --detach``; see target/detached.py), named ``name`` and handed
    the descriptors ``pass_fds`` (the lock it holds for as long as it runs)."""

    def __init__(self, board: Board, qemu: str | None = None, startup_timeout: float = 10.0,
                 log: Path | None = None, detach: bool = False, name: str | None = None,
                 pass_fds: tuple[int, ...] = ()):
        if board.emulator is None:
            raise TargetError(f"board {board.name} cannot be emulated (its board file has no [emulator] "
                              "section): run it on the board itself (without --emulate), or emulate a board "
                              "`mcudeploy boards` lists with an emulator")
        self.board, self.qemu, self.startup_timeout = board, qemu, startup_timeout
        self.log_path, self.detach, self.name, self.pass_fds = log, detach, name, pass_fds
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.elf: Path | None = None
        self._log = None

    @property
    def uart_url(self) -> str:
        if self.port is None:
            raise TargetError("the emulator is not running")
        return f"socket://127.0.0.1:{self.port}"

    def start(self, elf: Path) -> None:
        if self.qemu is None:
            self.qemu = find_qemu(self.board)  # the first qemu-system-arm new enough (qemu_find.py)
        if shutil.which(self.qemu) is None:
            raise TargetError(f"{self.qemu} not found (on Debian/Ubuntu: apt-get install qemu-system-arm)")
        self.stop()
        self.elf = Path(elf)
        for _ in range(5):  # another process may grab the free port before QEMU binds it
            self._spawn(free_port())
            if self._wait_listening():
                return
            log = self._read_log()
            self.stop()
            if "in use" not in log:
                raise TargetError(f"QEMU did not start for {self.board.name}: {log.strip()[-800:]}")
        raise TargetError("QEMU could not bind a free TCP port after 5 attempts")

    def reset(self) -> None:
        """Restart QEMU on the same port (a fresh machine, exactly as after power-on)."""
        if self.elf is None:
            raise TargetError("reset before start")
        port = self.port
        self.stop()
        self._spawn(port)
        if not self._wait_listening():
            raise TargetError(f"QEMU did not restart on port {port}: {self._read_log().strip()[-800:]}")

    def stop(self) -> None:
        if self.proc is not None:
            end_process(self.proc)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """Kill QEMU at once (SIGKILL), as a crash would: tests of the link's fault paths use it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _spawn(self, port: int) -> None:
        self.port = port
        if self.log_path is not None:
            self._log = open(self.log_path, "w+b")  # noqa: SIM115 - lives as long as the process
        else:
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(qemu_command(self.board, self.elf, port, self.qemu, self.name),
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                     process_group=0 if self.detach else None, pass_fds=self.pass_fds)

    def _wait_listening(self) -> bool:
        """True once QEMU accepts connections on the port; False if it exited."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def check_clocks(self) -> None:
        """Raise TargetError if the family's check of QEMU's trace log finds a clock mistake."""
        fam = family_for(self.board.family)
        if fam is None or fam.check_emulator_log is None or not self.board.emulator.clock_tree:
            return
        problem = fam.check_emulator_log(self.board, self._read_log())
        if problem:
            raise TargetError(problem)

    def _read_log(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")
