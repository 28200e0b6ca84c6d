"""Board files, the generated board.cmake, and the two targets at their boundaries
(the QEMU command line; pyOCD replaced by a fake at its API)."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from mcudeploy import build as build_mod
from mcudeploy.boards import list_boards, load_board
from mcudeploy.errors import BoardError, TargetError
from mcudeploy.paths import BOARDS
from mcudeploy.target import PyocdTarget, QemuTarget, open_target
from mcudeploy.target import pyocd as pyocd_mod
from mcudeploy.target.qemu import qemu_command


def test_all_boards_load():
    names = list_boards()
    assert {"nucleo-f446re", "nucleo-f746zg", "nucleo-g071rb"} <= set(names)
    cores = {load_board(n).core for n in names}
    assert {"cortex-m4", "cortex-m7", "cortex-m0plus"} <= cores


def test_f446re_facts():
    b = load_board("nucleo-f446re")
    assert (b.mcu, b.core, b.fpu, b.dsp, b.clock_hz) == ("STM32F446RE", "cortex-m4", "fpv4-sp-d16", True, 180_000_000)
    assert (b.flash.origin, b.flash.size, b.ram.origin, b.ram.size) == (0x08000000, 512 * 1024, 0x20000000, 128 * 1024)
    assert (b.uart.instance, b.uart.tx.name, b.uart.rx.name, b.uart.af) == (2, "PA2", "PA3", 7)
    assert (b.probe.usb_vid, b.probe.usb_pid) == (0x0483, 0x374B)
    assert b.emulator.qemu_machine == "netduinoplus2" and b.emulator.serial_index == 2
    assert b.counter == "dwt_cycles" and load_board("nucleo-g071rb").counter == "systick_cycles"


def _variant(tmp_path: Path, old: str, new: str, name: str = "nucleo-f446re") -> Path:
    text = (BOARDS / f"{name}.toml").read_text()
    assert old in text, old
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old, new, field", [
    ('core = "cortex-m4"', 'core = "cortex-m5"', "core"),
    ("clock_hz = 180_000_000", 'clock_hz = "fast"', "clock_hz"),
    ("dsp = true", "dsp = 1", "dsp"),
    ('tx = "PA2"', 'tx = "A2"', "uart.tx"),
    ("size = 524_288", "size = -4", "memory.flash.size"),
    ("af = 7", "af = 16", "uart.af"),
    ('family = "stm32f4"', 'family = "stm32h9"', "family"),
    ('pyocd_target = "stm32f446retx"', "", "probe.pyocd_target"),
    ('qemu_machine = "netduinoplus2"', "", "emulator.qemu_machine"),
])
def test_bad_field_is_named(tmp_path, old, new, field):
    with pytest.raises(BoardError, match=rf"nucleo-f446re.toml: field '{field}'"):
        load_board(_variant(tmp_path, old, new))


def test_dsp_and_fpu_need_a_core_that_has_them(tmp_path):
    with pytest.raises(BoardError, match="'dsp' cannot be true for cortex-m0plus"):
        load_board(_variant(tmp_path, "dsp = false", "dsp = true", "nucleo-g071rb"))
    with pytest.raises(BoardError, match="'fpu' must be 'none'"):
        load_board(_variant(tmp_path, 'fpu = "none"', 'fpu = "fpv4-sp-d16"', "nucleo-g071rb"))


def test_unknown_board_and_broken_toml(tmp_path):
    with pytest.raises(BoardError, match="no board 'nucleo-x'.*nucleo-f446re"):
        load_board("nucleo-x")
    bad = tmp_path / "broken.toml"
    bad.write_text("name = ")
    with pytest.raises(BoardError, match="broken.toml: not valid TOML"):
        load_board(bad)
    renamed = tmp_path / "other.toml"
    renamed.write_text((BOARDS / "nucleo-f446re.toml").read_text())
    with pytest.raises(BoardError, match="'name' is 'nucleo-f446re' but the file is other.toml"):
        load_board(renamed)


def test_board_cmake_carries_every_number():
    text = build_mod._board_cmake(load_board("nucleo-f446re"))
    for needle in ['MCD_CORE "cortex-m4"', 'MCD_FPU "fpv4-sp-d16"', 'MCD_DSP "ON"', 'MCD_CLOCK_HZ "180000000"',
                   'MCD_FLASH_ORIGIN "0x8000000"', 'MCD_RAM_SIZE "131072"', 'MCD_UART_INSTANCE "2"',
                   'MCD_UART_TX_PORT "0"', 'MCD_UART_TX_PIN "2"', 'MCD_EMU_CPUCLK_HZ "168000000"']:
        assert needle in text
    assert "MCD_EMU" not in build_mod._board_cmake(load_board("nucleo-g071rb"))


def test_qemu_command_routes_the_board_usart_to_the_socket():
    b = load_board("nucleo-f446re")
    cmd = qemu_command(b, Path("fw.elf"), 4321)
    assert cmd[cmd.index("-M") + 1] == "netduinoplus2"
    serials = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-serial"]
    assert serials == ["null", "tcp:127.0.0.1:4321,server=on,wait=off,nodelay=on"]  # USART1, USART2
    assert cmd[cmd.index("-icount") + 1] == f"shift={b.emulator.icount_shift},align=off,sleep=off"
    assert cmd[-2:] == ["-kernel", "fw.elf"]


def test_boards_without_emulator_cannot_be_emulated():
    with pytest.raises(TargetError, match="cannot be emulated"):
        QemuTarget(load_board("nucleo-f746zg"))
    assert isinstance(open_target(load_board("nucleo-f746zg"), emulate=False), PyocdTarget)


# --- pyOCD, faked at its API ----------------------------------------------------------------------
class FakeSession:
    def __init__(self, log):
        self.log = log
        self.probe = types.SimpleNamespace(unique_id="066DFF123")
        self.target = types.SimpleNamespace(reset=lambda: log.append("reset"))

    def open(self):
        self.log.append("open")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.log.append("close")


def _fake_pyocd(monkeypatch, session_factory):
    log = []

    class ConnectHelper:
        @staticmethod
        def session_with_chosen_probe(**kw):
            log.append(("connect", kw["target_override"], kw["unique_id"]))
            return session_factory(log)

    class FileProgrammer:
        def __init__(self, session):
            self.session = session

        def program(self, path):
            log.append(("program", Path(path).name))

    monkeypatch.setattr(pyocd_mod, "_pyocd", lambda: (ConnectHelper, FileProgrammer))
    return log


def test_pyocd_flashes_then_resets(monkeypatch):
    log = _fake_pyocd(monkeypatch, FakeSession)
    t = PyocdTarget(load_board("nucleo-f446re"))
    t.start(Path("/x/firmware.elf"))
    assert log == [("connect", "stm32f446retx", None), "open", ("program", "firmware.elf"), "reset", "close"]
    assert t.probe_id == "066DFF123"


def test_no_probe_suggests_emulate(monkeypatch):
    _fake_pyocd(monkeypatch, lambda log: None)
    with pytest.raises(TargetError, match="no debug probe .*0483:374b.*--emulate"):
        PyocdTarget(load_board("nucleo-f446re")).start(Path("fw.elf"))


def test_uart_port_is_found_by_usb_id(monkeypatch):
    ports = [types.SimpleNamespace(device="/dev/ttyUSB0", vid=0x0403, pid=0x6001, serial_number="FT1"),
             types.SimpleNamespace(device="/dev/ttyACM0", vid=0x0483, pid=0x374B, serial_number="066DFF123"),
             types.SimpleNamespace(device="/dev/ttyACM1", vid=0x0483, pid=0x374B, serial_number="OTHER")]
    monkeypatch.setattr(pyocd_mod, "_comports", lambda: ports)
    b = load_board("nucleo-f446re")
    assert PyocdTarget(b, probe_id="066DFF123").uart_url == "/dev/ttyACM0"
    assert PyocdTarget(b, port="/dev/ttyS3").uart_url == "/dev/ttyS3"
    with pytest.raises(TargetError, match="several candidate ports"):
        _ = PyocdTarget(b).uart_url
    monkeypatch.setattr(pyocd_mod, "_comports", lambda: ports[:1])
    with pytest.raises(TargetError, match="--port"):
        _ = PyocdTarget(b).uart_url


def test_boards_command_lists_every_board():
    from click.testing import CliRunner
    from mcudeploy.cli import cli

    out = CliRunner().invoke(cli, ["boards"])
    assert out.exit_code == 0, out.output
    for name in list_boards():
        assert name in out.output
    assert "netduinoplus2" in out.output and "clock (MHz)" in out.output
