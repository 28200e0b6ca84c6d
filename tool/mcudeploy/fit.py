"""Will a model fit a board? A lower bound on flash and RAM, checked before any work is done.

    >>> check_fits(load_board("nucleo-f446re"), weight_bytes=16_781_352, arena_bytes=16_448,
    ...            input_bytes=4096, output_bytes=10)
    Traceback (most recent call last):
    DoesNotFitError: the model does not fit nucleo-f446re: flash needs at least 16,786,472 B ...

The linker decides in the end (build.py turns its overflow into ``DoesNotFitError`` too), but only
after a build that takes minutes for a big model: ``compile --board`` and ``build`` ask here first,
from bytes the compiler already knows. The bound counts only what every firmware certainly
holds, so a model this refuses can never link, and near the edge the linker still decides:

    flash >= weights + engine code + runtime       RAM >= arena + input + output + stack + runtime

The constants are floors under real builds (firmware_template, arm-none-eabi-gcc 13, -Os), measured
with ``mcudeploy build --json`` on the sklearn-digits MLP (2,746 weight bytes) and LeNet-5 (64,028)
for nucleo-f446re, nucleo-f746zg, nucleo-g071rb and the emulated F446RE:
- runtime flash (everything but engine/ objects): 4,504..5,437 B -> 4 KiB;
- engine code (engine/ flash minus the weight bytes): 3,405..8,864 B -> 1 KiB;
- runtime RAM besides the arena, the input/output buffers and the stack: 1,358..1,410 B -> 1 KiB.
"""

from __future__ import annotations

import json
from pathlib import Path

from .boards import Board
from .errors import DoesNotFitError

RUNTIME_FLASH_MIN = 4096
ENGINE_CODE_MIN = 1024
RUNTIME_RAM_MIN = 1024


def check_fits(board: Board, weight_bytes: int, arena_bytes: int, input_bytes: int = 0,
               output_bytes: int = 0) -> None:
    """Raise DoesNotFitError when the model cannot fit ``board``, naming both regions' bytes."""
    flash = weight_bytes + ENGINE_CODE_MIN + RUNTIME_FLASH_MIN
    ram = arena_bytes + input_bytes + output_bytes + board.stack_bytes + RUNTIME_RAM_MIN
    if flash <= board.flash.size and ram <= board.ram.size:
        return
    parts = [
        _region("flash", flash, board.flash.size, board.name,
                f"weights {weight_bytes:,} B + engine code and runtime >= {ENGINE_CODE_MIN + RUNTIME_FLASH_MIN:,} B"),
        _region("RAM", ram, board.ram.size, board.name,
                f"arena {arena_bytes:,} B + input/output {input_bytes + output_bytes:,} B + stack "
                f"{board.stack_bytes:,} B + runtime >= {RUNTIME_RAM_MIN:,} B"),
    ]
    raise DoesNotFitError(f"the model does not fit {board.name}: " + "; ".join(parts)
                          + ". Make it smaller (`mcudeploy compress`, fewer or narrower layers) or choose a "
                          "bigger board (`mcudeploy boards`).")


def _region(name: str, need: int, have: int, board: str, detail: str) -> str:
    if need <= have:
        return f"{name} at least {need:,} of {have:,} B ({detail}), fits"
    return f"{name} needs at least {need:,} B ({detail}) but {board} has {have:,} B (over by {need - have:,} B)"


def check_project_fits(project_dir: str | Path, board: Board) -> None:
    """``check_fits`` from a compiled project's report.json and project.json.

    A figure the project does not record (an older or hand-made project) counts as 0: the
    bound only gets weaker, and the linker still decides.
    """
    project = Path(project_dir)
    report, meta = _read(project / "report.json"), _read(project / "project.json")
    check_fits(board, _int(report, "weight_bytes"), _int(meta, "arena_bytes") or _int(report, "arena_bytes"),
               _int(meta, "input_bytes"), _int(meta, "output_bytes"))


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _int(d: dict, key: str) -> int:
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 0
