"""Plausibility checks of a board file: every key known, every number possible for its core.

    >>> check_keys({"name": "x", "memory": {"flash": {"sizee": 1}}}, Path("x.toml"))
    Traceback (most recent call last):
    BoardError: x.toml: unknown field 'memory.flash.sizee' (did you mean 'memory.flash.size'?); ...

``boards.load_board`` calls ``check_keys`` on the parsed TOML before reading any field, and
``check_plausible`` on the finished ``Board``. A typo'd key would otherwise be ignored (its
default used in silence), and a wrong size or origin would surface as a linker error minutes
later, or not at all (a 93 TB flash links and reports 0 bytes of RAM): here each is one
``BoardError`` naming the file, the field, the value and the range expected.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import BoardError

if TYPE_CHECKING:
    from .boards import Board, Region

_REGION = {"origin": int, "size": int}
# Every key a board file may hold; a dict is a [table]. boards.py reads exactly these.
KNOWN_KEYS: dict = {
    "name": str, "mcu": str, "family": str, "core": str, "fpu": str, "dsp": bool, "clock_hz": int,
    "memory": {"flash": _REGION, "ram": _REGION},
    "uart": {"instance": int, "tx": str, "rx": str, "af": int, "baud": int, "max_baud": int},
    "probe": {"pyocd_target": str, "usb_vid": int, "usb_pid": int, "platformio_board": str},
    "emulator": {"qemu_machine": str, "serial_index": int, "cpuclk_hz": int, "icount_shift": int,
                 "clock_tree": bool, "qemu_version": str, "rx_wfi": bool},
    "firmware": {"stack_bytes": int},
}

KIB, MIB, MHZ = 1024, 1024 * 1024, 1_000_000
FLASH_RANGE = (4 * KIB, 64 * MIB)  # the smallest Cortex-M parts have 4-8 KiB; 64 MiB covers XIP flash
RAM_RANGE = (1 * KIB, 16 * MIB)  # the runtime alone needs ~1.4 KiB besides the stack
# Core clock ceilings with headroom over the fastest parts shipping: Cortex-M0+ RP2040 at 200 MHz,
# M3 at 120 MHz, the M4 of an STM32H7 at 240 MHz, M33 at 250 MHz, the M7 of an i.MX RT1170 at 1 GHz.
CLOCK_MAX = {"cortex-m0": 300 * MHZ, "cortex-m0plus": 300 * MHZ, "cortex-m3": 300 * MHZ,
             "cortex-m4": 600 * MHZ, "cortex-m33": 600 * MHZ, "cortex-m7": 1000 * MHZ}
CLOCK_MIN = 1 * MHZ
ADDRESS_SPACE = 1 << 32
VTOR_ALIGN = 128  # the vector table sits at the flash origin; VTOR ignores its low 7 bits (ARMv6/7/8-M)
STACK_ALIGN = 8  # AAPCS: the stack, placed at the top of RAM, is 8-byte aligned
# Where the ARMv6/7/8-M default memory map forbids execution (flash) or holds no RAM: the
# peripheral region and everything from the device region up (device, PPB, vendor system).
_PERIPHERAL = (0x4000_0000, 0x6000_0000)
_NO_EXEC_FROM = 0xA000_0000
_SYSTEM_FROM = 0xE000_0000
FPUS_OF = {"cortex-m4": ("none", "fpv4-sp-d16"), "cortex-m7": ("none", "fpv5-sp-d16", "fpv5-d16"),
           "cortex-m33": ("none", "fpv5-sp-d16")}


def check_keys(data: dict, path: Path, schema: dict = KNOWN_KEYS, prefix: str = "") -> None:
    """Raise BoardError for the first key not in ``schema``, at any table level.

    The message names the closest known key of the same table (difflib), or the table the key
    belongs in when it is known elsewhere (``stack_bytes`` at the top instead of in [firmware]).
    """
    for key, value in data.items():
        if key not in schema:
            raise BoardError(_unknown(key, schema, path, prefix))
        if isinstance(schema[key], dict) and isinstance(value, dict):
            check_keys(value, path, schema[key], f"{prefix}{key}.")


def _unknown(key: str, schema: dict, path: Path, prefix: str) -> str:
    table = f"[{prefix[:-1]}]" if prefix else "the top level"
    known = ", ".join(schema)
    close = difflib.get_close_matches(key, list(schema), n=1, cutoff=0.6)
    home = [t for t in _tables() if key in _schema_at(t) and t != prefix]
    if close:
        hint = f"did you mean '{prefix}{close[0]}'?"
    elif home:
        hint = f"it belongs in [{home[0][:-1]}]" if home[0] else "it belongs at the top level"
    else:
        hint = "no known field is close"
    return f"{path.name}: unknown field '{prefix}{key}' ({hint}); {table} takes {known}"


def _tables(schema: dict = KNOWN_KEYS, prefix: str = "") -> list[str]:
    out = [prefix]
    for k, v in schema.items():
        if isinstance(v, dict):
            out += _tables(v, f"{prefix}{k}.")
    return out


def _schema_at(prefix: str) -> dict:
    s = KNOWN_KEYS
    for part in filter(None, prefix.split(".")):
        s = s[part]
    return s


def check_plausible(b: Board) -> None:
    """Raise BoardError if a number cannot be right for ``b``'s core, or two regions collide."""
    where = b.path.name
    if b.fpu not in FPUS_OF.get(b.core, ("none",)):
        raise BoardError(f"{where}: field 'fpu' is {b.fpu!r}, which a {b.core} does not have; "
                         f"use one of {', '.join(FPUS_OF.get(b.core, ('none',)))}")
    _in_range(where, "clock_hz", b.clock_hz, CLOCK_MIN, CLOCK_MAX[b.core], f"a {b.core} runs at", _mhz)
    if b.emulator is not None:
        _in_range(where, "emulator.cpuclk_hz", b.emulator.cpuclk_hz, CLOCK_MIN, CLOCK_MAX[b.core],
                  f"a {b.core} runs at", _mhz)
    _region(where, "flash", b.flash, FLASH_RANGE, VTOR_ALIGN)
    _region(where, "ram", b.ram, RAM_RANGE, STACK_ALIGN)
    f_end, r_end = b.flash.origin + b.flash.size, b.ram.origin + b.ram.size
    if b.flash.origin < r_end and b.ram.origin < f_end:
        raise BoardError(f"{where}: memory.flash ({b.flash.origin:#010x}..{f_end - 1:#010x}) and memory.ram "
                         f"({b.ram.origin:#010x}..{r_end - 1:#010x}) overlap; fix an origin or a size")
    if f_end > _PERIPHERAL[0] and b.flash.origin < _PERIPHERAL[1] or f_end > _NO_EXEC_FROM:
        raise BoardError(f"{where}: memory.flash {b.flash.origin:#010x}..{f_end - 1:#010x} reaches a region "
                         "a Cortex-M cannot execute from (0x40000000..0x5fffffff, 0xa0000000 and up); "
                         "flash usually starts at 0x00000000, 0x08000000 or 0x10000000")
    if r_end > _PERIPHERAL[0] and b.ram.origin < _PERIPHERAL[1] or r_end > _SYSTEM_FROM:
        raise BoardError(f"{where}: memory.ram {b.ram.origin:#010x}..{r_end - 1:#010x} reaches the peripheral "
                         "or system region (0x40000000..0x5fffffff, 0xe0000000 and up); RAM usually starts "
                         "at 0x20000000")
    if b.stack_bytes % STACK_ALIGN or b.stack_bytes > b.ram.size // 2:
        raise BoardError(f"{where}: field 'firmware.stack_bytes' is {b.stack_bytes:,}; expected a multiple of "
                         f"{STACK_ALIGN} and at most half the RAM ({b.ram.size // 2:,} B)")
    _baud(where, b)


