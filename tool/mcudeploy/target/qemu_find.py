"""Which qemu-system-arm runs a board: the first one, in a fixed order, new enough for its machine.

    >>> find_qemu(load_board("b-l475e-iot01a"))      # needs QEMU >= 10.0 (emulator.qemu_version)
    '/opt/qemu10/usr/bin/qemu-system-arm'

Why a search and not one name: Debian bookworm ships QEMU 7.2, which runs the netduinoplus2
(the emulated F446RE) but lacks the b-l475e-iot01a machine's RCC model and the M7/M33/M0 boards;
QEMU 10 comes from bookworm-backports. scripts/setup.sh installs 10 system-wide on a fresh machine,
but a machine may keep 7.2 on its PATH and 10 unpacked elsewhere (``dpkg -x`` into /opt/qemu10,
as this project's shared CI host does so as not to upgrade under running jobs). The order:

1. ``MCUDEPLOY_QEMU`` (a path or a command name): the only candidate when set;
2. ``qemu-system-arm`` on the PATH;
3. the known unpacked locations in ``KNOWN_PLACES``.

The first whose ``--version`` is at least the board's ``emulator.qemu_version`` wins; if none is,
one TargetError says which were found, at what versions, and how to get a new enough one.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess

from ..boards import Board
from ..errors import TargetError

ENV = "MCUDEPLOY_QEMU"
COMMAND = "qemu-system-arm"
KNOWN_PLACES = ("/opt/qemu10/usr/bin/qemu-system-arm", "/usr/local/bin/qemu-system-arm")
INSTALL_HINT = ("install QEMU >= 10 from Debian bookworm-backports (scripts/setup.sh does: "
                "apt-get install -t bookworm-backports qemu-system-arm), or set MCUDEPLOY_QEMU to its path")


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


@functools.cache
def qemu_version(binary: str) -> tuple[int, ...] | None:
    """``(major, minor, patch)`` from ``binary --version``; None if it does not run."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=20,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"version (\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(g) for g in m.groups()) if m else None


def candidates() -> list[str]:
    """Executable QEMU binaries in search order (see the module docstring)."""
    env = os.environ.get(ENV)
    if env:
        found = shutil.which(env)
        if found is None:
            raise TargetError(f"{ENV}={env} is not an executable file: point it at a qemu-system-arm binary "
                              "or unset it")
        return [found]
    out = [p for p in [shutil.which(COMMAND), *KNOWN_PLACES] if p and os.access(p, os.X_OK)]
    return list(dict.fromkeys(os.path.realpath(p) for p in out))


def find_qemu(board: Board) -> str:
    """The QEMU binary to run ``board``'s machine with (TargetError if none is new enough)."""
    need = _version_tuple(board.emulator.qemu_version) if board.emulator else (0,)
    found = [(c, qemu_version(c)) for c in candidates()]
    for path, version in found:
        if version is not None and version >= need:
            return path
    seen = ", ".join(f"{p} ({'.'.join(map(str, v)) if v else 'does not run'})" for p, v in found) or "none"
    raise TargetError(f"{board.name} needs qemu-system-arm >= {board.emulator.qemu_version} for machine "
                      f"{board.emulator.qemu_machine}; found: {seen}; {INSTALL_HINT}")


def qemu_available(board: Board) -> str | None:
    """Why ``board`` cannot be emulated here (None if it can): for tests' skip reasons."""
    try:
        find_qemu(board)
    except TargetError as exc:
        return str(exc)
    return None
