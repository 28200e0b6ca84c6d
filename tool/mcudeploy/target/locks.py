"""Who uses a board right now: advisory locks, so that two commands never talk to one board at once.

    >>> with port_lock("socket://127.0.0.1:40123"):    # TargetError at once if another command has it
    ...     ...                                         # validate, profile, flash through that port
    >>> fd = try_lock(path, "emulator of out/lenet")    # an fd holding the lock, or None if held

The locks are ``fcntl.flock`` locks on small files. Such a lock belongs to the open file, not to a
process: a child handed the descriptor (the QEMU of a detached emulator, via ``pass_fds``) keeps
it after this process exits, and the kernel drops it when the last holder ends, so a crash or a
``kill -9`` never leaves a stale lock. Each lock file names its holder (pid, command) so that the
refusal can say who is in the way. Port locks live in a private folder of the user
(``$XDG_RUNTIME_DIR`` or the temp folder, ``mcudeploy-UID/``, mode 0700, checked to be the user's
own folder and no link), as lock files in a shared folder could be pointed elsewhere by others.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import TargetError

try:
    import fcntl
except ImportError:  # Windows: no flock; commands are then not kept apart
    fcntl = None


def try_lock(path: Path, holder: str = "") -> int | None:
    """Take the lock of ``path`` (created if missing) without waiting: the open descriptor that
    holds it, or None when another process holds it. ``holder`` is written into the file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0), 0o644)
    if fcntl is None:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}: {holder or _command()}\n".encode())
    return fd


def holder(path: Path) -> str:
    """Who holds the lock of ``path``, as its holder wrote it ("pid 123: mcudeploy validate ...")."""
    try:
        return Path(path).read_text(errors="replace").strip() or "unknown process"
    except OSError:
        return "unknown process"


def _command() -> str:
    argv = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else ["python"]
    return " ".join(argv)[:200]


def lock_folder() -> Path:
    """The user's private folder of port locks."""
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    folder = base / f"mcudeploy-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise TargetError(f"{folder} is not a folder of this user: remove it (it holds only mcudeploy's port "
                          "locks) or set XDG_RUNTIME_DIR to a private folder")
    return folder


def port_key(url: str) -> str:
    """The same port however it is spelled: case and pyserial URL options (``?logging=debug``) aside."""
    return url.split("?", 1)[0].strip().lower().replace("localhost", "127.0.0.1")


_held: dict[str, int] = {}  # port key -> how many nested port_lock() of this process hold it


@contextlib.contextmanager
def port_lock(url: str) -> Iterator[None]:
    """Hold ``url`` (a serial device or pyserial URL) for the duration; TargetError at once if
    another command holds it (two clients of one UART would steal each other's replies). Nested
    holds in one process are fine: ``validate`` takes it before its preparations, ``open_device``
    again."""
    key = port_key(url)
    if fcntl is None:
        yield
        return
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    path = lock_folder() / f"port-{hashlib.sha256(key.encode()).hexdigest()[:16]}.lock"
    fd = try_lock(path)
    if fd is None:
        raise TargetError(f"{url} is in use by another mcudeploy command ({holder(path)}): wait for it to finish "
                          "or stop it; one command at a time can talk to a board")
    _held[key] = 1
    try:
        yield
    finally:
        del _held[key]
        os.close(fd)
