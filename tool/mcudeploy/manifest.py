"""What in a project directory mcudeploy wrote: the manifest that lets ``compile -o`` replace it safely.

Usage::

    write(tmp)                       # after compile wrote every file of the project into tmp
    check_replaceable(Path("out"))   # before a re-compile: raises OutputError naming foreign files
    replace_dir(tmp, Path("out"))    # the new project takes the old one's place, or nothing changes
    record(Path("out"), "mlperf_suite.json")   # a file a later command adds beside the project

``.mcudeploy-manifest.json`` lists every file ``compile`` wrote with its size and sha256, and the
folders that later commands fill and that belong to the tool as a whole (``firmware/``: builds,
the detached emulator's state and log; ``bench/``: the cycle harness; ``validate/``: results
files). A directory is replaced only when everything in it is in the manifest, unchanged, or
inside those folders: a file the user added or edited (a note, an edited ``model.c``) makes the
command refuse and name it, since keeping it would mix it into the new project (``engine/*.c`` is
compiled as a whole) and deleting it would lose the user's work. A directory without a manifest
is never replaced unless it is empty.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from .errors import OutputError

MANIFEST = ".mcudeploy-manifest.json"
KIND = "mcudeploy-project"
TOOL_DIRS = ("firmware", "bench", "validate")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _entry(path: Path) -> dict:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def write(project_dir: Path) -> None:
    """List every file under ``project_dir`` (outside the tool's folders) in its manifest."""
    root = Path(project_dir)
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel != MANIFEST and rel.split("/")[0] not in TOOL_DIRS:
            files[rel] = _entry(path)
    doc = {"kind": KIND, "version": 1, "tool_dirs": list(TOOL_DIRS), "files": files}
    (root / MANIFEST).write_text(json.dumps(doc, indent=1) + "\n")


def read(project_dir: Path, name: Path | None = None) -> dict | None:
    """The manifest of ``project_dir``; None if it has none; OutputError if it is not one."""
    path = Path(project_dir) / MANIFEST
    project_dir = name or project_dir
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OutputError(f"{project_dir}/{MANIFEST} is unreadable ({exc}): which files of '{project_dir}' "
                          "mcudeploy wrote is unknown, so it is left as it is; choose another -o or remove the "
                          "folder yourself") from None
    if not (isinstance(doc, dict) and doc.get("kind") == KIND and isinstance(doc.get("files"), dict)):
        raise OutputError(f"{project_dir}/{MANIFEST} is not an mcudeploy manifest: '{project_dir}' is left as "
                          "it is; choose another -o or remove the folder yourself")
    return doc


def record(project_dir: Path, rel: str) -> None:
    """Add (or update) the file ``rel`` that a later command wrote into a project."""
    root = Path(project_dir)
    doc = read(root)
    if doc is None:
        raise OutputError(f"'{root}' has no {MANIFEST}: not a project this mcudeploy wrote")
    doc["files"][rel] = _entry(root / rel)
    (root / MANIFEST).write_text(json.dumps(doc, indent=1) + "\n")


def foreign_files(project_dir: Path, doc: dict) -> list[str]:
    """Paths under ``project_dir`` the manifest ``doc`` does not cover (added, edited, or links)."""
    root = Path(project_dir)
    tool_dirs = set(doc.get("tool_dirs", TOOL_DIRS))
    listed = doc["files"]
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in list(dirnames):
            sub = here / name
            rel = sub.relative_to(root).as_posix()
            if sub.is_symlink():  # never followed: the tool writes no links
                out.append(rel)
                dirnames.remove(name)
            elif here == root and name in tool_dirs:
                dirnames.remove(name)  # the tool's own folders
        for name in filenames:
            path = here / name
            rel = path.relative_to(root).as_posix()
            if rel == MANIFEST:
                continue
            want = listed.get(rel)
            if path.is_symlink() or not path.is_file() or not isinstance(want, dict):
                out.append(rel)
            elif path.stat().st_size != want.get("bytes") or _sha256(path) != want.get("sha256"):
                out.append(f"{rel} (changed since mcudeploy wrote it)")
    return sorted(out)


def check_replaceable(outdir: Path, name: Path | None = None) -> None:
    """Raise OutputError unless ``outdir`` is absent, empty, or a project wholly written by mcudeploy
    (``name``: how the user called it, when it has been moved aside)."""
    outdir = Path(outdir)
    shown = name or outdir
    if not outdir.exists() and not outdir.is_symlink():
        return
    if not outdir.is_dir():
        raise OutputError(f"-o '{shown}' is a file, not a folder: choose another -o")
    if not any(outdir.iterdir()):
        return
    doc = read(outdir, shown)
    if doc is None:
        if (outdir / "project.json").is_file():
            raise OutputError(f"'{shown}' holds a project from an older mcudeploy (no {MANIFEST}), so which of "
                              "its files the tool wrote is unknown: remove the folder yourself (after keeping "
                              "what is yours) or choose another -o")
        raise OutputError(f"'{shown}' exists, is not empty and is not an mcudeploy project: choose another -o "
                          "(it is left as it is)")
    foreign = foreign_files(outdir, doc)
    if foreign:
        names = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise OutputError(f"'{shown}' holds files mcudeploy did not write: {names}; move them out of it or "
                          "choose another -o (nothing was changed)")


def make_temp(outdir: Path) -> Path:
    """A fresh temporary sibling of ``outdir`` to write the new project into (same filesystem, so
    the final rename is atomic); OutputError, not a traceback, when the folder is not writable."""
    outdir = Path(outdir)
    try:
        outdir.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    except OSError as exc:
        raise OutputError(f"cannot write the project into '{outdir.parent}' ({exc.strerror or exc}): "
                          "choose an -o in a folder you can write") from None


def check_writable(outdir: Path) -> None:
    """OutputError now, not after the compile, if ``outdir``'s folder cannot take the project."""
    make_temp(outdir).rmdir()


def replace_dir(new: Path, outdir: Path) -> None:
    """Move ``new`` to ``outdir``. An existing ``outdir`` is first moved aside whole (one rename)
    and checked again there, so a file dropped into it during a long compile is never lost: then
    it is moved back and nothing changes."""
    new, outdir = Path(new), Path(outdir)
    if not outdir.exists():
        new.rename(outdir)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.old.", dir=outdir.parent))
    old = aside / "project"
    outdir.rename(old)
    try:
        check_replaceable(old, name=outdir)
        new.rename(outdir)
    except BaseException:
        old.rename(outdir)
        aside.rmdir()
        raise
    shutil.rmtree(aside)
