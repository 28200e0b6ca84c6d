"""The PlatformIO view of ``PROJECT/firmware/<board>/``: platformio.ini, its linker script and its
link-flag script, derived from the same board data as the CMake build.

Why its own module: `mcudeploy build` uses CMake, so nothing exercises the PlatformIO project
unless it is correct by construction. Every choice CMakeLists.txt makes for a silicon build with
the mcd protocol (sources, -mcpu/-mfpu/-mfloat-abi, defines, warnings, link options, the linker
script's memory) is made here from the same inputs, and tests/test_platformio.py checks the
result against CMake's own compile_commands.json and link line.

PlatformIO puts ``build_flags`` on the compiler only (its flag parser sends -m options to
CCFLAGS), so the link-side flags go through a generated ``extra_scripts`` file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import jinja2

from . import paths
from .boards import Board
from .errors import BuildError
from .families import family_for

# The mcd protocol's firmware, as CMakeLists.txt lists it (MCD_PROTOCOL=mcd); src/mlperf_protocol.c
# holds the other `main` and is left out, as CMake leaves it out.
PROTOCOL_SRC = ("src/main.c", "src/protocol.c", "src/frame.c", "src/run.c")
COMPILE_FLAGS = ("-O3", "-std=gnu99", "-ffunction-sections", "-fdata-sections", "-fno-common", "-Wall", "-Wextra")
LINK_FLAGS = ("-O3", "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections",
              "-Wl,--print-memory-usage")
LINKER_SCRIPT = "linker.ld"
LINK_SCRIPT = "platformio_link.py"


def cpu_flags(b: Board) -> list[str]:
    """-mcpu/-mthumb/-mfpu/-mfloat-abi, as CMakeLists.txt's MCD_CPU_FLAGS."""
    fpu = ["-mfloat-abi=soft"] if b.fpu == "none" else [f"-mfpu={b.fpu}", "-mfloat-abi=hard"]
    return [f"-mcpu={b.core}", "-mthumb", *fpu]


def defines(b: Board) -> list[str]:
    """The -D options of a silicon build, in CMake's spelling (strings quoted for a shell)."""
    u = b.uart
    d = ["MCD_LAYER_HOOK", f"MCD_BOARD_NAME='\"{b.name}\"'", f"MCD_CLOCK_HZ={b.clock_hz}u",
         f"MCD_UART_INSTANCE={u.instance}", f"MCD_UART_TX_PORT={u.tx.port}u", f"MCD_UART_TX_PIN={u.tx.pin}u",
         f"MCD_UART_RX_PORT={u.rx.port}u", f"MCD_UART_RX_PIN={u.rx.pin}u", f"MCD_UART_AF={u.af}u",
         f"MCD_UART_BAUD={u.baud}u"]
    if not b.dsp:
        d.append("MCD_NO_DSP")
    return [f"-D{x}" for x in d]


def family_setting(family: str, name: str) -> str:
    """A ``set(NAME value)`` of the family's family.cmake (MCD_VENDOR, MCD_UART_IP): one source for
    CMake and this module."""
    f = paths.FIRMWARE_TEMPLATE / "board" / family / "family.cmake"
    m = re.search(rf"^\s*set\(\s*{name}\s+(\w+)\s*\)", f.read_text(), re.MULTILINE) if f.is_file() else None
    if not m:
        raise BuildError(f"{f} sets no {name}: expected a line `set({name} ...)` (see docs/adding-a-board.md)")
    return m.group(1)


def uart_ip(family: str) -> str:
    """The family's UART driver: board/<MCD_VENDOR>/<MCD_UART_IP>.c, as family.cmake names it."""
    return f"board/{family_setting(family, 'MCD_VENDOR')}/{family_setting(family, 'MCD_UART_IP')}.c"


def sources(b: Board) -> list[str]:
    """The translation units of a silicon build, as CMakeLists.txt's add_executable lists them."""
    counter = "counter_systick.c" if b.counter == "systick_cycles" else "counter_dwt.c"
    return [*PROTOCOL_SRC, "src/stack.c", uart_ip(b.family), f"src/{counter}",
            "board/common/startup.c", f"board/{b.family}/port.c"]


def src_filter(b: Board) -> str:
    """build_src_filter: exactly the CMake sources plus engine/*.c (nothing by wildcard in src/)."""
    return " ".join(f"+<{s}>" for s in [*sources(b), "engine/*.c"])


def linker_script(b: Board, variables: dict[str, object]) -> str:
    """The board's linker.ld, filled in as CMake's configure_file(@ONLY) fills it."""
    t = paths.FIRMWARE_TEMPLATE / "board" / b.family / "linker.ld.in"
    if not t.is_file():
        t = paths.FIRMWARE_TEMPLATE / "board" / "common" / "linker.ld.in"
    text = t.read_text()
    missing = sorted(set(re.findall(r"@(\w+)@", text)) - set(variables))
    if missing:
        raise BuildError(f"{t} uses {', '.join(missing)}, which board.cmake does not set: add them to _board_vars")
    return re.sub(r"@(\w+)@", lambda m: str(variables[m.group(1)]), text)


def supported(b: Board) -> bool:
    """True if PlatformIO can build ``b``: its family names a platform and it has a probe."""
    fam = family_for(b.family)
    return fam is not None and fam.platformio_platform is not None and b.probe is not None


def write(dest: Path, b: Board, variables: dict[str, object], put: Callable[[Path, bytes], None]) -> None:
    """platformio.ini, linker.ld and the link-flag script into ``dest`` (through ``put``)."""
    fam = family_for(b.family)
    if not supported(b):
        raise BuildError(f"board {b.name} has no PlatformIO platform (family {b.family}) or no [probe]: "
                         "build it with `mcudeploy build` (CMake) instead")
    t = paths.FIRMWARE_TEMPLATE / "platformio.ini.j2"
    ini = jinja2.Template(t.read_text(), keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    put(dest / "platformio.ini", ini.render(
        board=b, platform=fam.platformio_platform, upload_protocol=fam.upload_protocol, src_filter=src_filter(b),
        vendor=family_setting(b.family, "MCD_VENDOR"), build_flags=[*COMPILE_FLAGS, *cpu_flags(b), *defines(b)],
        ldscript=LINKER_SCRIPT, link_script=LINK_SCRIPT).encode())
    put(dest / LINKER_SCRIPT, linker_script(b, variables).encode())
    link = [*cpu_flags(b), *LINK_FLAGS]
    put(dest / LINK_SCRIPT, (
        f'"""Generated by mcudeploy for {b.name}: the link flags CMake passes (PlatformIO\'s build_flags\n'
        'reach the compiler only). The linker script comes from board_build.ldscript."""\n'
        'Import("env")\n'
        f"env.Append(LINKFLAGS={link!r})\n").encode())
