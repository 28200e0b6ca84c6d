"""A real board: flash with pyOCD's Python API, talk over the probe's virtual COM port.

pyOCD is used as a library (``ConnectHelper.session_with_chosen_probe`` + ``FileProgrammer``),
never through its command line. The UART is found by the probe's USB VID/PID from the board file,
preferring the port whose USB serial number is the probe's unique id (ST-LINK reports the same
string for both), unless a port is given.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from ..boards import Board
from ..errors import TargetError
from .base import Target


def _pyocd():
    """pyOCD's entry points, imported late (slow import) and patchable by tests."""
    from pyocd.core.helpers import ConnectHelper
    from pyocd.flash.file_programmer import FileProgrammer

    return ConnectHelper, FileProgrammer


def _comports():
    from serial.tools import list_ports

    return list_ports.comports()


class PyocdTarget(Target):
    def __init__(self, board: Board, port: str | None = None, probe_id: str | None = None,
                 frequency: int | None = None):
        self.board, self.port, self.probe_id, self.frequency = board, port, probe_id, frequency
        self._url: str | None = None

    @property
    def uart_url(self) -> str:
        if self._url is None:
            self._url = self.port or self._find_port()
        return self._url

    def start(self, elf: Path) -> None:
        """Flash ``elf`` and reset the board into it."""
        _, FileProgrammer = _pyocd()
        with self._session() as session:
            try:
                FileProgrammer(session).program(str(elf))
                session.target.reset()
            except Exception as exc:  # pyOCD raises many types; all mean the same to the user
                raise TargetError(f"flashing {self.board.name} failed: {exc}") from exc

    def reset(self) -> None:
        with self._session() as session:
            session.target.reset()

    def stop(self) -> None:
        """Nothing to release: every operation opens and closes its own probe session."""

    def _session(self):
        ConnectHelper, _ = _pyocd()
        options = {"frequency": self.frequency} if self.frequency else {}
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # pyOCD prints "No connected debug probes"
                session = ConnectHelper.session_with_chosen_probe(
                    blocking=False, unique_id=self.probe_id, target_override=self.board.probe.pyocd_target,
                    options=options)
        except Exception as exc:
            raise TargetError(self._explain(exc)) from exc
        if session is None:
            vid, pid = self.board.probe.usb_vid, self.board.probe.usb_pid
            which = f"probe {self.probe_id}" if self.probe_id else f"debug probe (USB {vid:04x}:{pid:04x})"
            raise TargetError(f"no {which} found for {self.board.name}: connect the board, "
                              "or run on the emulated board with --emulate")
        try:
            session.open()
        except Exception as exc:
            raise TargetError(self._explain(exc)) from exc
        self.probe_id = self.probe_id or session.probe.unique_id
        return session

    def _explain(self, exc: Exception) -> str:
        msg = str(exc)
        if "not recognized" in msg or "target type" in msg.lower():
            part = self.board.mcu.lower()
            return (f"pyOCD does not know target '{self.board.probe.pyocd_target}': "
                    f"run `pyocd pack install {part}` once ({msg})")
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
