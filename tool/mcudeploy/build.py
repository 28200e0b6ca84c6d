"""Build the firmware for one board: template + generated engine -> ELF, sizes checked.

    >>> from mcudeploy.build import build
    >>> r = build("out/lenet", "nucleo-f446re", emulate=True)
    >>> r.elf, r.flash_bytes, r.ram_bytes, r.flash_limit
    (PosixPath('out/lenet/firmware/nucleo-f446re/build-emu/firmware.elf'), 61234, 23456, 524288)

``PROJECT/firmware/<board>/`` is a self-contained CMake project (a copy of firmware_template/ with
the project's engine/ and a generated board.cmake), so it can be rebuilt or debugged by hand.
Silicon and emulator builds share those sources and differ only in their build folder
(``build/`` or ``build-emu/``, the latter configured with ``-DMCD_EMULATED=ON``).

The model must fit before anything runs: a model that clearly cannot fit (fit.py's lower bound
from the project's report) is refused before any file is written or CMake runs; near the edge
the linker script, which sizes every region to the board, fails on overflow, and that failure is
turned into ``DoesNotFitError`` naming bytes needed vs the limit per region. Calling ``build``
again is cheap: files are only rewritten when they changed, so CMake rebuilds nothing when
nothing changed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import paths, pio, progress
from .boards import Board, load_board
from .errors import BoardError, BuildError, DoesNotFitError
from .fit import check_project_fits

TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-objcopy", "cmake")
_OVERFLOW = re.compile(r"region [`'](\w+)' overflowed by (\d+) bytes")


@dataclass
class BuildResult:
    board: str
    emulated: bool
    elf: Path
    bin: Path
    map: Path
    flash_bytes: int  # everything stored in flash: code, constants, weights, .data's initial values
    ram_bytes: int  # static RAM: .data + .bss (arena, buffers) + the reserved minimum stack
    flash_limit: int
    ram_limit: int
    stack_reserved: int
    sections: dict[str, int] = field(default_factory=dict)  # section -> bytes
    engine: dict[str, int] = field(default_factory=dict)  # engine objects: flash / ram bytes

    def to_json(self) -> dict:
        d = asdict(self)
        for k in ("elf", "bin", "map"):
            d[k] = str(d[k])
        return d


def missing_tools() -> list[str]:
    """The build tools not on PATH (empty when the toolchain is installed)."""
    return [t for t in TOOLS if shutil.which(t) is None]


def firmware_dir(project_dir: str | Path, board: str | Board) -> Path:
    name = board.name if isinstance(board, Board) else board
    return Path(project_dir) / "firmware" / name


def build_dir(project_dir: str | Path, board: str | Board, emulate: bool, protocol: str = "mcd") -> Path:
    name = ("build-emu" if emulate else "build") + ("" if protocol == "mcd" else f"-{protocol}")
    return firmware_dir(project_dir, board) / name


def build(project_dir: str | Path, board: str | Board, emulate: bool = False, jobs: int = 2,
          verbose: bool = False, protocol: str = "mcd", options: dict[str, str] | None = None) -> BuildResult:
    """Prepare ``PROJECT/firmware/<board>/``, configure and build it, check the sizes.

    ``protocol`` "mlperf" builds the MLPerf Tiny text-protocol firmware (src/mlperf_protocol.h)
    into its own folder (``build-mlperf``, ``build-emu-mlperf``); ``options`` are further CMake
    cache variables (e.g. ``MCD_MLPERF_MODEL``), applied at every configure."""
    b = board if isinstance(board, Board) else load_board(board)
    if emulate and b.emulator is None:
        raise BoardError(f"board {b.name} has no [emulator] section: it cannot be emulated")
    check_project_fits(project_dir, b)  # seconds, where a too-big model's build takes minutes
    missing = missing_tools()
    if missing:
        raise BuildError(f"missing build tools: {', '.join(missing)} (on Debian/Ubuntu: apt-get install "
                         "gcc-arm-none-eabi libnewlib-arm-none-eabi cmake)")
    src = prepare(project_dir, b)
    out = build_dir(project_dir, b, emulate, protocol)
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    defs = [f"-D{k}={v}" for k, v in {"MCD_PROTOCOL": protocol, **(options or {})}.items()]
    with progress.task(f"build the firmware for {b.name}{' (emulated)' if emulate else ''} (cmake)"):
        if not (out / "CMakeCache.txt").is_file() or options:
            _run(["cmake", "-S", str(src), "-B", str(out), *generator,
                  f"-DMCD_EMULATED={'ON' if emulate else 'OFF'}", *defs], b, verbose)
        _run(["cmake", "--build", str(out), "-j", str(jobs)], b, verbose)
    result = measure(out / "firmware.elf", b, emulate)
    (out / "build.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    check_fits(result)
    return result


def prepare(project_dir: str | Path, board: Board) -> Path:
    """Sync template, engine and board files into ``PROJECT/firmware/<board>/``; return it."""
    project = Path(project_dir)
    engine = project / "engine"
    if not (engine / "model.h").is_file():
        raise BuildError(f"{project} has no engine/model.h: run `mcudeploy compile` first")
    dest = firmware_dir(project, board)
    t = paths.FIRMWARE_TEMPLATE
    files = {Path("CMakeLists.txt"): t / "CMakeLists.txt"}
    vendor = f"board/{pio.family_setting(board.family, 'MCD_VENDOR')}"  # the vendor's shared drivers
    for sub in ("cmake", "src", "board/common", vendor, f"board/{board.family}"):
        for f in sorted((t / sub).rglob("*")):
            if f.is_file():
                files[f.relative_to(t)] = f
    for f in sorted(engine.iterdir()):
        if f.is_file() and f.suffix in (".c", ".h"):
            files[Path("engine") / f.name] = f
    for rel, f in files.items():
        _write_if_changed(dest / rel, f.read_bytes())
    for stale in (dest / "engine").iterdir():  # an engine file the new model no longer has
        if Path("engine") / stale.name not in files:
            stale.unlink()
    _write_if_changed(dest / "board.cmake", _board_cmake(board).encode())
    if pio.supported(board):  # emulated-only boards (MPS2) have no PlatformIO platform
        pio.write(dest, board, _board_vars(board), _write_if_changed)
    return dest


def measure(elf: Path, board: Board, emulated: bool) -> BuildResult:
    """Sizes of a linked ELF from ``arm-none-eabi-size -A`` and its map file."""
    out = subprocess.run(["arm-none-eabi-size", "-A", "-d", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    sections: dict[str, int] = {}
    flash = ram = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 3 or not parts[0].startswith(".") or not parts[1].isdigit():
            continue
        name, size, addr = parts[0], int(parts[1]), int(parts[2])
        if size == 0:
            continue
        if _inside(addr, board.flash.origin, board.flash.size):
            flash += size
            sections[name] = size
        elif _inside(addr, board.ram.origin, board.ram.size):
            ram += size
            sections[name] = size
            if name == ".data":  # its initial values are stored in flash too
                flash += size
    mapfile = elf.with_name("firmware.map")
    return BuildResult(board=board.name, emulated=emulated, elf=elf, bin=elf.with_name("firmware.bin"),
                       map=mapfile, flash_bytes=flash, ram_bytes=ram, flash_limit=board.flash.size,
                       ram_limit=board.ram.size, stack_reserved=board.stack_bytes, sections=sections,
                       engine=_engine_sizes(mapfile, board))


def check_fits(r: BuildResult) -> None:
    """Raise DoesNotFitError if a region is over its limit (the linker should have already)."""
    over = [(n, used, lim) for n, used, lim in (("FLASH", r.flash_bytes, r.flash_limit),
                                                ("RAM", r.ram_bytes, r.ram_limit)) if used > lim]
    if over:
        raise DoesNotFitError(_fit_message(r.board, over, r.stack_reserved))


def _fit_message(board: str, over: list[tuple[str, int, int]], stack: int) -> str:
    parts = [f"{n} needs {used:,} bytes but {board} has {lim:,} (over by {used - lim:,})"
             for n, used, lim in over]
    return (f"the firmware does not fit {board}: " + "; ".join(parts)
            + f". RAM includes the {stack:,}-byte minimum stack. Make the model smaller "
            "(compress, prune) or pick a bigger board.")


def _run(cmd: list[str], board: Board, verbose: bool) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    text = proc.stdout + proc.stderr
    if verbose:
        print(text)
    if proc.returncode != 0:
        over = [(m.group(1).upper(), int(m.group(2))) for m in _OVERFLOW.finditer(text)]
        if over:
            limits = {"FLASH": board.flash.size, "RAM": board.ram.size}
            raise DoesNotFitError(_fit_message(
                board.name, [(n, limits[n] + extra, limits[n]) for n, extra in dict(over).items()],
                board.stack_bytes))
        tail = "\n".join(text.strip().splitlines()[-25:])
        raise BuildError(f"firmware build failed for {board.name} ({' '.join(cmd[:2])}):\n{tail}")
    return text


def _inside(addr: int, origin: int, size: int) -> bool:
    return origin <= addr < origin + size


def _engine_sizes(mapfile: Path, board: Board) -> dict[str, int]:
    """Bytes of flash and RAM that come from engine/ objects, from the linker map.

    Input-section lines look like `` .rodata.w1  0x08001234  0x120 CMakeFiles/.../engine/weights.c.obj``
    (the name may stand alone on the line before when long); only lines after the "Linker script
    and memory map" heading count, the ones before list discarded sections.
    """
    if not mapfile.is_file():
        return {}
    sizes = {"flash": 0, "ram": 0}
    started, pending = False, None
    row = re.compile(r"^ (\.\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)$")
    for line in mapfile.read_text(errors="replace").splitlines():
        if not started:
            started = line.startswith("Linker script and memory map")
            continue
        m = row.match(line)
        if not m:
            pending = line.strip() if re.match(r"^ \.\S+$", line) else None
            continue
        name = m.group(1) or pending
        pending = None
        if "/engine/" not in m.group(4) or name is None:
            continue
        addr, size = int(m.group(2), 16), int(m.group(3), 16)
        if _inside(addr, board.flash.origin, board.flash.size):
            sizes["flash"] += size
        elif _inside(addr, board.ram.origin, board.ram.size):
            sizes["ram"] += size
            if name.startswith(".data"):
                sizes["flash"] += size
    return sizes


def _write_if_changed(path: Path, data: bytes) -> None:
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _board_vars(b: Board) -> dict[str, object]:
    """The board's TOML as the MCD_* variables CMakeLists.txt (and the linker script) read."""
    v: dict[str, object] = {
        "MCD_BOARD_NAME": b.name, "MCD_FAMILY": b.family, "MCD_CORE": b.core, "MCD_FPU": b.fpu,
        "MCD_DSP": "ON" if b.dsp else "OFF", "MCD_CLOCK_HZ": b.clock_hz,
        "MCD_FLASH_ORIGIN": hex(b.flash.origin), "MCD_FLASH_SIZE": b.flash.size,
        "MCD_RAM_ORIGIN": hex(b.ram.origin), "MCD_RAM_SIZE": b.ram.size,
        "MCD_STACK_BYTES": b.stack_bytes, "MCD_UART_INSTANCE": b.uart.instance,
        "MCD_UART_TX_PORT": b.uart.tx.port, "MCD_UART_TX_PIN": b.uart.tx.pin,
        "MCD_UART_RX_PORT": b.uart.rx.port, "MCD_UART_RX_PIN": b.uart.rx.pin,
        "MCD_UART_AF": b.uart.af, "MCD_UART_BAUD": b.uart.baud,
    }
    if b.emulator is not None:
        v["MCD_EMU_CPUCLK_HZ"] = b.emulator.cpuclk_hz
        v["MCD_EMU_ICOUNT_SHIFT"] = b.emulator.icount_shift
        v["MCD_EMU_CLOCK_TREE"] = "ON" if b.emulator.clock_tree else "OFF"
        v["MCD_EMU_RX_WFI"] = "ON" if b.emulator.rx_wfi else "OFF"
    return v


def _board_cmake(b: Board) -> str:
    """board.cmake: the board's TOML as CMake variables (read by CMakeLists.txt)."""
    v = _board_vars(b)
    lines = [f"# Generated by mcudeploy from {b.path.name}; edit the board file, not this.\n"]
    lines += [f'set({k} "{val}")\n' for k, val in v.items()]
    return "".join(lines)
