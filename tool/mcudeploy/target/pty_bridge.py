"""A pseudo-terminal in front of an emulated board's TCP UART, for clients that only open serial
ports (the MLPerf Tiny runner's ``serial.Serial(port)``).

    >>> b = start_bridge(40123, Path("out/kws/firmware/nucleo-f446re/mlperf.pty"), log)
    >>> b.pty, b.pid           # open b.pty as a serial port; socat runs in its own process group
    >>> stop_bridge(b.pid)     # only a socat process is ever signalled

socat (Debian: ``apt-get install socat``) copies bytes both ways: ``pty,raw,echo=0`` so that the
runner sees exactly the firmware's bytes and none of its own echoed, ``tcp:...,nodelay`` because
the runner writes a command and its ``%`` in two writes, and with Nagle's algorithm the second
waited for the board's delayed ACK: a VWW input (892 ``db`` commands) took 5.1 s instead of 2.9 s.
The pty outlives a client closing it (the runner opens the port twice), and socat ends by
itself when the emulator closes the TCP connection.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import TargetError

SOCAT = "socat"


@dataclass
class Bridge:
    pid: int
    pty: Path


def socat_command(port: int, link: Path, socat: str = SOCAT) -> list[str]:
    return [socat, f"pty,raw,echo=0,link={link}", f"tcp:127.0.0.1:{port},nodelay"]


def require_socat(socat: str = SOCAT) -> None:
    """TargetError (before anything is built or started) when socat is not installed."""
    if shutil.which(socat) is None:
        raise TargetError(f"{socat} not found: the pty in front of the emulated board needs it "
                          "(on Debian/Ubuntu: apt-get install socat; scripts/setup.sh installs it)")


def start_bridge(port: int, link: Path, log: Path, timeout: float = 5.0, socat: str = SOCAT) -> Bridge:
    """Start socat detached (it outlives this process) and wait until its pty link exists."""
    require_socat(socat)
    link = Path(link)
    if link.is_symlink() and os.readlink(link).startswith("/dev/pts/"):
        link.unlink()  # a link an earlier bridge left behind; anything else at that path is refused below
    if link.exists() or link.is_symlink():
        raise TargetError(f"{link} exists and is not a pty link this tool made: remove or rename it")
    with open(log, "wb") as out:
        proc = subprocess.Popen(socat_command(port, link, socat), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=out, process_group=0)  # not a new session: see QemuTarget
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TargetError(f"socat ended at once (exit {proc.returncode}): {Path(log).read_text()[-400:].strip()}")
        if link.is_symlink():
            return Bridge(proc.pid, link)
        time.sleep(0.02)
    stop_bridge(proc.pid)
    raise TargetError(f"socat made no pty at {link} within {timeout:.0f} s; see {log}")


def is_bridge(pid: int) -> bool:
    """True if ``pid`` runs socat (a reused pid is never signalled)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(args) and os.path.basename(args[0]) == SOCAT.encode()


def stop_bridge(pid: int, timeout: float = 2.0) -> bool:
    """Stop the socat of ``pid`` if it still runs; whether it did."""
    if not is_bridge(pid):
        return False
    os.kill(pid, 15)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and is_bridge(pid):
        try:
            os.waitpid(pid, os.WNOHANG)  # our own child: reap it
        except ChildProcessError:
            pass
        time.sleep(0.02)
    if is_bridge(pid):
        os.kill(pid, 9)
    return True
