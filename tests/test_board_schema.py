"""Board files checked strictly: unknown keys, types, and numbers a core cannot have are one
BoardError (exit 2 from the CLI, before anything is built), and the shipped boards pass."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from mcd_cli import run_cli
from mcudeploy.boards import list_boards, load_board
from mcudeploy.cli import cli
from mcudeploy.errors import BoardError
from mcudeploy.paths import BOARDS
from test_boards import _variant  # a shipped board file with one line changed


def test_shipped_boards_pass_the_strict_checks():
    for name in list_boards():
        load_board(name)
        load_board(BOARDS / f"{name}.toml")  # the same file given as a path


@pytest.mark.parametrize("old, new, message", [
    ("size = 524_288", "size = 524_288\nsizee = 1", (r"unknown field 'memory.flash.sizee' \(did you mean "
                                                    r"'memory.flash.size'\?\); \[memory.flash\] takes origin, size")),
    ("baud = 115_200", "baud = 115_200\nbaudrate = 921_600", (r"unknown field 'uart.baudrate' \(did you mean "
                                                             r"'uart.baud'\?\)")),
    ('mcu = "STM32F446RE"', 'mcu = "STM32F446RE"\nclock_mhz = 180', (r"unknown field 'clock_mhz' \(did you mean "
                                                                   r"'clock_hz'\?\); the top level takes name")),
    ('mcu = "STM32F446RE"', 'mcu = "STM32F446RE"\nstack_bytes = 8192',
     r"unknown field 'stack_bytes' \(it belongs in \[firmware\]\)"),
    ("[probe]", "[probe]\nwhatever = 1", r"unknown field 'probe.whatever' \(no known field is close\)"),
    ("[emulator]", "[emulater]\nx = 1\n[emulator]", r"unknown field 'emulater' \(did you mean 'emulator'\?\)"),
])
def test_unknown_keys_are_named_with_the_closest_known_key(tmp_path, old, new, message):
    with pytest.raises(BoardError, match=r"^nucleo-f446re.toml: " + message):
        load_board(_variant(tmp_path, old, new))


@pytest.mark.parametrize("old, new, message", [
    # sizes for the core
    ("size = 524_288", "size = 99_999_999_999_996", (r"field 'memory.flash.size' is 99,999,999,999,996 "
                                                    r"\(93132.3 GiB\); a Cortex-M's flash is 4 KiB..64 MiB")),
    ("size = 524_288", "size = 2048", r"'memory.flash.size' is 2,048 \(2 KiB\)"),
    ("size = 131_072", "size = 32 * 1024 * 1024", "not valid TOML"),
    ("size = 131_072", "size = 33_554_432", (r"'memory.ram.size' is 33,554,432 \(32 MiB\); a Cortex-M's ram is "
                                            r"1 KiB..16 MiB")),
    ("size = 131_072", "size = 131_072.0", r"'memory.ram.size' must be int, got 131072.0"),
    # origins: aligned, inside 32 bits, executable, not overlapping
    ("origin = 0x08000000", "origin = 0xFFFFFF00", (r"memory.flash 0xffffff00 \+ 524,288 B ends at 0x10007ff00, "
                                                   r"past the 32-bit address space")),
    ("origin = 0x08000000", "origin = 0x08000004", (r"'memory.flash.origin' is 0x8000004; expected a multiple "
                                                   r"of 128 \(e.g. 0x8000000\)")),
    ("origin = 0x20000000", "origin = 0x20000004", r"'memory.ram.origin' is 0x20000004; expected a multiple of 8"),
    ("origin = 0x20000000", "origin = 0x08040000", (r"memory.flash \(0x08000000..0x0807ffff\) and memory.ram "
                                                   r"\(0x08040000..0x0805ffff\) overlap")),
    ("origin = 0x08000000", "origin = 0x40000000", "a region a Cortex-M cannot execute from"),
    ("origin = 0x20000000", "origin = 0xE0000000", "reaches the peripheral or system region"),
    # clocks for the core
    ("clock_hz = 180_000_000", "clock_hz = 1_800_000_000", (r"field 'clock_hz' is 1,800,000,000 \(1800 MHz\); "
                                                           r"a cortex-m4 runs at 1 MHz..600 MHz")),
    ("clock_hz = 180_000_000", "clock_hz = 32_768", r"field 'clock_hz' must be >= 1000000"),
    ("cpuclk_hz = 168_000_000", "cpuclk_hz = 168", r"'emulator.cpuclk_hz' is 168 \(0.000168 MHz\)"),
    # baud
    ("baud = 115_200", "baud = 115_000", r"'uart.baud' is 115,000; expected a standard rate up to max_baud"),
    ("baud = 115_200", "baud = 115_200\nmax_baud = 57_600", (r"'uart.baud' is 115,200; expected a standard rate "
                                                            r"up to max_baud 57,600")),
    # the rest
    ('fpu = "fpv4-sp-d16"', 'fpu = "fpv5-d16"', r"field 'fpu' is 'fpv5-d16', which a cortex-m4 does not have"),
    ("usb_vid = 0x0483", "usb_vid = 0x10483", r"'probe.usb_vid' must be <= 65535"),
    ("[emulator]", "[firmware]\nstack_bytes = 100_000\n[emulator]", (r"'firmware.stack_bytes' is 100,000; "
                                                                   r"expected a multiple of 8 and at most half")),
    ("[emulator]", "[firmware]\nstack_bytes = 4100\n[emulator]", r"'firmware.stack_bytes' is 4,100"),
])
def test_impossible_numbers_are_refused(tmp_path, old, new, message):
    with pytest.raises(BoardError, match=r"^nucleo-f446re.toml: .*" + message):
        load_board(_variant(tmp_path, old, new))


def test_m0plus_clock_and_baud_limits(tmp_path):
    with pytest.raises(BoardError, match=r"a cortex-m0plus runs at 1 MHz..300 MHz"):
        load_board(_variant(tmp_path, "clock_hz = 64_000_000", "clock_hz = 480_000_000", "nucleo-g071rb"))
    slow = _variant(tmp_path, "clock_hz = 64_000_000", "clock_hz = 8_000_000", "nucleo-g071rb")
    slow.write_text(slow.read_text().replace("baud = 115_200", "baud = 115_200\nmax_baud = 2_000_000"))
    with pytest.raises(BoardError, match=r"'uart.max_baud' is 2,000,000 baud but the core clock 8 MHz cannot "
                                         r"drive more than 1,000,000 baud"):
        load_board(slow)


def test_missing_board_file_path(tmp_path):
    with pytest.raises(BoardError, match=r"board file '.*nope.toml' does not exist"):
        load_board(tmp_path / "nope.toml")


@pytest.mark.parametrize("argv", [["boards", "{f}"], ["build", "{p}", "--board", "{f}"],
                                  ["flash", "{p}", "--board", "{f}", "--emulate"],
                                  ["validate", "{p}", "--board", "{f}", "--emulate", "--data", "digits"]])
def test_every_command_refuses_a_bad_board_in_one_line(tmp_path, monkeypatch, capsys, argv, digits_project):
    """`boards`, `build`, `flash` and `validate` stop at the board file: one line, exit 2, nothing built."""
    bad = _variant(tmp_path, "size = 524_288", "size = 524_288\nsizee = 1")
    project = digits_project
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    code, out, err = run_cli(capsys, [a.format(f=bad, p=project) for a in argv])
    assert code == 2, (out, err)
    assert err.splitlines() == [("error: nucleo-f446re.toml: unknown field 'memory.flash.sizee' (did you mean "
                                "'memory.flash.size'?); [memory.flash] takes origin, size")]
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before


def test_boards_command_checks_a_users_file(tmp_path):
    good = tmp_path / "my-board.toml"
    good.write_text((BOARDS / "nucleo-g071rb.toml").read_text().replace('"nucleo-g071rb"', '"my-board"'))
    res = CliRunner().invoke(cli, ["boards", str(good)])
    assert res.exit_code == 0, res.output
    assert "my-board" in res.output and "nucleo-f446re" not in res.output
