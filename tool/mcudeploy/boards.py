"""Boards are data: load and validate ``boards/<name>.toml``.

    >>> from mcudeploy.boards import list_boards, load_board
    >>> b = load_board("nucleo-f446re")
    >>> b.core, b.clock_hz, b.flash.size, b.emulator.qemu_machine
    ('cortex-m4', 180000000, 524288, 'netduinoplus2')

A board file is checked field by field when it is loaded, so a typo surfaces as one
``BoardError`` naming the file and the field, not as a compiler or QEMU error much later:
unknown keys (with the closest known one), types, and whether sizes, origins, clocks and the baud
rate are possible for the core (board_checks.py). ``load_board`` takes a name under ``boards/``
or the path of the user's own ``.toml``.
Which compiler flags a core needs is decided by the firmware's CMakeLists.txt, from these fields.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from . import paths
from .board_checks import check_keys, check_plausible
from .errors import BoardError
from .families import Family, Pin, family_for

CORES = ("cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33")
FPUS = ("none", "fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16")
_NO_DSP = ("cortex-m0", "cortex-m0plus", "cortex-m3")


@dataclass(frozen=True)
class Region:
    origin: int
    size: int


@dataclass(frozen=True)
class Uart:
    instance: int
    tx: Pin
    rx: Pin
    af: int
    baud: int
    max_baud: int = 921_600  # the fastest rate the board's UART path is trusted with (TOML: max_baud)


# Rates a host serial port and the STM32 USART both divide into within 1% at the boards' clocks
STANDARD_BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000, 2000000)


@dataclass(frozen=True)
class Probe:
    pyocd_target: str
    usb_vid: int
    usb_pid: int
    platformio_board: str | None = None


@dataclass(frozen=True)
class Emulator:
    qemu_machine: str
    serial_index: int
    cpuclk_hz: int
    icount_shift: int
    clock_tree: bool = False    # QEMU models the machine's clock controller: the firmware waits on it
    qemu_version: str = "7.2"   # the oldest QEMU whose machine runs this board
    rx_wfi: bool = False        # the firmware sleeps (WFI) for UART input: QEMU runs -icount sleep=on


@dataclass(frozen=True)
class Board:
    name: str
    mcu: str
    family: str
    core: str
    fpu: str
    dsp: bool
    clock_hz: int
    flash: Region
    ram: Region
    uart: Uart
    probe: Probe | None  # None: an emulated-only board (no debug probe to flash it with)
    emulator: Emulator | None
    stack_bytes: int
    path: Path

    @property
    def counter(self) -> str:
        """What the firmware counts on silicon (the emulated build counts instructions)."""
        return "systick_cycles" if self.core in ("cortex-m0", "cortex-m0plus") else "dwt_cycles"


def with_baud(board: Board, baud: int | None) -> Board:
    """``board`` with its UART at ``baud`` (``--baud``): the firmware is rebuilt for that rate."""
    if baud is None or baud == board.uart.baud:
        return board
    if baud not in STANDARD_BAUDS:
        raise BoardError(f"--baud {baud}: use a standard rate ({', '.join(map(str, STANDARD_BAUDS))})")
    if baud > board.uart.max_baud:
        raise BoardError(f"--baud {baud}: {board.name} allows at most {board.uart.max_baud} "
                         f"([uart] max_baud in {board.path.name})")
    return replace(board, uart=replace(board.uart, baud=baud))


def list_boards() -> list[str]:
    """Names of the boards under ``boards/``, sorted."""
    return sorted(p.stem for p in paths.BOARDS.glob("*.toml"))


def load_board(name_or_path: str | Path) -> Board:
    """Load a board by name (``nucleo-f446re``) or by the path of a TOML file."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = paths.BOARDS / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(list_boards()) or "none"
        if Path(name_or_path).suffix == ".toml":
            raise BoardError(f"board file '{name_or_path}' does not exist; give a board file's path or a known "
                             f"board ({known})")
        raise BoardError(f"no board '{name_or_path}' (known boards: {known})")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise BoardError(f"{path.name}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardError(f"{path}: cannot read the board file: {exc}") from None
    check_keys(data, path)
    board = _parse(data, path)
    check_plausible(board)
    return board


class _Fields:
    """Typed access to one table of the TOML, with errors that name file and field."""

    def __init__(self, data: dict, path: Path, prefix: str = ""):
        self.data, self.path, self.prefix = data, path, prefix

    def error(self, key: str, msg: str) -> BoardError:
        return BoardError(f"{self.path.name}: field '{self.prefix}{key}' {msg}")

    def get(self, key: str, kind: type, *, choices=None, default=..., minimum=None, maximum=None):
        if key not in self.data:
            if default is ...:
                raise self.error(key, "is missing")
            return default
        value = self.data[key]
        # bool is a subclass of int: reject True where a number is expected and vice versa
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(key, f"must be {kind.__name__}, got {value!r}")
        if choices is not None and value not in choices:
            raise self.error(key, f"must be one of {', '.join(map(str, choices))}; got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be >= {minimum}, got {value!r}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be <= {maximum}, got {value!r}")
        return value

    def table(self, key: str, optional: bool = False) -> _Fields | None:
        if key not in self.data:
            if optional:
                return None
            raise self.error(key, "is missing (a [table])")
        value = self.data[key]
        if not isinstance(value, dict):
            raise self.error(key, "must be a [table]")
        return _Fields(value, self.path, f"{self.prefix}{key}.")

    def pin(self, key: str, family: Family) -> Pin:
        """A UART pin in the family's syntax; families whose UART pins are fixed need none."""
        if not family.pins_required and key not in self.data:
            return Pin(0, 0, "-")
        pin = family.parse_pin(self.get(key, str))
        if pin is None:
            raise self.error(key, f"must name a {family.name} pin like '{family.pin_example}', "
                                  f"got {self.data[key]!r}")
        return pin


def _region(f: _Fields, key: str) -> Region:
    t = f.table(key)
    origin, size = t.get("origin", int, minimum=0), t.get("size", int, minimum=1)
    if origin % 4 or size % 4:
        raise t.error("size", "and origin must be multiples of 4")
    return Region(origin, size)


def _parse(data: dict, path: Path) -> Board:
    f = _Fields(data, path)
    name = f.get("name", str)
    if name != path.stem:
        raise f.error("name", f"is {name!r} but the file is {path.name}")
    family = f.get("family", str)
    if not (paths.FIRMWARE_TEMPLATE / "board" / family / "port.c").is_file():
        raise f.error("family", f"{family!r} has no firmware_template/board/{family}/port.c")
    fam = family_for(family)
    if fam is None:
        raise f.error("family", f"{family!r} is served by no module in tool/mcudeploy/families/ "
                                "(add its folder to one; see docs/adding-a-board.md)")
    core = f.get("core", str, choices=CORES)
    fpu = f.get("fpu", str, choices=FPUS)
    dsp = f.get("dsp", bool)
    if dsp and core in _NO_DSP:
        raise f.error("dsp", f"cannot be true for {core}, which has no DSP extension")
    if fpu != "none" and core in _NO_DSP:
        raise f.error("fpu", f"must be 'none' for {core}")

    mem = f.table("memory")
    u = f.table("uart")
    uart = Uart(u.get("instance", int, minimum=0, maximum=16), u.pin("tx", fam), u.pin("rx", fam),
                u.get("af", int, choices=range(16), default=0), u.get("baud", int, minimum=1200),
                u.get("max_baud", int, choices=STANDARD_BAUDS, default=921_600))
    p = f.table("probe", optional=True)
    probe = None if p is None else Probe(
        p.get("pyocd_target", str), p.get("usb_vid", int, minimum=0, maximum=0xFFFF),
        p.get("usb_pid", int, minimum=0, maximum=0xFFFF), p.get("platformio_board", str, default=None))
    if probe is None and f.table("emulator", optional=True) is None:
        raise f.error("probe", "is missing (a [probe] table); only a board with an [emulator] may omit it")
    e = f.table("emulator", optional=True)
    emulator = None
    if e is not None:
        emulator = Emulator(e.get("qemu_machine", str), e.get("serial_index", int, minimum=1, maximum=8),
                            e.get("cpuclk_hz", int, minimum=1),
                            e.get("icount_shift", int, choices=range(11)),
                            e.get("clock_tree", bool, default=False), e.get("qemu_version", str, default="7.2"),
                            e.get("rx_wfi", bool, default=False))
    fw = f.table("firmware", optional=True)
    stack = fw.get("stack_bytes", int, minimum=256) if fw else 4096
    return Board(name=name, mcu=f.get("mcu", str), family=family, core=core, fpu=fpu, dsp=dsp,
                 clock_hz=f.get("clock_hz", int, minimum=1_000_000), flash=_region(mem, "flash"),
                 ram=_region(mem, "ram"), uart=uart, probe=probe, emulator=emulator,
                 stack_bytes=stack, path=path)
