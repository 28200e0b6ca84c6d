"""The socat pty bridge (target/pty_bridge.py) against a local TCP echo server: no emulator."""

import os
import shutil
import socket
import threading

import pytest
from mcudeploy.errors import TargetError
from mcudeploy.target.pty_bridge import is_bridge, start_bridge, stop_bridge

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="socat not installed (apt-get install socat)")


@pytest.fixture
def echo_port():
    """A TCP server that sends back what it gets, upper-cased, on one connection at a time."""
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data.upper())

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    srv.close()


def test_bridge_passes_bytes_both_ways_and_survives_a_client_closing(echo_port, tmp_path):
    import serial

    b = start_bridge(echo_port, tmp_path / "uart.pty", tmp_path / "socat.log")
    try:
        assert os.readlink(b.pty).startswith("/dev/pts/") and is_bridge(b.pid)
        for _ in range(2):  # the runner opens the port twice (identify, then the test script)
            with serial.Serial(str(b.pty), 115200, timeout=2) as p:
                p.write(b"name%")
                assert p.read(5) == b"NAME%"  # raw, no echo of our own bytes
    finally:
        assert stop_bridge(b.pid)
    assert not is_bridge(b.pid)


def test_refuses_a_path_it_did_not_make(echo_port, tmp_path):
    mine = tmp_path / "uart.pty"
    mine.write_text("a user's file")
    with pytest.raises(TargetError, match="not a pty link this tool made"):
        start_bridge(echo_port, mine, tmp_path / "socat.log")
    assert mine.read_text() == "a user's file"


def test_stop_never_signals_another_program():
    assert not stop_bridge(os.getpid())  # not socat: left alone


def test_missing_socat_is_one_setup_error():
    from mcudeploy.target.pty_bridge import require_socat

    with pytest.raises(TargetError, match="apt-get install socat"):
        require_socat("no-such-socat-here")
