"""An emulated board left running between commands (``flash --emulate --detach`` / ``--stop``).

    >>> url = start_detached(project, board, elf)     # 'socket://127.0.0.1:40123'
    >>> # ... `mcudeploy validate PROJECT --port socket://127.0.0.1:40123 --data mnist`
    >>> stop_detached(project, board)                 # True if one was running

What was started is recorded in ``PROJECT/firmware/BOARD/emulator.json`` (pid, url, log), so the
``--stop`` of a later command finds it. Before signalling a recorded pid, its command line is
checked to still be that QEMU: a pid reused by an unrelated process is never killed.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from ..boards import Board
from ..build import firmware_dir
from .qemu import QemuTarget


def state_file(project_dir: str | Path, board: Board) -> Path:
    return firmware_dir(project_dir, board) / "emulator.json"


def running(project_dir: str | Path, board: Board) -> dict | None:
    """The recorded detached emulator of this project and board, if it still runs."""
    path = state_file(project_dir, board)
    if not path.is_file():
        return None
    state = json.loads(path.read_text())
    return state if _is_our_qemu(state) else None


def start_detached(project_dir: str | Path, board: Board, elf: Path) -> QemuTarget:
    """Start QEMU in its own session (it outlives this process) and record it. A detached
    emulator of the same project and board that is still running is stopped first."""
    stop_detached(project_dir, board)
    path = state_file(project_dir, board)
    target = QemuTarget(board, log=path.with_name("emulator.log"), detach=True)
    target.start(elf)
    path.write_text(json.dumps({"pid": target.proc.pid, "url": target.uart_url, "elf": str(elf),
                                "log": str(target.log_path), "started": time.time()}, indent=2) + "\n")
    return target


def stop_detached(project_dir: str | Path, board: Board, timeout: float = 5.0) -> bool:
    """Stop the recorded detached emulator; True if one was running."""
    path = state_file(project_dir, board)
    state = running(project_dir, board)
    path.unlink(missing_ok=True)
    if state is None:
        return False
    pid = state["pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child (the same process started it)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _is_our_qemu(state: dict) -> bool:
    try:
        cmdline = Path(f"/proc/{state['pid']}/cmdline").read_bytes().split(b"\0")
    except (OSError, KeyError):
        return False
    return bool(cmdline) and b"qemu-system" in cmdline[0] and state.get("elf", "").encode() in cmdline
