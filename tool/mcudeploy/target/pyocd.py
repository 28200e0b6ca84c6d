"""A real board: flash with pyOCD's Python API, talk over the probe's virtual COM port.

    >>> t = PyocdTarget(load_board("nucleo-f446re"), probe_id=None)   # the only probe attached
    >>> t.start(elf)        # choose probe, connect, check MCU + read protection, program, verify, run
    >>> t.uart_url          # '/dev/ttyACM0': the VCP whose USB serial number is the probe's id

pyOCD is used as a library (probe list, ``Session``, ``FileProgrammer``), never through its
command line; everything it is asked goes through ``_pyocd()``, the one seam tests replace with a
fake probe. Each failure a user can meet becomes one ``TargetError`` saying what to do:

* no probe attached, or several and none chosen (``--probe UID``; the ids are listed);
* pyOCD lacking the target's pack (``pyocd pack install ...``);
* the probe connected to an MCU that is not the board's (DBGMCU device id read before flashing:
  flashing an F446 image into another part "succeeds" and then never answers);
* a read-protected chip (e.g. the STM32 RDP option byte: level 1 refuses flash access to the
  debugger, level 2 refuses the debugger entirely, which shows as a failed connection); which
  registers say so is the board family's table (tool/mcudeploy/families/), not this module's;
* a programmed image that does not read back as written (verify).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from types import SimpleNamespace

from ..boards import Board
from ..errors import TargetError
from ..families import DeviceIds, family_for
from .base import Target


def _pyocd() -> SimpleNamespace:
    """pyOCD's entry points, imported late (slow import) and replaced by tests with fakes."""
    try:
        from pyocd.core import exceptions
        from pyocd.core.helpers import ConnectHelper
        from pyocd.core.session import Session
        from pyocd.flash.file_programmer import FileProgrammer
    except ImportError as exc:
        raise TargetError(f"flashing a board needs pyOCD ({exc}): `pip install pyocd`, or run on the "
                          "emulated board with --emulate") from exc

    return SimpleNamespace(list_probes=lambda unique_id=None: ConnectHelper.get_all_connected_probes(
        blocking=False, unique_id=unique_id, print_wait_message=False), Session=Session,
        FileProgrammer=FileProgrammer, exceptions=exceptions)


def _comports():
    from serial.tools import list_ports

    return list_ports.comports()


def device_ids(board: Board) -> DeviceIds | None:
    """The board's MCU in its family's id/protection table (None: no check is possible)."""
    fam = family_for(board.family)
    return fam.ids_of(board.mcu) if fam is not None else None


