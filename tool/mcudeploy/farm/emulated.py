"""``mcudeploy farm up --emulate N`` / ``farm down``: a labgrid farm of emulated boards on this machine.

Usage::

    state = up(2, load_board("nucleo-f446re"))            # coordinator + exporter "emu-1" with 2 places
    state["coordinator"]["address"]                        # '127.0.0.1:40123': give it to --farm
    up(2, board, coordinator=state["coordinator"]["address"], name="emu-2")   # a second "host" joins
    down()                                                 # stops exactly what up() started

Each emulated board is one QEMU of the board's machine, started halted (``-S``) with no firmware,
its UART on a TCP port and its gdbstub on another; labgrid's own ``labgrid-exporter`` exports
both as ``NetworkSerialPort`` resources (``uart`` and ``gdb``: raw TCP byte streams) of one
group, and a place per group carries the tag ``board=BOARD``. A client that acquires the place
loads its firmware through ``gdb`` (gdbload.py) and talks to it on ``uart``: the flash-then-talk
order of a real board, with no file copied to the exporter host. A halted QEMU costs no CPU, so
idle places do not slow the busy ones.

What ``up`` started is recorded in ``farm.json`` in the farm folder (default
``~/.cache/mcudeploy/farm``), under a lock; ``down`` stops those processes only (each pid is
checked against the command line it was started with, so a reused pid is never signalled),
deletes the places it added to a coordinator it did not start, and removes the files it wrote.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..boards import Board
from ..errors import McdError, TargetError
from ..target.qemu import free_port, qemu_command
from .client import FarmClient

STATE = "farm.json"


def farm_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mcudeploy" / "farm"


@contextlib.contextmanager
def _locked(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "farm.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def read_state(folder: Path | None = None) -> dict:
    path = (folder or farm_dir()) / STATE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"coordinator": None, "exporters": []}
    return state if isinstance(state, dict) else {"coordinator": None, "exporters": []}


def _write_state(folder: Path, state: dict) -> None:
    tmp = folder / f".{STATE}.{os.getpid()}"
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, folder / STATE)


def _spawn(cmd: list[str], log: Path, cwd: Path | None = None) -> dict:
    """Start ``cmd`` in its own session (it outlives this command), its output in ``log``."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=cwd, start_new_session=True)
    return {"pid": proc.pid, "argv0": Path(cmd[0]).name, "mark": cmd[-1], "log": str(log)}


def _tool(name: str) -> str:
    """labgrid's program beside this Python (the one whose labgrid we import), else on PATH."""
    here = Path(sys.executable).parent / name
    path = str(here) if here.exists() else shutil.which(name)
    if path is None:
        raise McdError(f"{name} not found: the board farm needs labgrid's programs; install them with "
                       "pip install 'mcudeploy[farm]' (or: pip install labgrid)")
    return path


def _wait_log(proc: dict, pattern: str, timeout: float = 20.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, Path(proc["log"]).read_text(errors="replace"))
        if m:
            return m
        if not _running(proc):
            break
        time.sleep(0.05)
    tail = Path(proc["log"]).read_text(errors="replace").strip()[-400:]
    raise TargetError(f"{proc['argv0']} did not start (see {proc['log']}): {tail}")


def start_coordinator(folder: Path) -> dict:
    """labgrid-coordinator on 127.0.0.1 and a port the kernel picks; it keeps its places in ``folder``."""
    where = folder / "coordinator"
    where.mkdir(parents=True, exist_ok=True)
    proc = _spawn([_tool("labgrid-coordinator"), "-l", "127.0.0.1:0"], folder / "coordinator.log", cwd=where)
    try:
        m = _wait_log(proc, r"listening on 127\.0\.0\.1:(\d+)")
    except BaseException:
        _stop(proc)
        raise
    return dict(proc, address=f"127.0.0.1:{m.group(1)}")


def start_board(board: Board, folder: Path, tag: str) -> dict:
    """One halted QEMU of ``board`` with its UART and gdbstub on free TCP ports."""
    for _ in range(5):  # another process may take a free port before QEMU binds it
        uart, gdb = free_port(), free_port()
        cmd = qemu_command(board, Path("-"), uart)
        assert cmd[-2] == "-kernel"  # the same machine and UART wiring as `--emulate`, loaded later by gdb
        cmd = [*cmd[:-2], "-S", "-gdb", f"tcp:127.0.0.1:{gdb}", "-name", tag]
        proc = _spawn(cmd, folder / f"{tag}.log")
        if _listening(uart, proc) and _listening(gdb, proc):
            return dict(proc, uart=uart, gdb=gdb)
        _stop(proc)
    raise TargetError(f"QEMU for {board.name} could not bind two free TCP ports after 5 attempts")


def exporter_yaml(places: list[dict], speed: int) -> str:
    """The exporter configuration: one group per emulated board, its ``uart`` and ``gdb`` ports."""
    lines = []
    for p in places:
        lines.append(f"{p['group']}:")
        for res in ("uart", "gdb"):
            lines += [f"  {res}:", "    cls: NetworkSerialPort", "    host: 127.0.0.1", f"    port: {p[res]}",
                      f"    speed: {speed}", "    protocol: raw"]
    return "\n".join(lines) + "\n"


