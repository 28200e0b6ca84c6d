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


# --- pyOCD, faked at its API boundary -----------------------------------------------------------
# PyocdTarget reaches pyOCD only through `_pyocd()`: list_probes(unique_id=None), Session(probe,
# auto_open=False, options=...) with open()/close()/target, FileProgrammer(session, chip_erase=,
# smart_flash=).program(path), and the exception classes. The fake below is that namespace, with a
# target that has the STM32's id and option-byte registers and a flash that programming writes.
class FakeError(RuntimeError):  # pyocd.core.exceptions.Error
    pass


class FakeProbeError(FakeError):  # pyOCD's hierarchy: ProbeError and TransferError are siblings
    pass


class FakeTransferError(FakeError):  # pyOCD: TransferError < DebugError < TargetError < Error
    pass


class FakeTargetSupportError(FakeError):
    pass


F446 = load_board("nucleo-f446re")
IDCODE, OPTCR = 0xE0042000, 0x40023C14


class FakeTarget:
    def __init__(self, pyocd):
        self.pyocd = pyocd

    def read32(self, addr):
        self.pyocd.log.append(("read32", addr))
        value = self.pyocd.regs[addr]
        if isinstance(value, Exception):
            raise value
        return value

    def read_memory_block8(self, addr, n):
        self.pyocd.log.append(("read", addr, n))
        off = addr - F446.flash.origin
        return list(self.pyocd.flash[off:off + n])

    def reset(self):
        self.pyocd.log.append("reset")


class FakePyocd:
    """A probe attached to a NUCLEO-F446RE: ``regs`` are what DBGMCU_IDCODE and FLASH_OPTCR read,
    ``open_error`` what Session.open raises, ``corrupt`` a flash offset programming gets wrong."""

    def __init__(self, probes=("066DFF123",), dev_id=0x421, rdp=0xAA, open_error=None, corrupt=None,
                 short_read=False):
        self.log = []
        self.probes = [types.SimpleNamespace(unique_id=u, description="STM32 STLink") for u in probes]
        # DEV_ID in bits 11:0 (REV_ID above it); RDP in OPTCR bits 15:8, other option bits set
        self.regs = {IDCODE: (0x1000 << 16) | dev_id, OPTCR: 0x0FFF0000 | (rdp << 8) | 0xED}
        self.flash = bytearray(b"\xff" * F446.flash.size)
        self.open_error, self.corrupt, self.short_read = open_error, corrupt, short_read
        fake = self

        class Session:
            def __init__(self, probe, auto_open=True, options=None):
                assert auto_open is False  # the target opens it, inside its error handling
                fake.log.append(("session", probe.unique_id, dict(options)))
                self.target = FakeTarget(fake)

            def open(self):
                fake.log.append("open")
                if fake.open_error is not None:
                    raise fake.open_error

            def close(self):
                fake.log.append("close")

        class FileProgrammer:
            def __init__(self, session, chip_erase=None, smart_flash=None):
                self.session, self.options = session, (chip_erase, smart_flash)

            def program(self, path):
                fake.log.append(("program", Path(path).name, *self.options))
                image = bytearray(Path(path).with_name("firmware.bin").read_bytes())
                if fake.corrupt is not None:
                    image[fake.corrupt] ^= 0x10
                fake.flash[:len(image)] = image
                if fake.short_read:
                    del fake.flash[len(image) - 3:]

        def list_probes(unique_id=None):  # pyOCD matches the id as a case-insensitive substring
            fake.log.append(("list_probes", unique_id))
            return [p for p in fake.probes if unique_id is None or unique_id.lower() in p.unique_id.lower()]

        self.api = types.SimpleNamespace(
            list_probes=list_probes, Session=Session, FileProgrammer=FileProgrammer,
            exceptions=types.SimpleNamespace(Error=FakeError, ProbeError=FakeProbeError,
                                             TransferError=FakeTransferError,
                                             TargetSupportError=FakeTargetSupportError))

    def steps(self):
        """The log without the probe listing (the order of what was done to the board)."""
        return [e for e in self.log if not (isinstance(e, tuple) and e[0] == "list_probes")]


