"""An emulated board left running between commands (``flash --emulate --detach`` / ``--stop``).

    >>> lock = claim(project, board)                  # TargetError if one runs already (says where)
    >>> target = start_detached(project, board, elf, lock)   # QEMU now holds the lock
    >>> target.uart_url                               # 'socket://127.0.0.1:40123'
    >>> # ... `mcudeploy validate PROJECT --port socket://127.0.0.1:40123 --data mnist`
    >>> stop_detached(project, board)                 # [{'pid': ..., 'url': ...}]: what was stopped

One emulator per project and board: ``PROJECT/firmware/BOARD/emulator.lock`` is locked (flock)
by the command that starts one, from before its build, and then by the QEMU process itself,
which inherits the descriptor; so a second ``--detach`` is refused at once, even while the first
is still building, and the lock goes away with the emulator however it ends. What was started is
recorded in ``emulator.json`` beside it (pid, url, log). ``--stop`` stops the recorded pid after
checking its command line is still that QEMU (a reused pid is never signalled), and every other
QEMU of the same user marked with this project's and board's ``-name``, so none is left orphaned
even when ``emulator.json`` was lost or damaged.

A serial-port client (the MLPerf Tiny runner) gets a pty in front of the socket:
``add_bridge(project, board)`` starts socat (target/pty_bridge.py) on ``PROJECT/firmware/BOARD/
uart.pty`` and records it; ``stop_detached`` stops it with the emulator. QEMU serves one TCP
client at a time, so the bridge then holds the socket and clients use the pty.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import signal
import time
from pathlib import Path

from ..boards import Board
from ..build import firmware_dir
from ..errors import TargetError
from .locks import try_lock
from .pty_bridge import Bridge, start_bridge, stop_bridge
from .qemu import QemuTarget


def state_file(project_dir: str | Path, board: Board) -> Path:
    return firmware_dir(project_dir, board) / "emulator.json"


def lock_file(project_dir: str | Path, board: Board) -> Path:
    return firmware_dir(project_dir, board) / "emulator.lock"


def marker(project_dir: str | Path, board: Board) -> str:
    """The ``-name`` of this project's and board's detached QEMU (a hash: paths may hold commas)."""
    where = str(firmware_dir(Path(project_dir).resolve(), board))
    return f"mcudeploy-detached-{hashlib.sha256(where.encode()).hexdigest()[:16]}"


def read_state(project_dir: str | Path, board: Board) -> dict | None:
    """The recorded emulator, or None if there is no record or it is unreadable (stale)."""
    try:
        state = json.loads(state_file(project_dir, board).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("pid"), int) else None


def running(project_dir: str | Path, board: Board) -> dict | None:
    """The recorded detached emulator of this project and board, if it still runs."""
    state = read_state(project_dir, board)
    return state if state is not None and _is_our_qemu(state) else None


def claim(project_dir: str | Path, board: Board) -> int:
    """The emulator lock of ``project_dir`` and ``board`` (an fd to hand to ``start_detached``),
    or TargetError naming the emulator that runs already and how to use or stop it."""
    fd = try_lock(lock_file(project_dir, board), f"detached emulator of {project_dir} ({board.name})")
    state = running(project_dir, board)  # also one started by an older mcudeploy, without the lock
    if state is None:  # one whose lock file went with a re-compiled project's firmware/ folder
        pid = next(iter(_marked_qemus(marker(project_dir, board))), None)
        state = {"pid": pid, "url": "an unrecorded port"} if pid is not None else None
    if fd is not None and state is None:
        return fd
    if fd is not None:
        os.close(fd)
    stop = f"`mcudeploy flash {project_dir} --board {board.name} --emulate --stop`"
    if state is None:
        raise TargetError(f"an emulated {board.name} of {project_dir} is being started by another command: use "
                          f"the URL it prints, or stop it with {stop}")
    raise TargetError(f"an emulated {board.name} of {project_dir} is already running at {state['url']}, pid "
                      f"{state['pid']}: use it (--port {state['url']}) or stop it first with {stop}")


def start_detached(project_dir: str | Path, board: Board, elf: Path, lock: int | None = None) -> QemuTarget:
    """Start QEMU in its own process group (it outlives this process), holding ``lock`` (from ``claim``;
    taken here if not given), and record it."""
    own = lock is None
    if own:
        lock = claim(project_dir, board)
    try:
        path = state_file(project_dir, board)
        target = QemuTarget(board, log=path.with_name("emulator.log"), detach=True,
                            name=marker(project_dir, board), pass_fds=(lock,))
        target.start(Path(elf).resolve())
        tmp = path.with_name(f".emulator.json.{os.getpid()}")
        tmp.write_text(json.dumps({"pid": target.proc.pid, "url": target.uart_url, "elf": str(target.elf),
                                   "log": str(target.log_path), "started": time.time()}, indent=2) + "\n")
        os.replace(tmp, path)
    finally:
        if own:
            os.close(lock)
    return target


def add_bridge(project_dir: str | Path, board: Board) -> Bridge:
    """Put a pty (socat) in front of the running detached emulator's socket, and record it."""
    state = running(project_dir, board)
    if state is None:
        raise TargetError(f"no detached emulated {board.name} of {project_dir} runs: nothing to bridge")
    path = state_file(project_dir, board)
    port = int(state["url"].rsplit(":", 1)[1])
    bridge = start_bridge(port, path.with_name("uart.pty").absolute(), path.with_name("bridge.log"))
    tmp = path.with_name(f".emulator.json.{os.getpid()}")
    tmp.write_text(json.dumps({**state, "bridge_pid": bridge.pid, "pty": str(bridge.pty)}, indent=2) + "\n")
    os.replace(tmp, path)
    return bridge


def stop_detached(project_dir: str | Path, board: Board, timeout: float = 5.0) -> list[dict]:
    """Stop every detached emulator of this project and board (and its pty bridge); what was
    stopped (pid, url, pty)."""
    path = state_file(project_dir, board)
    state = running(project_dir, board)
    recorded = read_state(project_dir, board) or {}
    if isinstance(recorded.get("bridge_pid"), int):
        stop_bridge(recorded["bridge_pid"])
    found = {state["pid"]: state.get("url")} if state else {}
    for pid in _marked_qemus(marker(project_dir, board)):
        found.setdefault(pid, None)
    for pid in found:
        _terminate(pid, timeout)
    path.unlink(missing_ok=True)  # the tool's own record: stale or damaged, it is no use now
    pty = path.with_name("uart.pty")
    if pty.is_symlink() and os.readlink(pty).startswith("/dev/pts/"):
        pty.unlink(missing_ok=True)  # the bridge's link (socat removes it itself when it can)
    return [{"pid": pid, "url": url, "pty": recorded.get("pty") if pid == recorded.get("pid") else None}
            for pid, url in found.items()]


def _terminate(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


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


def _cmdline(pid: int | str) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _marked_qemus(name: str) -> list[int]:
    """This user's QEMU processes started with ``-name NAME`` (Linux /proc; none elsewhere)."""
    out = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if proc.stat().st_uid != os.getuid():
                continue
        except OSError:
            continue
        args = _cmdline(proc.name)
        if args and b"qemu-system" in args[0] and any(a == b"-name" and b == name.encode()
                                                       for a, b in itertools.pairwise(args)):
            out.append(int(proc.name))
    return out


def _is_our_qemu(state: dict) -> bool:
    cmdline = _cmdline(state.get("pid", ""))
    return bool(cmdline) and b"qemu-system" in cmdline[0] and str(state.get("elf", "")).encode() in cmdline