class PyocdTarget(Target):
    def __init__(self, board: Board, port: str | None = None, probe_id: str | None = None,
                 frequency: int | None = None):
        if board.probe is None:
            raise TargetError(f"board {board.name} has no [probe] in {board.path.name}: it runs only emulated; "
                              "add --emulate")
        self.board, self.port, self.probe_id, self.frequency = board, port, probe_id, frequency
        self._url: str | None = None

    @property
    def uart_url(self) -> str:
        if self._url is None:
            self._url = self.port or self._find_port()
        return self._url

    def start(self, elf: Path) -> None:
        """Program ``elf``, verify it against the image, reset and let it run."""
        api = _pyocd()
        elf = Path(elf)
        image = elf.with_name("firmware.bin")
        if not image.is_file():  # checked before anything is erased: no flashing without verifying
            raise TargetError(f"{image} is missing: the build writes it beside {elf.name} to verify the "
                              "flash against; build again (`mcudeploy build`)")
        with self._session(api) as session:
            target = session.target
            self._check_mcu(api, target)
            self._check_protection(api, target)
            try:
                api.FileProgrammer(session, chip_erase="auto", smart_flash=True).program(str(elf))
            except Exception as exc:  # pyOCD raises many types; all mean the same to the user
                raise TargetError(f"flashing {self.board.name} failed: {exc}") from exc
            self._verify(api, target, image)
            target.reset()  # reset and run (pyOCD resumes unless told to halt)

    def reset(self) -> None:
        with self._session(_pyocd()) as session:
            session.target.reset()

    def stop(self) -> None:
        """Nothing to release: every operation opens and closes its own probe session."""

    def check_probe(self) -> None:
        """Fail early (before building) when no probe, or several and none chosen, is attached."""
        self.choose_probe(_pyocd())

    # --- steps ------------------------------------------------------------------------------
    def choose_probe(self, api):
        """The probe to use: the one with ``probe_id``, or the only one attached."""
        try:
            probes = list(api.list_probes(unique_id=self.probe_id))
        except Exception as exc:  # no libusb, no USB permission (udev rules)
            raise TargetError(f"pyOCD cannot list debug probes: {exc}; check the USB permissions (pyOCD's "
                              "udev rules), or run on the emulated board with --emulate") from exc
        if self.probe_id:
            probes = [p for p in probes if p.unique_id == self.probe_id] or probes
        if not probes:
            vid, pid = self.board.probe.usb_vid, self.board.probe.usb_pid
            which = f"probe {self.probe_id}" if self.probe_id else f"debug probe (USB {vid:04x}:{pid:04x})"
            raise TargetError(f"no {which} found for {self.board.name}: connect the board (and check "
                              "`mcudeploy devices`), or run on the emulated board with --emulate")
        if len(probes) > 1:
            ids = ", ".join(f"{p.unique_id} ({p.description})" for p in probes)
            raise TargetError(f"{len(probes)} debug probes attached: choose one with --probe UID ({ids})")
        return probes[0]

    @contextlib.contextmanager
    def _session(self, api):
        probe = self.choose_probe(api)
        options = {"target_override": self.board.probe.pyocd_target}
        if self.frequency:
            options["frequency"] = self.frequency
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                session = api.Session(probe, auto_open=False, options=options)
        except Exception as exc:
            raise TargetError(self._explain(api, exc)) from exc
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                session.open()
        except Exception as exc:  # release the probe a half-open session holds (as pyOCD's own with-block)
            with contextlib.suppress(Exception):
                session.close()
            raise TargetError(self._explain(api, exc)) from exc
        self.probe_id = self.probe_id or probe.unique_id
        try:
            yield session
        finally:
            with contextlib.suppress(Exception):
                session.close()

    def _check_mcu(self, api, target) -> None:
        ids = device_ids(self.board)
        if ids is None:
            return  # an MCU without a known id register: nothing to compare
        try:
            dev_id = target.read32(ids.idcode_address) & ids.id_mask
        except api.exceptions.TransferError:
            return  # unreadable: the protection check below says why
        if dev_id != ids.dev_id:
            known = [k for k, v in family_for(self.board.family).device_ids.items() if v.dev_id == dev_id]
            what = f" (an {known[0]}...)" if known else ""
            raise TargetError(f"the probe is connected to an MCU with device id {dev_id:#05x}{what}, not the "
                              f"{self.board.mcu} of {self.board.name} ({ids.dev_id:#05x}): wrong board or "
                              "wrong --board / --probe")

    def _check_protection(self, api, target) -> None:
        ids = device_ids(self.board)
        if ids is None:
            return
        try:
            rdp = (target.read32(ids.protection_address) >> ids.protection_shift) & 0xFF
        except api.exceptions.TransferError as exc:
            raise TargetError(self._locked(f"its option bytes cannot be read ({exc})")) from exc
        if rdp != ids.unprotected:
            level = 2 if rdp == ids.permanent else 1
            raise TargetError(self._locked(f"read protection is at level {level} (RDP byte {rdp:#04x})"))

    def _locked(self, why: str) -> str:
        return f"{self.board.name}'s {self.board.mcu} is locked: {why}. {family_for(self.board.family).unlock_hint}"

    def _verify(self, api, target, image: Path) -> None:
        """Read the flash back and compare it with the raw image the build wrote beside the ELF."""
        want = image.read_bytes()
        try:
            got = bytes(target.read_memory_block8(self.board.flash.origin, len(want)))
        except api.exceptions.TransferError as exc:
            raise TargetError(self._locked(f"flash cannot be read back ({exc})")) from exc
        if len(got) != len(want):
            raise TargetError(f"verify failed: reading {len(want)} bytes of flash back gave {len(got)}")
        if got != want:
            at = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
            raise TargetError(f"verify failed: flash at {self.board.flash.origin + at:#010x} reads "
                              f"{got[at]:#04x}, the image has {want[at]:#04x}; flash again, or erase the "
                              "chip (pyocd erase --chip)")

    def _explain(self, api, exc: Exception) -> str:
        msg = str(exc)
        if isinstance(exc, api.exceptions.TargetSupportError) or "not recognized" in msg:
            part = self.board.mcu.lower()
            return (f"pyOCD does not know target '{self.board.probe.pyocd_target}': install its pack once "
                    f"with `pyocd pack install {part}` ({msg})")
        if isinstance(exc, api.exceptions.TransferError | api.exceptions.ProbeError):
            return (f"the probe does not reach {self.board.name}'s MCU ({msg}): check the board is "
                    "powered and its ST-LINK jumpers are on; a chip at read protection level 2 "
                    "refuses every debugger for good")
        return f"cannot connect to {self.board.name} through pyOCD: {msg}"

    def _find_port(self) -> str:
        vid, pid = self.board.probe.usb_vid, self.board.probe.usb_pid
        ports = [p for p in _comports() if p.vid == vid and p.pid == pid]
        if self.probe_id:
            mine = [p for p in ports if p.serial_number == self.probe_id]
            ports = mine or ports
        if not ports:
            raise TargetError(f"no serial port of USB device {vid:04x}:{pid:04x} for {self.board.name}; "
                              "pass the port explicitly (--port /dev/ttyACM0)")
        if len(ports) > 1 and not self.probe_id:
            names = ", ".join(p.device for p in ports)
            raise TargetError(f"several candidate ports ({names}): choose one with --port or --probe")
        return ports[0].device