def _fake_pyocd(monkeypatch, **kw) -> FakePyocd:
    fake = FakePyocd(**kw)
    monkeypatch.setattr(pyocd_mod, "_pyocd", lambda: fake.api)
    return fake


@pytest.fixture
def firmware(tmp_path):
    """An ELF path with the raw image the build writes beside it."""
    elf = tmp_path / "firmware.elf"
    elf.write_bytes(b"\x7fELF not read by the fake")
    (tmp_path / "firmware.bin").write_bytes(bytes((i * 7 + 3) & 0xFF for i in range(3000)))
    return elf


def test_real_pyocd_api_has_the_shape_the_fake_mimics():
    """The fake is only worth something if pyOCD's real entry points take the same arguments."""
    import inspect

    pytest.importorskip("pyocd")
    api = pyocd_mod._pyocd()
    assert callable(api.list_probes)
    assert {"probe", "auto_open", "options"} <= set(inspect.signature(api.Session.__init__).parameters)
    assert callable(api.Session.open) and callable(api.Session.close)
    assert {"session", "chip_erase", "smart_flash"} <= set(inspect.signature(api.FileProgrammer.__init__).parameters)
    assert callable(api.FileProgrammer.program)
    ex = api.exceptions
    for name in ("ProbeError", "TransferError", "TargetSupportError"):  # the fake's hierarchy is pyOCD's
        ours = globals()[f"Fake{name}"]
        assert issubclass(getattr(ex, name), ex.Error) and issubclass(ours, FakeError)
    assert not issubclass(ex.TransferError, ex.ProbeError) and not issubclass(FakeTransferError, FakeProbeError)


def test_pyocd_happy_path_order(monkeypatch, firmware):
    fake = _fake_pyocd(monkeypatch)
    t = PyocdTarget(F446)
    t.start(firmware)
    assert fake.steps() == [
        ("session", "066DFF123", {"target_override": "stm32f446retx"}), "open",
        ("read32", IDCODE),                      # the MCU is the board's
        ("read32", OPTCR),                       # and not read-protected
        ("program", "firmware.elf", "auto", True),
        ("read", F446.flash.origin, 3000),       # verify against firmware.bin
        "reset", "close"]
    assert fake.log[0] == ("list_probes", None)
    assert t.probe_id == "066DFF123"  # the only probe, remembered for the port and later resets
    assert bytes(fake.flash[:3000]) == (firmware.parent / "firmware.bin").read_bytes()


def test_no_probe_suggests_emulate(monkeypatch, firmware):
    fake = _fake_pyocd(monkeypatch, probes=())
    with pytest.raises(TargetError, match=r"no debug probe \(USB 0483:374b\) found for nucleo-f446re.*--emulate"):
        PyocdTarget(F446).start(firmware)
    assert fake.steps() == []


def test_probe_listing_failure_is_explained(monkeypatch, firmware):
    fake = _fake_pyocd(monkeypatch)

    def broken(unique_id=None):
        raise FakeProbeError("No backend available")

    fake.api.list_probes = broken
    with pytest.raises(TargetError, match="cannot list debug probes: No backend available.*udev.*--emulate"):
        PyocdTarget(F446).start(firmware)


def test_several_probes_and_none_chosen_lists_their_ids(monkeypatch, firmware):
    fake = _fake_pyocd(monkeypatch, probes=("066DFF123", "0670FF456"))
    with pytest.raises(TargetError, match=r"2 debug probes attached: choose one with --probe UID "
                                          r"\(066DFF123 \(STM32 STLink\), 0670FF456 \(STM32 STLink\)\)"):
        PyocdTarget(F446).start(firmware)
    assert fake.steps() == []  # nothing opened, nothing flashed


def test_probe_option_chooses_one_of_several(monkeypatch, firmware):
    fake = _fake_pyocd(monkeypatch, probes=("066DFF123", "0670FF456"))
    t = PyocdTarget(F446, probe_id="0670FF456")
    t.start(firmware)
    assert fake.log[0] == ("list_probes", "0670FF456")
    assert fake.steps()[0] == ("session", "0670FF456", {"target_override": "stm32f446retx"})
    assert "reset" in fake.log


