"""A real board's farm place: flashed with pyOCD through ``pyocd server`` on its exporter host.

No board here, so what is tested is what can be without one, with the real programs: the probe
server's command line is one pyOCD's own parser accepts; ``pyocd server`` run with no probe
attached waits for one and does not listen (what it really does); a place whose probe server does
not answer is refused in one line by ``validate --farm`` (a real coordinator and labgrid exporter
serving the place), before its silicon image is built, and the place is released.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time

import pytest
from mcd_cli import run_main

labgrid = pytest.importorskip("labgrid", reason="labgrid not installed: pip install 'mcudeploy[farm]'")

from mcudeploy.farm import emulated
from mcudeploy.farm.client import FarmClient, FarmError
from mcudeploy.farm.probe import check_probe_server, probe_server_command, remote_probe_id
from mcudeploy.target.qemu import free_port

BOARD = "nucleo-f446re"


def test_probe_server_command_is_one_pyocd_accepts():
    from pyocd.__main__ import PyOCDTool

    cmd = probe_server_command("066DFF123", 5601)
    assert cmd == ["pyocd", "server", "--uid", "066DFF123", "--port", "5601", "--allow-remote"]
    args = PyOCDTool().build_parser().parse_args(cmd[1:])  # pyOCD's own argument parser
    assert (args.cmd, args.unique_id, args.port_number, args.serve_local_only) == ("server", "066DFF123", 5601, False)
    assert remote_probe_id({"host": "rack1", "port": "5601"}) == "remote:rack1:5601"
    # and pyOCD maps that id to its TCP client probe (the `remote` probe plugin), not to a USB probe
    from pyocd.probe.aggregator import DebugProbeAggregator

    probe = DebugProbeAggregator.get_probe_with_id("remote:rack1:5601")
    assert type(probe).__name__ == "TCPClientProbe" and probe.unique_id == "remote:rack1:5601"


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def test_pyocd_server_without_a_probe_waits_and_the_client_is_refused_in_one_line(tmp_path):
    port = free_port()
    cmd = probe_server_command("NO-SUCH-PROBE-0001", port)
    exe = shutil.which("pyocd")
    argv = [exe, *cmd[1:]] if exe else [sys.executable, "-m", "pyocd", *cmd[1:]]
    log = tmp_path / "pyocd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "Waiting for a debug probe" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        assert "Waiting for a debug probe matching unique ID 'NO-SUCH-PROBE-0001'" in log.read_text()
        assert proc.poll() is None and not _listening(port)  # it waits for the probe before it listens
        with pytest.raises(FarmError) as e:
            check_probe_server("rack1-f446", {"host": "127.0.0.1", "port": port})
        msg = str(e.value)
        assert "\n" not in msg and f"127.0.0.1:{port} does not answer" in msg and "pyocd server --uid" in msg
    finally:
        proc.kill()
        proc.wait()


def test_validate_refuses_a_place_whose_probe_server_does_not_answer(digits_project, tmp_path, capsys):
    """A labgrid exporter serves a 'real board' place: its UART (RFC 2217, as labgrid's exporter
    serves a USB serial port) and its probe server address; nothing listens on the latter."""
    uart, probe = free_port(), free_port()
    cfg = tmp_path / "exporter.yaml"
    cfg.write_text(f"desk-f446:\n  uart:\n    cls: NetworkSerialPort\n    host: 127.0.0.1\n    port: {uart}\n"
                   f"    speed: 115200\n  pyocd:\n    cls: NetworkSerialPort\n    host: 127.0.0.1\n    port: {probe}\n"
                   "    protocol: raw\n")
    coord = emulated.start_coordinator(tmp_path)
    exp = emulated._spawn([emulated._tool("labgrid-exporter"), "-c", coord["address"], "-n", "desk", str(cfg)],
                          tmp_path / "exporter.log")
    try:
        with FarmClient(coord["address"]) as admin:
            for _ in range(100):
                if admin.exported("desk") == 2:
                    break
                time.sleep(0.1)
                admin.sync()
            admin.add_place("desk-f446", "desk/desk-f446/*", {"board": BOARD})
        code, text = run_main(capsys, "validate", digits_project, "--farm", coord["address"], "--board", BOARD,
                              "--data", "digits", "--limit", "4")
        with FarmClient(coord["address"]) as me:
            held = me.holder("desk-f446")
    finally:
        emulated._stop(exp)
        emulated._stop(coord)
    assert code == 2, text
    errors = [ln for ln in text.splitlines() if ln.startswith("error")]  # the rest: build progress lines
    assert len(errors) == 1 and "Traceback" not in text, text
    assert f"place desk-f446: its pyOCD probe server 127.0.0.1:{probe} does not answer" in errors[0]
    assert held is None  # released after the refusal
