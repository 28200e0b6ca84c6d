"""Resource budgets: ``ram=24KB,flash=96KB,cycles=2M`` parsed once at the edge, or what a board leaves.

    >>> parse_budget("ram=24KB,cycles=2M")
    Budget(ram=24576, flash=None, cycles=2000000)
    >>> board_budget(load_board("nucleo-f446re"), runtime)   # RAM/flash the firmware leaves the model

What each figure bounds (and what the check after the build compares it with):

* ``ram``: the activation arena in bytes (the memory planner's peak; the firmware's ``mcd_arena``
  in the link map). The input/output buffers, stack and runtime are the board's, not the model's.
* ``flash``: the engine's flash in bytes: weights, requantization records and the kernel code
  (the ``engine/`` objects of the link map).
* ``cycles``: estimated Cortex-M4 cycles of one inference (``bench``'s timing model).

Bytes take B, KB/KiB (1024), MB/MiB; cycles take K, M, G (powers of 1000). One-line errors name the
item that was wrong and show a valid example.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import McdError

RESOURCES = ("ram", "flash", "cycles")
_BYTES = {"": 1, "b": 1, "kb": 1024, "kib": 1024, "k": 1024, "mb": 1 << 20, "mib": 1 << 20, "m": 1 << 20}
_COUNT = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
_ITEM = re.compile(r"^\s*([a-zA-Z]+)\s*=\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")
EXAMPLE = "e.g. --budget ram=24KB,flash=96KB,cycles=2M"


class BudgetError(McdError):
    """A --budget string or a board budget that cannot be used."""


@dataclass(frozen=True)
class Budget:
    ram: int | None = None
    flash: int | None = None
    cycles: int | None = None

    def items(self) -> dict[str, int]:
        """The resources that are bounded, name -> limit."""
        return {k: v for k in RESOURCES if (v := getattr(self, k)) is not None}

    def label(self) -> str:
        """A short name for file names and plots: ``ram=24576,cycles=2000000``."""
        return ",".join(f"{k}={v}" for k, v in self.items().items()) or "none"


def parse_value(name: str, text: str) -> int:
    """One value of resource ``name`` with its unit; raises BudgetError with one line."""
    m = _ITEM.match(f"{name}={text}")
    units = _COUNT if name == "cycles" else _BYTES
    if not m or m.group(3).lower() not in units:
        kind = "a count with K, M or G" if name == "cycles" else "bytes with B, KB or MB"
        raise BudgetError(f"budget {name}='{text}': expected {kind} ({EXAMPLE})")
    v = float(m.group(2)) * units[m.group(3).lower()]
    if not math.isfinite(v) or v < 1:
        raise BudgetError(f"budget {name}='{text}': must be at least 1 ({EXAMPLE})")
    return int(v)


def parse_budget(text: str) -> Budget:
    """``ram=24KB,flash=96KB,cycles=2M`` (any non-empty subset, each resource once) -> Budget."""
    if text is None or not str(text).strip():
        raise BudgetError(f"budget is empty: name at least one of ram, flash, cycles ({EXAMPLE})")
    got: dict[str, int] = {}
    for item in str(text).split(","):
        name, sep, val = item.partition("=")
        name = name.strip().lower()
        if not sep:
            raise BudgetError(f"budget item '{item.strip()}': expected NAME=VALUE ({EXAMPLE})")
        if name not in RESOURCES:
            raise BudgetError(f"budget item '{item.strip()}': unknown resource '{name}', expected one of "
                              f"ram, flash, cycles ({EXAMPLE})")
        if name in got:
            raise BudgetError(f"budget names '{name}' twice in '{text}': give each resource once ({EXAMPLE})")
        got[name] = parse_value(name, val.strip())
    return Budget(**got)


def board_budget(board, runtime_ram: int, runtime_flash: int, base: Budget | None = None) -> Budget:
    """The RAM and flash ``board`` leaves the model: its sizes minus the firmware's own share.

    ``runtime_ram``: RAM that is not the arena (stack, input/output buffers, link buffers, .data);
    ``runtime_flash``: flash that is not engine/ objects (startup, UART, protocol); both measured
    from the link map of a build (``measure.runtime_share``). A figure in ``base`` wins where it is
    tighter (a user's --budget ram=... together with --board)."""
    ram, flash = board.ram.size - runtime_ram, board.flash.size - runtime_flash
    if ram <= 0 or flash <= 0:
        raise BudgetError(f"board {board.name} leaves no room for a model: RAM {ram:,} B, flash {flash:,} B "
                          "after the firmware's own; choose a bigger board")
    base = base or Budget()
    pick = (lambda a, b: b if a is None else min(a, b))
    return Budget(ram=pick(base.ram, ram), flash=pick(base.flash, flash), cycles=base.cycles)