def _region(where: str, name: str, r: Region, limits: tuple[int, int], align: int) -> None:
    field = f"memory.{name}"
    _in_range(where, f"{field}.size", r.size, *limits, f"a Cortex-M's {name} is", _bytes)
    if r.origin % align:
        raise BoardError(f"{where}: field '{field}.origin' is {r.origin:#x}; expected a multiple of {align} "
                         f"(e.g. {r.origin - r.origin % align:#x})")
    if r.origin + r.size > ADDRESS_SPACE:
        raise BoardError(f"{where}: memory.{name} {r.origin:#010x} + {r.size:,} B ends at "
                         f"{r.origin + r.size:#x}, past the 32-bit address space (0x1_0000_0000); "
                         "fix its origin or size")


def _in_range(where: str, field: str, value: int, lo: int, hi: int, what: str,
              fmt: Callable[[int], str]) -> None:
    if not lo <= value <= hi:
        raise BoardError(f"{where}: field '{field}' is {value:,} ({fmt(value)}); {what} {fmt(lo)}..{fmt(hi)}")


def _baud(where: str, b: Board) -> None:
    from .boards import STANDARD_BAUDS

    u = b.uart
    if u.baud not in STANDARD_BAUDS or u.baud > u.max_baud:
        raise BoardError(f"{where}: field 'uart.baud' is {u.baud:,}; expected a standard rate up to "
                         f"max_baud {u.max_baud:,} ({', '.join(f'{r:,}' for r in STANDARD_BAUDS)})")
    # a USART samples each bit 16 times (8 at best) from a clock no faster than the core's
    if u.max_baud * 8 > b.clock_hz:
        raise BoardError(f"{where}: field 'uart.max_baud' is {u.max_baud:,} baud but the core clock "
                         f"{_mhz(b.clock_hz)} cannot drive more than {b.clock_hz // 8:,} baud (clock / 8)")


def _mhz(hz: int) -> str:
    return f"{hz / MHZ:g} MHz"


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", MIB), ("KiB", KIB)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} B"
