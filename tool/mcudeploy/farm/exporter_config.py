"""``mcudeploy farm exporter-config``: this host's boards as a labgrid exporter configuration.

Usage::

    text, groups = exporter_config(discover())     # discover(): what `mcudeploy devices` finds
    Path("exporter.yaml").write_text(text)           # then: labgrid-exporter -c COORD exporter.yaml

One group per board found, named ``BOARD-SERIAL``: its USB serial port as labgrid's
``USBSerialPort`` and its debug probe as ``USBDebugger``, both matched by udev on the probe's
USB serial number (``ID_SERIAL_SHORT``), which is stable across re-plugging and ports, unlike
``/dev/ttyACM0``. labgrid's exporter then serves the port over the network (ser2net) and
reports whether each device is present. Tags belong to places, not to exporters, so the file
ends with the ``labgrid-client`` commands that create a place per group tagged ``board=BOARD``
(the tag ``--farm`` looks for). A board with a probe also gets a ``pyocd`` resource: the address
of the ``pyocd server`` that serves its probe from this host (``HOST:5555``, ``5556``, ... one port
per probe; the file names the command to run), which is how a client flashes it (farm/probe.py).
A port that matches several board files (one ST-LINK model on
several Nucleos) and no probe that tells them apart is written with a comment naming the
candidates, and no place command: ``--board`` settles it.
"""

from __future__ import annotations

import re
import socket

from .probe import DEFAULT_PORT, probe_server_command


def _group_name(board: str | None, serial: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", f"{board or 'board'}-{serial}")


def _board_of(port: dict, probe: dict | None, choose: str | None) -> tuple[str | None, list[str]]:
    cands = list((probe or {}).get("boards") or port.get("boards") or [])
    if choose:
        return (choose if choose in cands else None), cands
    return (cands[0] if len(cands) == 1 else None), cands


def exporter_config(found: dict, board: str | None = None, speed: int | None = None, host: str | None = None,
                    first_probe_port: int = DEFAULT_PORT) -> tuple[str, list[dict]]:
    """The exporter YAML for ``found`` (discover()'s answer), and the groups it holds
    (name, board, serial, port, candidates, probe_server). ``board`` picks among ambiguous
    candidates; ``speed`` is the UART rate (default: the board file's); ``host`` is the name
    clients reach this host by (default: its host name), for the pyOCD probe servers."""
    from ..boards import load_board

    host = host or socket.gethostname()

    probes = {p["unique_id"]: p for p in found.get("probes", [])}
    groups = []
    for port in found.get("ports", []):
        serial = port.get("serial_number")
        probe = probes.get(port.get("probe") or "")
        if not serial or not (port.get("boards") or probe):
            continue  # a serial port no board file claims (an FTDI cable, a modem): not a board
        name, cands = _board_of(port, probe, board)
        groups.append({"name": _group_name(name, serial), "board": name, "serial": serial,
                       "port": port["device"], "probe": probe["unique_id"] if probe else None,
                       "candidates": cands,
                       "probe_server": {"host": host, "port": first_probe_port + sum(1 for g in groups if g["probe"])}
                       if probe else None})
    # labgrid renders the file with jinja2 first, where a line starting with "#" is a statement:
    # comments take "##"
    lines = ["## labgrid exporter configuration written by `mcudeploy farm exporter-config`",
             "## run: labgrid-exporter -c COORDINATOR_HOST:PORT THIS_FILE", ""]
    for g in groups:
        baud = speed or (load_board(g["board"]).uart.baud if g["board"] else 115200)
        if not g["board"]:
            lines.append(f"## {g['port']} matches several boards ({', '.join(g['candidates'])}): "
                         "choose one with --board")
        lines += [f"{g['name']}:", "  uart:", "    cls: USBSerialPort", "    match:",
                  f"      ID_SERIAL_SHORT: '{g['serial']}'", f"    speed: {baud}"]
        if g["probe"]:
            srv = g["probe_server"]
            lines += ["  probe:", "    cls: USBDebugger", "    match:", f"      ID_SERIAL_SHORT: '{g['probe']}'",
                      f"  ## on this host: {' '.join(probe_server_command(g['probe'], srv['port']))}",
                      "  pyocd:", "    cls: NetworkSerialPort", f"    host: {srv['host']}", f"    port: {srv['port']}",
                      "    protocol: raw"]
        lines.append("")
    places = [g for g in groups if g["board"]]
    if places:
        lines.append("## places, once the exporter runs (HOST: its name, the host name by default):")
        for g in places:
            lines += [f"##   labgrid-client -p {g['name']} create",
                      f"##   labgrid-client -p {g['name']} add-match 'HOST/{g['name']}/*'",
                      f"##   labgrid-client -p {g['name']} set-tags board={g['board']}"]
    return "\n".join(lines) + "\n", groups
