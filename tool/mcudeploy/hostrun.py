"""Compile a generated engine for the development machine and run samples through it.

Used by tests and ``mcudeploy compile --check``: the same C that goes to the board, built with
the host's C compiler as strict C99, must equal the numpy reference byte for byte.

Usage::

    exe = build_host(project.engine_dir, workdir)
    yq = run_host(exe, xq, output_bytes)
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .errors import BuildError
from .paths import FIRMWARE_TEMPLATE

HARNESS = FIRMWARE_TEMPLATE / "host" / "host_main.c"


def build_host(engine_dir: Path, workdir: Path, cc: str | None = None, extra_flags: list[str] | None = None) -> Path:
    cc = cc or os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise BuildError("no host C compiler found (set CC, or apt-get install gcc)")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    exe = workdir / "host_run"
    srcs = sorted(str(p) for p in Path(engine_dir).glob("*.c"))
    cmd = [cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", f"-I{engine_dir}",
           *(extra_flags or []), *srcs, str(HARNESS), "-o", str(exe)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise BuildError(f"host build of the engine failed:\n{' '.join(cmd)}\n{res.stderr}")
    return exe


def run_host(exe: Path, xq: np.ndarray, output_bytes: int) -> np.ndarray:
    xq = np.ascontiguousarray(xq, dtype=np.int8)
    with tempfile.TemporaryDirectory() as tmp:
        fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        fin.write_bytes(xq.tobytes())
        res = subprocess.run([str(exe), str(fin), str(fout)], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise BuildError(f"host engine run failed ({res.returncode}): {res.stderr}")
        return np.frombuffer(fout.read_bytes(), dtype=np.int8).reshape(len(xq), output_bytes)


def run_host_layers(exe: Path, xq1: np.ndarray, output_bytes: int, layer_bytes: list[int]) -> list[bytes]:
    """Every layer's output for one sample, from an engine built with ``-DMCD_LAYER_HOOK``
    (``build_host(..., extra_flags=["-DMCD_LAYER_HOOK"])``): the host twin of LAYER_OUTPUT."""
    xq1 = np.ascontiguousarray(xq1, dtype=np.int8).reshape(1, -1)
    with tempfile.TemporaryDirectory() as tmp:
        fin, fout, flay = Path(tmp) / "in.bin", Path(tmp) / "out.bin", Path(tmp) / "layers.bin"
        fin.write_bytes(xq1.tobytes())
        res = subprocess.run([str(exe), str(fin), str(fout), str(flay)], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise BuildError(f"host engine run failed ({res.returncode}): {res.stderr}")
        data = flay.read_bytes()
    if len(data) != sum(layer_bytes):
        raise BuildError(f"host engine wrote {len(data)} layer bytes, expected {sum(layer_bytes)}")
    offs = [0, *np.cumsum(layer_bytes).tolist()]
    return [data[a:b] for a, b in itertools.pairwise(offs)]


def have_cc() -> bool:
    return bool(os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc"))
