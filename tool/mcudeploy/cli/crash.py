"""Where the CLI's guard keeps the full trace of an unexpected exception (a bug in mcudeploy).

Usage::

    path = write_crash_report(exc, ["validate", "out/lenet", "--data", "mnist"])
    # ~/.cache/mcudeploy/crash-20261101-120000-4242.txt, or None if no folder could be written

The user sees one line naming this file; the file holds what a bug report needs (version,
Python, platform, the command's arguments, the traceback). It goes to the user's cache folder
($XDG_CACHE_HOME/mcudeploy, else ~/.cache/mcudeploy), else to the system's temporary folder,
and never into the working directory, which is the user's project.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path


def crash_dirs() -> list[Path]:
    """Candidate folders for crash reports, best first."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    cache = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return [cache / "mcudeploy", Path(tempfile.gettempdir())]


def _version() -> str:
    try:
        return metadata.version("mcudeploy")
    except metadata.PackageNotFoundError:
        return "unknown"


def write_crash_report(exc: BaseException, args: list[str]) -> Path | None:
    """Write the report into the first writable folder of ``crash_dirs``; None if none is."""
    text = (f"mcudeploy {_version()}, Python {sys.version.split()[0]}, {platform.platform()}\n"
            f"command: mcudeploy {shlex.join(args)}\n"
            f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n\n"
            + "".join(traceback.format_exception(exc)))
    stem = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    for folder in crash_dirs():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(100):  # a second crash in the same second and process gets -1, -2...
                path = folder / (f"{stem}-{k}.txt" if k else f"{stem}.txt")
                try:
                    with open(path, "x", encoding="utf-8") as f:  # "x": never overwrite a report
                        f.write(text)
                    return path
                except FileExistsError:
                    continue
        except OSError:
            continue
    return None
