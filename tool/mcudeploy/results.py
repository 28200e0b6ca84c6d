"""The per-sample results file of ``validate``: which run it belongs to, and when it may be written.

Usage::

    header = results_header(prj, "nucleo-f446re", "digits", x)
    path = results_path(prj.path, "nucleo-f446re", True, "digits", header)  # PROJECT/validate/...jsonl
    done = check_results(path, header, resume=False, fresh=False, explicit=False)  # McdError if unsafe
    start_results(path, header, done)      # once the board answered; then append one line a sample

A results file is JSON lines: a header (kind, model hash, board, data fingerprint, sample count)
then one record per sample, appended as each completes. The rules, checked before any board work:
a file that is not a results file is never written; the results of another run are replaced only
with ``--fresh``; this run's results are continued with ``--resume`` or discarded with ``--fresh``,
never thrown away unasked.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from .errors import McdError, OutputError
from .project import Project

RESULTS_KIND = "mcudeploy-validate"
# what makes two runs the same run: a results file is resumed only when all of these are equal
_IDENTITY = ("kind", "version", "model_hash", "board", "data_sha256", "samples")


def results_header(prj: Project, board: str, data: str, x: np.ndarray) -> dict:
    """The first line of a results file: which run it belongs to. The data is identified by the
    bytes of its samples, so a moved .npz still resumes and an edited one never does."""
    fp = hashlib.sha256(repr(x.shape).encode() + np.ascontiguousarray(x, np.float32).tobytes()).hexdigest()
    return {"kind": RESULTS_KIND, "version": 2, "model_hash": prj.meta["model_hash"], "board": board,
            "data": str(data), "data_sha256": fp[:16], "samples": len(x)}


def results_path(project, board: str, emulate: bool, data: str, header: dict) -> Path:
    """Where ``validate`` keeps a run's per-sample results unless told otherwise: one file per run
    (model, board, data, sample count), in the project's tool-owned ``validate/`` folder, so that
    a failed start or another run never touches the file a later ``--resume`` needs."""
    key = hashlib.sha256(json.dumps([header[k] for k in _IDENTITY] + [emulate]).encode()).hexdigest()[:8]
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(str(data)).stem)[:24] or "data"
    kind = "-emulated" if emulate else ""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(str(board)).stem)[:40] or "board"  # a board given as a path
    return Path(project) / "validate" / f"{name}{kind}-{label}-{header['samples']}-{key}.jsonl"


def _read_results(path: Path, header: dict) -> tuple[str, dict[int, dict]]:
    """What ``path`` holds: ("none" | "empty" | "foreign" | "other" | "same", samples by index).

    "foreign" is anything whose first line is not a validate header (never written to); "other"
    the results of another run. A line the interruption cut short is skipped: that sample is redone."""
    if not path.exists() and not path.is_symlink():
        return "none", {}
    if path.is_symlink() or not path.is_file():
        return "foreign", {}
    if path.stat().st_size == 0:
        return "empty", {}
    with open(path, "rb") as f:
        first = f.readline(1 << 16)
        try:
            saved = json.loads(first)
        except ValueError:
            return "foreign", {}
        if not (isinstance(saved, dict) and saved.get("kind") == RESULTS_KIND):
            return "foreign", {}
        if any(saved.get(k) != header[k] for k in _IDENTITY):
            return "other", {}
        done: dict[int, dict] = {}
        for line in f:
            try:
                rec = json.loads(line)
                i = rec["i"]
            except (ValueError, TypeError, KeyError):
                continue
            if isinstance(i, int) and 0 <= i < header["samples"] and _complete(rec):
                done[i] = rec
    return "same", done


def check_results(path: Path, header: dict, resume: bool, fresh: bool, explicit: bool) -> dict[int, dict]:
    """The samples to keep from ``path`` (empty unless resuming), or McdError before any work when
    running would overwrite what is not this run's results, or throw a run's results away unasked."""
    if resume and fresh:
        raise McdError("--resume keeps the saved results and --fresh discards them: give one of them")
    state, done = _read_results(path, header)
    if state == "foreign":
        raise McdError(f"{path} is not an mcudeploy results file (its first line is no validate header), so it "
                       "is left untouched: choose another --results")
    if state == "other" and not fresh:
        raise McdError(f"{path} holds the results of another run (model, board, data or sample count differ): "
                       "pass --fresh to discard them, or choose another --results")
    if state == "same" and not (resume or fresh):
        n = header["samples"]
        if len(done) == n:
            raise McdError(f"{path} already holds all {n} samples of this run: --resume reports them again "
                           "without running any, --fresh discards them and measures again")
        raise McdError(f"{len(done)} of {n} samples of this run are saved in {path}: continue with --resume, "
                       "or pass --fresh to discard them")
    if explicit and not path.parent.is_dir():
        raise McdError(f"--results {path}: folder {path.parent} does not exist; create it or choose another path")
    return done if resume else {}


def start_results(path: Path, header: dict, done: dict[int, dict]) -> None:
    """Write the header and the kept samples (without a line cut short), replacing the file in one
    rename: called only once the board answered, so a failed start leaves no results file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            f.write("".join(json.dumps(r) + "\n" for r in [header, *(done[i] for i in sorted(done))]))
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write results file {path}: {exc.strerror or exc}") from None


def _complete(rec: dict) -> bool:
    """A record with everything the report reads (a line damaged otherwise is redone, not trusted)."""
    try:
        bytes.fromhex(rec["out"])
    except (KeyError, TypeError, ValueError):
        return False
    return isinstance(rec.get("total"), int) and isinstance(rec.get("layers"), list)