def test_probe_option_exact_id_wins_over_substring_matches(monkeypatch, firmware):
    fake = _fake_pyocd(monkeypatch, probes=("066DFF123", "066DFF1234"))
    PyocdTarget(F446, probe_id="066DFF123").start(firmware)
    assert fake.steps()[0][1] == "066DFF123"


def test_unknown_probe_id_is_named(monkeypatch, firmware):
    _fake_pyocd(monkeypatch, probes=("066DFF123",))
    with pytest.raises(TargetError, match="no probe NOPE found for nucleo-f446re.*mcudeploy devices.*--emulate"):
        PyocdTarget(F446, probe_id="NOPE").start(firmware)


def assert_not_flashed_and_closed(fake) -> None:
    assert not any(isinstance(e, tuple) and e[0] == "program" for e in fake.log)
    assert fake.log[-1] == "close"


def test_wrong_mcu_is_refused_before_flashing(monkeypatch, firmware):
    fake = _fake_pyocd(monkeypatch, dev_id=0x449)  # an F74x/F75x behind the probe
    with pytest.raises(TargetError, match=r"device id 0x449 \(an STM32F74\.\.\.\), not the STM32F446RE of "
                                          r"nucleo-f446re \(0x421\).*--board / --probe"):
        PyocdTarget(F446).start(firmware)
    assert_not_flashed_and_closed(fake)


def test_unknown_device_id_is_refused_too(monkeypatch, firmware):
    _fake_pyocd(monkeypatch, dev_id=0x123)
    with pytest.raises(TargetError, match=r"device id 0x123, not the STM32F446RE"):
        PyocdTarget(F446).start(firmware)


@pytest.mark.parametrize("rdp, level", [(0xBB, 1), (0x00, 1), (0xCC, 2)])
def test_read_protected_chip_is_refused_before_flashing(monkeypatch, firmware, rdp, level):
    fake = _fake_pyocd(monkeypatch, rdp=rdp)
    with pytest.raises(TargetError, match=rf"nucleo-f446re's STM32F446RE is locked: read protection is at "
                                          rf"level {level} \(RDP byte {rdp:#04x}\).*mass-erases.*RDP=0xAA"):
        PyocdTarget(F446).start(firmware)
    assert_not_flashed_and_closed(fake)


def test_unreadable_option_bytes_are_reported_as_locked(monkeypatch, firmware):
    fake = _fake_pyocd(monkeypatch)
    fake.regs[OPTCR] = FakeTransferError("memory transfer fault @ 0x40023c14")
    with pytest.raises(TargetError, match="is locked: its option bytes cannot be read .*transfer fault"):
        PyocdTarget(F446).start(firmware)


def test_level2_protection_shows_as_a_refused_connection(monkeypatch, firmware):
    """At RDP level 2 the debug port is disabled for good: the session cannot even open."""
    fake = _fake_pyocd(monkeypatch, open_error=FakeTransferError("No ACK received"))
    with pytest.raises(TargetError, match=r"the probe does not reach nucleo-f446re's MCU \(No ACK received\)"
                                          r".*powered.*read protection level 2"):
        PyocdTarget(F446).start(firmware)
    assert fake.steps() == [("session", "066DFF123", {"target_override": "stm32f446retx"}), "open", "close"]


def test_missing_target_pack_says_how_to_install_it(monkeypatch, firmware):
    _fake_pyocd(monkeypatch, open_error=FakeTargetSupportError("Target type stm32f446retx not recognized"))
    with pytest.raises(TargetError, match=r"pyOCD does not know target 'stm32f446retx': install its pack once "
                                          r"with `pyocd pack install stm32f446re`"):
        PyocdTarget(F446).start(firmware)


def test_other_connection_errors_keep_pyocds_message(monkeypatch, firmware):
    _fake_pyocd(monkeypatch, open_error=FakeError("unexpected DP IDR"))
    with pytest.raises(TargetError, match="cannot connect to nucleo-f446re through pyOCD: unexpected DP IDR"):
        PyocdTarget(F446).start(firmware)


