"""What is attached: debug probes (pyOCD) and serial ports (pyserial), matched to board files.

    >>> found = discover()
    >>> found["ports"][0]
    {'device': '/dev/ttyACM0', 'usb': '0483:374b', 'serial_number': '066DFF...', 'boards': ['nucleo-f446re', ...],
     'probe': '066DFF...', 'description': 'STM32 STLink'}

A serial port matches a board when its USB VID/PID is the board file's ``[probe] usb_vid/usb_pid``
(several boards share one ST-LINK model, so a port can match several). A probe matches a board when
pyOCD recognises the board behind it (ST-LINK and DAPLink report a board id) and its target is the
board's ``pyocd_target``; otherwise through its virtual COM port, whose USB serial number is the
probe's unique id on ST-LINK. ``open_device`` finds the port the same way, so ``--port`` is only
needed when this is ambiguous.
"""

from __future__ import annotations

import contextlib
import io

from ..boards import list_boards, load_board
from . import pyocd as P


def boards_for_usb(vid: int | None, pid: int | None) -> list[str]:
    if vid is None:
        return []
    out = []
    for name in list_boards():
        b = load_board(name)
        if b.probe is not None and (b.probe.usb_vid, b.probe.usb_pid) == (vid, pid):
            out.append(name)
    return out


def boards_for_pyocd_target(target: str | None) -> list[str]:
    if not target:
        return []
    return [n for n in list_boards()
            if (p := load_board(n).probe) is not None and p.pyocd_target.lower() == target.lower()]


def list_serial_ports() -> list[dict]:
    ports = []
    for p in P._comports():
        ports.append({"device": p.device, "usb": f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None else None,
                      "serial_number": p.serial_number, "description": p.description,
                      "boards": boards_for_usb(p.vid, p.pid)})
    return sorted(ports, key=lambda p: p["device"])


def list_probes() -> tuple[list[dict], str | None]:
    """The probes pyOCD sees, and an error message if it could not look."""
    try:
        api = P._pyocd()
        with contextlib.redirect_stdout(io.StringIO()):
            probes = list(api.list_probes())
    except Exception as exc:  # noqa: BLE001 - no libusb, no permission: say so, list the ports
        return [], f"pyOCD could not list probes: {exc}"
    out = []
    for p in probes:
        info = None
        with contextlib.suppress(Exception):
            info = p.associated_board_info
        target = getattr(info, "target", None)
        out.append({"unique_id": p.unique_id, "description": p.description,
                    "board_name": getattr(info, "name", None), "pyocd_target": target,
                    "boards": boards_for_pyocd_target(target)})
    return out, None


def discover() -> dict:
    probes, error = list_probes()
    ports = list_serial_ports()
    by_uid = {p["unique_id"]: p for p in probes}
    for port in ports:
        probe = by_uid.get(port["serial_number"])
        port["probe"] = probe["unique_id"] if probe else None
        if probe is not None:
            if not probe["boards"]:
                probe["boards"] = list(port["boards"])
            elif port["boards"]:  # both know: the probe's own board id is the sharper answer
                port["boards"] = [b for b in port["boards"] if b in probe["boards"]] or port["boards"]
            probe["port"] = port["device"]
    for probe in probes:
        probe.setdefault("port", None)
    return {"probes": probes, "ports": ports, "probe_error": error}
