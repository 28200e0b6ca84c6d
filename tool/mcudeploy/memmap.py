"""Where the firmware's flash and RAM go, from the linker map: the memory map of the reports.

Usage::

    mm = memory_map(build_result, layer_names, arena_bytes, stack_peak)
    mm["flash"]["weights_by_layer"][0]    # {"layer": "conv1", "bytes": 456}
    mm["ram"]["rows"]                     # [{"part": "activation arena", "bytes": 7,200, ...}, ...]

The engine is compiled with -ffunction-sections -fdata-sections, so each constant array of
``weights.c`` is an input section of its own named after the array (``.rodata.mcd_<layer>_<key>``):
the map says what every layer's weights cost once linked (alignment included), not what the
compiler was asked for. Categories: flash = code (engine kernels and model.c, firmware, C
library), weights by layer, layer records (model.c's constant parameter structs and name table);
RAM = the activation arena, the I/O buffers, the rest of the firmware's state, the stack (reserved
and its measured peak).
"""

from __future__ import annotations

import re
from pathlib import Path

from .codegen.emit import c_ident

_ROW = re.compile(r"^ (\.\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)$")


def map_sections(mapfile: Path) -> list[tuple[str, int, int, str]]:
    """(input section, address, size, object) of every linked input section of ``mapfile``."""
    rows, started, pending = [], False, None
    for line in Path(mapfile).read_text(errors="replace").splitlines():
        if not started:
            started = line.startswith("Linker script and memory map")
            continue
        m = _ROW.match(line)
        if not m:
            pending = line.strip() if re.match(r"^ \.\S+$", line) else None
            continue
        name, pending = m.group(1) or pending, None
        size = int(m.group(3), 16)
        if name is None or size == 0 or m.group(4).startswith("0x"):
            continue
        rows.append((name, int(m.group(2), 16), size, m.group(4)))
    return rows


def _owner(obj: str) -> str:
    if "/engine/" in obj:
        return "engine"
    if "/src/" in obj or "/board/" in obj:
        return "firmware"
    return "library"


def memory_map(build, layer_names: list[str], arena_bytes: int, stack_peak: int | None) -> dict:
    """The flash and RAM breakdown of a build (``build.BuildResult``); empty without a map file."""
    if not getattr(build, "map", None) or not Path(build.map).is_file():
        return {}  # no linker map (a board reached by URL with no local build, a test's stand-in)
    flash_lo, ram_lo = _region(build)
    idents = {c_ident(n): n for n in layer_names}
    weights = {n: 0 for n in layer_names}
    code = {"engine": 0, "firmware": 0, "library": 0}
    records = other_const = 0
    ram = {"arena": 0, "io": 0, "firmware": 0, "library": 0, "engine": 0}
    for name, addr, size, obj in map_sections(build.map):
        owner = _owner(obj)
        if flash_lo(addr):
            if name.startswith(".text"):
                code[owner] += size
            elif obj.endswith("weights.c.obj") and name.startswith(".rodata.mcd_"):
                layer = _layer_of(name[len(".rodata.mcd_"):], idents)
                if layer:
                    weights[layer] += size
                else:
                    other_const += size
            elif owner == "engine":
                records += size
            else:
                other_const += size
        elif ram_lo(addr):
            if name.startswith(".data"):
                other_const += size  # its initial values sit in flash too
            if name.endswith("mcd_arena_words"):
                ram["arena"] += size
            elif owner == "firmware" and name.rsplit(".", 1)[-1] in ("input", "output"):
                ram["io"] += size
            else:
                ram[owner] += size
    flash_rows = [
        {"part": "code: engine (kernels, model.c)", "bytes": code["engine"]},
        {"part": "code: firmware (protocol, UART, counter, startup)", "bytes": code["firmware"]},
        {"part": "code: C library and compiler runtime", "bytes": code["library"]},
        {"part": "weights (all layers, see below)", "bytes": sum(weights.values())},
        {"part": "layer records (parameter structs, layer names)", "bytes": records},
        {"part": "other constants, vectors, .data initial values", "bytes": other_const},
    ]
    ram_rows = [
        {"part": "activation arena (planned by liveness)", "bytes": ram["arena"]},
        {"part": "input and output buffers", "bytes": ram["io"]},
        {"part": "firmware state (frames, link, tap)", "bytes": ram["firmware"] + ram["engine"]},
        {"part": "C library", "bytes": ram["library"]},
        {"part": "stack (reserved minimum)", "bytes": build.stack_reserved},
    ]
    return {
        "flash": {"rows": flash_rows, "total_linked": build.flash_bytes, "limit": build.flash_limit,
                  "weights_by_layer": [{"layer": n, "bytes": b} for n, b in weights.items()]},
        "ram": {"rows": ram_rows, "total_linked": build.ram_bytes, "limit": build.ram_limit,
                "arena_planned": arena_bytes, "stack_peak": stack_peak},
        "source": "linker map (input sections), " + Path(build.map).name,
    }


def _layer_of(rest: str, idents: dict[str, str]) -> str | None:
    """The layer whose identifier prefixes ``rest`` (``conv1_weight`` -> conv1); the longest wins."""
    best = None
    for ident, name in idents.items():
        if rest.startswith(ident + "_") and (best is None or len(ident) > len(best[0])):
            best = (ident, name)
    return best[1] if best else None


def _region(build):
    from .boards import load_board

    b = load_board(build.board)
    return (lambda a: b.flash.origin <= a < b.flash.origin + b.flash.size,
            lambda a: b.ram.origin <= a < b.ram.origin + b.ram.size)