def test_verify_failure_names_the_first_bad_address(monkeypatch, firmware):
    fake = _fake_pyocd(monkeypatch, corrupt=1234)
    want = (firmware.parent / "firmware.bin").read_bytes()[1234]
    with pytest.raises(TargetError, match=rf"verify failed: flash at 0x080004d2 reads {want ^ 0x10:#04x}, "
                                          rf"the image has {want:#04x}.*pyocd erase --chip"):
        PyocdTarget(F446).start(firmware)
    assert "reset" not in fake.log and fake.log[-1] == "close"  # a bad image is not started


def test_verify_failure_on_a_short_read_back(monkeypatch, firmware):
    _fake_pyocd(monkeypatch, short_read=True)
    with pytest.raises(TargetError, match="verify failed: reading 3000 bytes of flash back gave 2997"):
        PyocdTarget(F446).start(firmware)


def test_flashing_errors_are_wrapped(monkeypatch, firmware):
    fake = _fake_pyocd(monkeypatch)

    class Failing(fake.api.FileProgrammer):
        def program(self, path):
            raise FakeTransferError("flash algo timed out")

    fake.api.FileProgrammer = Failing
    with pytest.raises(TargetError, match="flashing nucleo-f446re failed: flash algo timed out"):
        PyocdTarget(F446).start(firmware)


def test_no_image_to_verify_against_is_refused_before_flashing(monkeypatch, tmp_path):
    fake = _fake_pyocd(monkeypatch)
    elf = tmp_path / "firmware.elf"
    elf.write_bytes(b"\x7fELF")
    with pytest.raises(TargetError, match="firmware.bin is missing.*build again"):
        PyocdTarget(F446).start(elf)
    assert fake.log == []


def test_reset_opens_its_own_session(monkeypatch):
    fake = _fake_pyocd(monkeypatch)
    PyocdTarget(F446, probe_id="066DFF123").reset()
    assert fake.steps() == [("session", "066DFF123", {"target_override": "stm32f446retx"}), "open", "reset",
                            "close"]


def test_frequency_is_passed_as_a_session_option(monkeypatch, firmware):
    fake = _fake_pyocd(monkeypatch)
    PyocdTarget(F446, frequency=4_000_000).start(firmware)
    assert fake.steps()[0][2] == {"target_override": "stm32f446retx", "frequency": 4_000_000}


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


# --- discovery: probes (pyOCD) and serial ports (pyserial), matched to boards by USB id ----------
def _port(device, vid, pid, serial_number, description="STM32 STLink - ST-Link VCP Data"):
    return types.SimpleNamespace(device=device, vid=vid, pid=pid, serial_number=serial_number,
                                 description=description)


def _probe(uid, board_info=None):
    probe = types.SimpleNamespace(unique_id=uid, description="STM32 STLink")
    if board_info is not None:
        probe.associated_board_info = types.SimpleNamespace(name=board_info[0], target=board_info[1])
    return probe


def _fake_discovery(monkeypatch, ports, probes):
    from mcudeploy.target import discover as discover_mod

    def list_probes(unique_id=None):
        if isinstance(probes, Exception):
            raise probes
        print("pyOCD chatter that must not reach the user")
        return probes

    monkeypatch.setattr(pyocd_mod, "_comports", lambda: ports)
    monkeypatch.setattr(pyocd_mod, "_pyocd", lambda: types.SimpleNamespace(list_probes=list_probes))
    return discover_mod


def test_ports_are_matched_to_boards_by_usb_id(monkeypatch):
    d = _fake_discovery(monkeypatch, [
        _port("/dev/ttyUSB0", 0x0403, 0x6001, "FT1", "FT232R USB UART"),
        _port("/dev/ttyS0", None, None, None, "n/a"),
        _port("/dev/ttyACM0", 0x0483, 0x374B, "0670FF999")], [])
    found = d.discover()
    by = {p["device"]: p for p in found["ports"]}
    assert [p["device"] for p in found["ports"]] == ["/dev/ttyACM0", "/dev/ttyS0", "/dev/ttyUSB0"]
    st_link = {n for n in list_boards() if (p := load_board(n).probe) is not None
               and (p.usb_vid, p.usb_pid) == (0x0483, 0x374B)}
    assert set(by["/dev/ttyACM0"]["boards"]) == st_link and "nucleo-f446re" in st_link
    assert by["/dev/ttyACM0"]["usb"] == "0483:374b" and by["/dev/ttyACM0"]["probe"] is None
    assert by["/dev/ttyUSB0"]["boards"] == [] and by["/dev/ttyS0"]["usb"] is None
    assert found["probes"] == [] and found["probe_error"] is None


