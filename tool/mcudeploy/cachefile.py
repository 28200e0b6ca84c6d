"""Writing into the shared cache (MCUDEPLOY_CACHE) when several processes may want the same entry.

`make test` runs on two pytest-xdist workers, and two shells may run mcudeploy at once; both can
find an empty cache and want the same trained model, converted data set or compiled helper. Two
rules make that safe:

- ``produce_once(path)``: hold an exclusive ``flock`` on a lock file beside ``path`` while checking
  for and producing it, so the second process waits and then loads what the first wrote instead of
  training (minutes) a second time;
- ``atomic_write(path)``: write a temporary file in the same folder and ``os.replace`` it over
  ``path``, so a reader never sees half a file, and a failure leaves no file behind.

The lock files (``.NAME.lock``) stay: removing one while another process waits on it would let a
third process lock a new file of the same name and produce the entry alongside the second.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def produce_once(path: Path) -> Iterator[None]:
    """Hold the cache entry ``path``'s lock: check ``path.is_file()`` again inside, then produce it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # blocks while another process (or thread) produces the entry
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic_write(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path in ``path``'s folder to write; moved over ``path`` when the block succeeds,
    removed when it raises. ``suffix`` keeps the extension writers such as ``np.savez`` insist on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}"
    # created like any file (mode 0666 less the umask; mkstemp's 0600 would hide a shared cache's
    # entries from its other users), and exclusively: no two writers share a temporary file
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def hash_files(h, label: str, paths) -> None:
    """Feed each file of ``paths`` (in the order given; folders and missing paths skipped) into the
    hash ``h`` as ``label/name``, its length and its bytes: the keys of the timing-harness cache
    (bench.harness_key) and of the MLPerf suite's compiled projects (mlperf_suite.generator_digest)."""
    for p in paths:
        if p.is_file():
            data = p.read_bytes()
            h.update(f"{label}/{p.name}\0{len(data)}\0".encode())
            h.update(data)