def up(n: int, board: Board, folder: Path | None = None, coordinator: str | None = None,
       name: str | None = None, progress=None) -> dict:
    """Start ``n`` emulated ``board`` places under a new exporter (and a coordinator unless one is
    given); the recorded state. Places are named ``EXPORTER-K``, tagged ``board=BOARD``."""
    if n < 1:
        raise McdError(f"--emulate {n}: give at least 1 emulated board")
    if board.emulator is None:
        raise McdError(f"board {board.name} has no [emulator] section: choose a board `mcudeploy boards` lists "
                       "with an emulator")
    folder = Path(folder or farm_dir())
    say = progress or (lambda msg: None)
    with _locked(folder):
        state = read_state(folder)
        taken = {e["name"] for e in state["exporters"]}
        name = name or next(f"emu-{k}" for k in range(1, 1000) if f"emu-{k}" not in taken)
        if name in taken:
            raise McdError(f"an exporter named {name} already runs in this farm ({folder}): choose another "
                           "--name, or `mcudeploy farm down` first")
        started: list[dict] = []
        try:
            if coordinator is None:
                if state["coordinator"] and _alive(state["coordinator"]):
                    coordinator = state["coordinator"]["address"]
                else:
                    state["coordinator"] = start_coordinator(folder)
                    started.append(state["coordinator"])
                    coordinator = state["coordinator"]["address"]
                    say(f"coordinator listening on {coordinator}")
            places = []
            for k in range(1, n + 1):
                q = start_board(board, folder, f"{name}-{k}")
                started.append(q)
                places.append(dict(q, group=f"{name}-{k}"))
            config = folder / f"exporter-{name}.yaml"
            config.write_text(exporter_yaml(places, board.uart.baud))
            exp = _spawn([_tool("labgrid-exporter"), "-c", coordinator, "-n", name, "--hostname", "127.0.0.1",
                          str(config)], folder / f"exporter-{name}.log")
            started.append(exp)
            _add_places(coordinator, name, places, board, exp)
            entry = dict(exp, name=name, config=str(config), coordinator=coordinator, board=board.name,
                         places=places)
            state["exporters"].append(entry)
            _write_state(folder, state)
            say(f"exporter {name}: {n} emulated {board.name} places ({', '.join(p['group'] for p in places)})")
        except BaseException:
            for proc in reversed(started):
                _stop(proc)
            raise
    return state


def _add_places(coordinator: str, name: str, places: list[dict], board: Board, exp: dict) -> None:
    with FarmClient(coordinator) as farm:
        deadline = time.monotonic() + 30
        while farm.exported(name) < 2 * len(places):  # the exporter registers its resources
            if time.monotonic() > deadline or not _running(exp):
                raise TargetError(f"labgrid-exporter {name} did not register its resources with {coordinator} "
                                  f"(see {exp['log']})")
            time.sleep(0.1)
            farm.sync()
        for p in places:
            farm.add_place(p["group"], f"{name}/{p['group']}/*", {"board": board.name, "emulated": "qemu"})


def down(folder: Path | None = None) -> list[str]:
    """Stop what ``up`` started in ``folder``; what was stopped, one line each."""
    folder = Path(folder or farm_dir())
    stopped = []
    with _locked(folder):
        state = read_state(folder)
        coord = state.get("coordinator")
        ours = coord is not None and _alive(coord)
        for exp in state["exporters"]:
            if not ours and exp.get("coordinator"):  # someone else's coordinator: take our places back out
                with contextlib.suppress(McdError), FarmClient(exp["coordinator"]) as farm:
                    for p in exp["places"]:
                        farm.delete_place(p["group"])
            for proc in [exp, *exp["places"]]:
                if _stop(proc):
                    stopped.append(f"{proc['argv0']} pid {proc['pid']}")
            Path(exp["config"]).unlink(missing_ok=True)
        if coord and _stop(coord):
            stopped.append(f"labgrid-coordinator pid {coord['pid']} ({coord['address']})")
            for f in ("places.yaml", "resources.yaml"):
                (folder / "coordinator" / f).unlink(missing_ok=True)
        (folder / STATE).unlink(missing_ok=True)
    return stopped


# processes ------------------------------------------------------------------------------------
def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _alive(proc: dict) -> bool:
    """Whether the recorded process still runs as what was started (not a reused pid)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(proc["pid"], os.WNOHANG)
    args = _cmdline(proc["pid"])
    return bool(args) and proc["mark"] in args and any(proc["argv0"] in a for a in args[:2])


def _running(proc: dict) -> bool:
    """Whether a process this command just started still runs (its command line may not be
    readable yet right after the exec, so ``_alive`` is for processes started earlier)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(proc["pid"], os.WNOHANG)
    try:
        return Path(f"/proc/{proc['pid']}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _stop(proc: dict, timeout: float = 5.0) -> bool:
    if not _alive(proc):
        return False
    os.kill(proc["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(proc):
        time.sleep(0.05)
    if _alive(proc):
        os.kill(proc["pid"], signal.SIGKILL)
    return True


def _listening(port: int, proc: dict, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _running(proc):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False
