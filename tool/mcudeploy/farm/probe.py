"""A real board on a farm place: flashed with pyOCD through the probe server of its exporter host.

Usage::

    probe_server_command("0671FF3833554B3043164817", 5555)
    # ['pyocd', 'server', '--uid', '0671FF...', '--port', '5555', '--allow-remote']: run on the exporter host
    flash_through_probe_server("bench-1", {"host": "rack1", "port": 5555}, board, elf, "rfc2217://rack1:3001")

labgrid 26 has no pyOCD driver: its way to a remote ``NetworkUSBDebugger`` is OpenOCDDriver, which
runs openocd on the exporter host over ssh and copies the image there first. pyOCD has its own
remote path instead, with no ssh and no file copied: ``pyocd server`` on the host that has the
probe serves that probe (DP/AP and memory accesses, one JSON line per request) on a TCP port, and
on the client the probe id ``remote:HOST:PORT`` (pyOCD's ``TCPClientProbe`` plugin) stands for it.
The client then runs the usual local flash sequence against it (target/pyocd.py: MCU id and read
protection checked, program, read back and compare, reset and run). The place exports the probe
server's address as a resource named ``pyocd`` (labgrid has no class for a pyOCD server, so a
``NetworkSerialPort`` with ``protocol: raw`` carries its host and port), next to its ``uart``.
"""

from __future__ import annotations

import socket
from pathlib import Path

from ..boards import Board
from ..errors import McdError
from .client import FarmError

DEFAULT_PORT = 5555  # pyOCD's own default for `pyocd server`


def probe_server_command(uid: str, port: int = DEFAULT_PORT) -> list[str]:
    """The exporter host's ``pyocd server`` for the probe with USB serial ``uid`` (``--allow-remote``:
    pyOCD serves only 127.0.0.1 otherwise)."""
    return ["pyocd", "server", "--uid", uid, "--port", str(port), "--allow-remote"]


def remote_probe_id(resource: dict) -> str:
    """pyOCD's probe id for a probe server resource (``host``, ``port``)."""
    return f"remote:{resource['host']}:{int(resource['port'])}"


def check_probe_server(place: str, resource: dict) -> None:
    """FarmError in one line if the probe server of ``place`` does not accept a connection (checked
    before the silicon image is built, and before pyOCD, which would first ask for the target's pack)."""
    try:
        socket.create_connection((resource["host"], int(resource["port"])), timeout=5).close()
    except OSError as exc:
        raise FarmError(f"place {place}: its pyOCD probe server {resource['host']}:{resource['port']} does not "
                        f"answer ({exc.strerror or exc}): on its exporter host run `pyocd server --uid PROBE "
                        f"--port {resource['port']} --allow-remote` (it waits for the probe to be plugged in "
                        "before it listens)") from None


def flash_through_probe_server(place: str, resource: dict, board: Board, elf: Path, uart_url: str) -> None:
    """Program ``elf`` into the board of ``place`` through its exporter host's probe server; one
    FarmError line if the server cannot be reached or refuses."""
    from ..target.pyocd import PyocdTarget

    check_probe_server(place, resource)
    uid = remote_probe_id(resource)
    try:
        PyocdTarget(board, port=uart_url, probe_id=uid).start(elf)
    except McdError as exc:
        raise FarmError(f"place {place}: flashing through the pyOCD probe server {uid} failed: {exc} (on its "
                        f"exporter host `pyocd server --uid PROBE --port {resource['port']} --allow-remote` "
                        "must run)") from None