def test_a_probes_board_id_narrows_its_ports_boards(monkeypatch, capsys):
    d = _fake_discovery(monkeypatch, [_port("/dev/ttyACM0", 0x0483, 0x374B, "066DFF123"),
                                      _port("/dev/ttyACM1", 0x0483, 0x374B, "0672FF777")],
                        [_probe("066DFF123", ("NUCLEO-F446RE", "stm32f446retx")), _probe("0672FF777")])
    found = d.discover()
    assert capsys.readouterr().out == ""  # pyOCD's prints are swallowed
    probes = {p["unique_id"]: p for p in found["probes"]}
    ports = {p["device"]: p for p in found["ports"]}
    assert probes["066DFF123"]["boards"] == ["nucleo-f446re"] and probes["066DFF123"]["port"] == "/dev/ttyACM0"
    assert probes["066DFF123"]["board_name"] == "NUCLEO-F446RE"
    assert ports["/dev/ttyACM0"]["boards"] == ["nucleo-f446re"] and ports["/dev/ttyACM0"]["probe"] == "066DFF123"
    # a probe that names no board (no board id) takes the boards of its virtual COM port
    assert probes["0672FF777"]["port"] == "/dev/ttyACM1"
    assert set(probes["0672FF777"]["boards"]) == set(ports["/dev/ttyACM1"]["boards"]) and \
        len(probes["0672FF777"]["boards"]) > 1


def test_probe_without_a_serial_port(monkeypatch):
    d = _fake_discovery(monkeypatch, [], [_probe("0001", ("NUCLEO-G071RB", "stm32g071rbtx"))])
    found = d.discover()
    assert found["probes"][0]["boards"] == ["nucleo-g071rb"] and found["probes"][0]["port"] is None


def test_pyocd_failure_is_reported_and_ports_still_listed(monkeypatch):
    d = _fake_discovery(monkeypatch, [_port("/dev/ttyACM0", 0x0483, 0x374B, "066DFF123")],
                        RuntimeError("No USB backend found"))
    found = d.discover()
    assert found["probes"] == []
    assert found["probe_error"] == "pyOCD could not list probes: No USB backend found"
    assert found["ports"][0]["device"] == "/dev/ttyACM0" and "nucleo-f446re" in found["ports"][0]["boards"]


# --- detached emulators: what --stop may signal ----------------------------------------------------
def test_stop_without_a_detached_emulator(tmp_path):
    from mcudeploy.target import detached

    assert detached.running(tmp_path, F446) is None
    assert detached.stop_detached(tmp_path, F446) == []  # nothing stopped


def test_stop_never_signals_a_pid_that_is_not_our_qemu(tmp_path):
    """A recorded pid reused by another process (here a `sleep`) is left alone, and the stale record removed."""
    import json
    import subprocess

    from mcudeploy.target import detached

    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        state = detached.state_file(tmp_path, F446)
        state.parent.mkdir(parents=True)
        state.write_text(json.dumps({"pid": sleeper.pid, "url": "socket://127.0.0.1:1", "elf": "/x/firmware.elf"}))
        assert detached.running(tmp_path, F446) is None
        assert detached.stop_detached(tmp_path, F446) == []  # nothing stopped
        assert sleeper.poll() is None and not state.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_boards_command_lists_every_board():
    from click.testing import CliRunner
    from mcudeploy.cli import cli

    out = CliRunner().invoke(cli, ["boards"])
    assert out.exit_code == 0, out.output
    for name in list_boards():
        assert name in out.output
    assert "netduinoplus2" in out.output and "clock (MHz)" in out.output
