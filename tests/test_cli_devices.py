"""The board-facing command line: `devices`, `flash` (--detach / --stop / --probe / --baud), and
`validate` / `profile` with --port URL, --baud, --resume, --retries, --timeout.

Discovery and pyOCD are faked at their API boundary (as in test_boards.py); everything marked
``emulated`` runs the real firmware on QEMU through a detached emulator, as a user would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import threading
import time
import types

import pytest
from click.testing import CliRunner
from mcudeploy import device as device_mod
from mcudeploy.boards import load_board
from mcudeploy.build import firmware_dir
from mcudeploy.cli import cli, measure_cmds
from mcudeploy.errors import LinkError, TargetError
from mcudeploy.target import detached
from mcudeploy.target import pyocd as pyocd_mod

BOARD = "nucleo-f446re"
HAVE_EMU = bool(shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc"))
needs_emulator = pytest.mark.skipif(not HAVE_EMU, reason="qemu-system-arm / arm-none-eabi-gcc not installed")
RUN_STATS = {"throughput", "link", "results_file", "resumed_samples"}  # timing and transport counts


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def project(digits_project):
    return digits_project


@pytest.fixture
def stop_emulators(project):
    """Whatever a test left detached is stopped afterwards, even when it failed."""
    yield
    detached.stop_detached(project, load_board(BOARD))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- devices ---------------------------------------------------------------------------------------
def _fake_discovery(monkeypatch, ports, probes):
    def list_probes(unique_id=None):
        if isinstance(probes, Exception):
            raise probes
        return probes

    monkeypatch.setattr(pyocd_mod, "_comports", lambda: ports)
    monkeypatch.setattr(pyocd_mod, "_pyocd", lambda: types.SimpleNamespace(list_probes=list_probes))


ST_PORT = types.SimpleNamespace(device="/dev/ttyACM0", vid=0x0483, pid=0x374B, serial_number="066DFF123",
                                description="STM32 STLink - ST-Link VCP Data")
FTDI_PORT = types.SimpleNamespace(device="/dev/ttyUSB0", vid=0x0403, pid=0x6001, serial_number="A9XK",
                                  description="FT232R USB UART")
ST_PROBE = types.SimpleNamespace(unique_id="066DFF123", description="STM32 STLink",
                                 associated_board_info=types.SimpleNamespace(name="NUCLEO-F446RE",
                                                                             target="stm32f446retx"))


def test_devices_lists_probes_and_ports_matched_to_boards(monkeypatch, tmp_path):
    _fake_discovery(monkeypatch, [FTDI_PORT, ST_PORT], [ST_PROBE])
    r = run("devices", "--json", tmp_path / "d.json")
    assert r.exit_code == 0, r.output
    probe_line = next(line for line in r.output.splitlines() if line.startswith("066DFF123"))
    assert "NUCLEO-F446RE" in probe_line and "nucleo-f446re" in probe_line and "/dev/ttyACM0" in probe_line
    acm = next(line for line in r.output.splitlines() if line.startswith("/dev/ttyACM0"))
    assert "0483:374b" in acm and "nucleo-f446re" in acm and "066DFF123" in acm
    assert "nucleo-g071rb" not in acm  # the probe's board id narrowed the ST-LINK's three boards to one
    usb = next(line for line in r.output.splitlines() if line.startswith("/dev/ttyUSB0"))
    assert "0403:6001" in usb and "nucleo" not in usb
    found = json.loads((tmp_path / "d.json").read_text())
    assert found["probes"][0]["port"] == "/dev/ttyACM0" and found["probe_error"] is None
    assert [p["device"] for p in found["ports"]] == ["/dev/ttyACM0", "/dev/ttyUSB0"]
    assert "no board found" not in r.output


def test_devices_prints_pyocds_error_and_still_lists_ports(monkeypatch):
    _fake_discovery(monkeypatch, [ST_PORT], RuntimeError("No USB backend found (libusb)"))
    r = run("devices")
    assert r.exit_code == 0, r.output
    assert "pyOCD could not list probes: No USB backend found (libusb)" in r.output
    assert re.search(r"^/dev/ttyACM0 .*nucleo-f446re", r.output, re.MULTILINE)


def test_devices_with_nothing_attached(monkeypatch):
    _fake_discovery(monkeypatch, [], [])
    r = run("devices")
    assert r.exit_code == 0, r.output
    assert "no probes attached" in r.output and "no serial ports" in r.output
    assert "no board found: connect one over USB, or use the emulated board with --emulate" in r.output


def test_devices_runs_on_this_machine():
    """Unfaked: whatever is (not) attached here, the command lists it and does not fail."""
    r = run("devices")
    assert r.exit_code == 0, r.output
    assert "debug probes (pyOCD)" in r.output and "serial ports (pyserial)" in r.output


# --- flash: usage and the no-probe error --------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--detach"], "--detach is for the emulated board: add --emulate"),
    (["--stop"], "--stop stops an emulator that `--emulate --detach` left running: add --emulate"),
    (["--emulate", "--detach", "--stop"], "give --detach (start and leave running) or --stop, not both"),
    (["--port", "socket://127.0.0.1:4000"], "names a board that already runs: `flash` cannot program"),
    (["--emulate", "--detach", "--port", "/dev/ttyACM0"], "--emulate --detach chooses its own socket"),
])
def test_flash_usage_errors(project, args, message):
    r = run("flash", project, *args)
    assert r.exit_code == 2, r.output
    assert message in " ".join(r.output.split())


def test_flash_without_a_probe_suggests_emulate_before_building(monkeypatch, project):
    api = types.SimpleNamespace(list_probes=lambda unique_id=None: [])
    monkeypatch.setattr(pyocd_mod, "_pyocd", lambda: api)
    r = run("flash", project, "--board", BOARD)
    assert isinstance(r.exception, TargetError)
    assert re.search(r"no debug probe \(USB 0483:374b\) found for nucleo-f446re.*--emulate", str(r.exception))
    assert not (firmware_dir(project, BOARD) / "build").exists()  # failed before a minute-long build


def test_flash_with_several_probes_asks_for_one(monkeypatch, project):
    probes = [types.SimpleNamespace(unique_id=u, description="STM32 STLink") for u in ("066DFF123", "0670FF456")]
    monkeypatch.setattr(pyocd_mod, "_pyocd", lambda: types.SimpleNamespace(list_probes=lambda unique_id=None: [
        p for p in probes if unique_id is None or unique_id in p.unique_id]))
    r = run("flash", project, "--board", BOARD)
    assert "choose one with --probe UID (066DFF123" in str(r.exception)
    r = run("flash", project, "--board", BOARD, "--probe", "NOPE")
    assert "no probe NOPE found" in str(r.exception)


def test_stop_when_nothing_runs(project):
    r = run("flash", project, "--board", BOARD, "--emulate", "--stop")
    assert r.exit_code == 0, r.output
    assert "no emulated nucleo-f446re of" in r.output and "was running (nothing to stop)" in r.output


# --- --baud ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", [["validate", "--data", "digits"], ["profile"], ["flash", "--emulate"]])
@pytest.mark.parametrize("baud, message", [
    (1234, "Invalid value for --baud: use a standard rate (9600, 19200, 38400, 57600, 115200, 230400"),
    (2000000, "Invalid value for --baud: nucleo-f446re allows at most 921600 ([uart] max_baud in nucleo-f446re.toml)"),
])
def test_bad_baud_is_rejected_before_any_work(project, cmd, baud, message):
    r = run(cmd[0], project, "--board", BOARD, *cmd[1:], "--baud", baud)
    assert r.exit_code == 2, r.output
    assert message in " ".join(r.output.split())


def test_link_options_reach_validate_and_profile(monkeypatch, project):
    seen = {}

    def fake_validate(*args, **kw):
        seen["validate"] = {k: v for k, v in kw.items() if k not in ("fresh", "layers")}  # test_ownership.py,
        # test_layer_diff.py
        raise SystemExit(0)

    def fake_profile(*args, **kw):
        seen["profile"] = {k: v for k, v in kw.items() if k in ("probe", "baud", "retries", "timeout",
                                                                "reconnect_timeout") and v is not None}
        raise SystemExit(0)

    monkeypatch.setattr(measure_cmds, "run_validate", fake_validate)
    monkeypatch.setattr(measure_cmds, "run_profile", fake_profile)
    run("validate", project, "--data", "digits", "--probe", "066DFF123", "--baud", 921600, "--retries", 5,
        "--timeout", 0.5, "--reconnect-timeout", 2)
    assert seen["validate"] == {"baud": 921600, "probe": "066DFF123", "retries": 5, "timeout": 0.5,
                                "reconnect_timeout": 2.0}
    run("validate", project, "--data", "digits")
    assert seen["validate"] == {"baud": None, "probe": None}  # the Link's own defaults apply
    run("profile", project, "--probe", "066DFF123", "--baud", 921600, "--retries", 5, "--timeout", 0.5)
    assert seen["profile"] == {"probe": "066DFF123", "baud": 921600, "retries": 5, "timeout": 0.5}


def test_explicit_connection_options_reach_open_device(monkeypatch, project):
    seen = {}

    def fake_open_target(board, emulate, port=None, probe=None):
        seen.update(baud=board.uart.baud, probe=probe)
        raise TargetError("stop here")

    monkeypatch.setattr(device_mod, "open_target", fake_open_target)
    with pytest.raises(TargetError), device_mod.open_device(project, BOARD, emulate=False, probe="066DFF123",
                                                            baud=921600, retries=3):
        pass
    assert seen == {"baud": 921600, "probe": "066DFF123"}
    with pytest.raises(TargetError), device_mod.open_device(project, BOARD, emulate=False):
        pass
    assert seen == {"baud": 115200, "probe": None}  # the board file's rate


# --- validation that cannot start: exit code 2, nothing saved (more in test_setup_errors.py) ---------------
def test_unreachable_port_is_a_setup_error_that_saves_nothing(project, tmp_path):
    url = f"socket://127.0.0.1:{_free_port()}"  # nothing listens there
    r = run("validate", project, "--board", BOARD, "--port", url, "--data", "digits", "--limit", 5,
            "--results", tmp_path / "r.jsonl")
    assert isinstance(r.exception, LinkError), r.output  # main() prints it as one line, exit code 2
    assert f"cannot open nucleo-f446re's port {url}" in str(r.exception) and "--resume" not in str(r.exception)
    assert not (tmp_path / "r.jsonl").exists()


# --- the emulated board, detached -----------------------------------------------------------------------
def _detach(project, *extra) -> str:
    r = run("flash", project, "--board", BOARD, "--emulate", "--detach", *extra)
    assert r.exit_code == 0, r.output
    m = re.search(r"its UART: (socket://127\.0\.0\.1:\d+)", r.output)
    assert m, r.output
    url = m.group(1)
    assert f"mcudeploy validate {project} --board {BOARD} --port {url} --data DATA" in r.output
    assert f"mcudeploy flash {project} --board {BOARD} --emulate --stop" in r.output
    return url


@pytest.mark.emulated
@needs_emulator
def test_detach_validate_profile_stop_at_921600(project, tmp_path, stop_emulators):
    url = _detach(project, "--baud", 921600)
    state = detached.running(project, load_board(BOARD))
    assert state is not None and state["url"] == url
    assert 'MCD_UART_BAUD "921600"' in (firmware_dir(project, BOARD) / "board.cmake").read_text()

    r = run("validate", project, "--board", BOARD, "--port", url, "--baud", 921600, "--data", "digits",
            "--limit", 5, "--json", tmp_path / "v.json", "--results", tmp_path / "v.jsonl")
    assert r.exit_code == 0, r.output
    assert "5/5 vs the numpy reference" in r.output and "nucleo-f446re (emulated)" in r.output
    assert re.search(r"throughput +[\d.]+ samples/s", r.output)
    assert "a 921600-baud 8N1 UART carries; not paced by baud under QEMU" in r.output
    # the counts themselves depend on the machine's load (a slow emulator costs a timeout and a retry)
    assert re.search(r"link +\d+ retries, \d+ bad frames, \d+ stale, \d+ timeouts, \d+ reconnects, \d+ device resets",
                     r.output)
    rep = json.loads((tmp_path / "v.json").read_text())
    assert rep["emulated"] and rep["counter"] == "emulated_instructions"
    assert rep["throughput"]["baud"] == 921600 and rep["throughput"]["paced_by_baud"] is False

    r = run("profile", project, "--board", BOARD, "--port", url, "--baud", 921600, "--no-estimate")
    assert r.exit_code == 0, r.output
    assert "emulated_instructions (QEMU -icount: instructions, not cycles)" in r.output

    r = run("flash", project, "--board", BOARD, "--emulate", "--stop")
    assert r.exit_code == 0, r.output
    assert f"stopped the emulated nucleo-f446re of {project} (pid {state['pid']}, {url})" in r.output
    assert detached.running(project, load_board(BOARD)) is None
    r = run("flash", project, "--board", BOARD, "--emulate", "--stop")
    assert "was running (nothing to stop)" in r.output


@pytest.mark.emulated
@needs_emulator
def test_emulator_killed_mid_run_then_resume_gives_the_same_report(project, tmp_path, stop_emulators):
    n = 300
    url = _detach(project)
    full = tmp_path / "full.json"
    r = run("validate", project, "--board", BOARD, "--port", url, "--data", "digits", "--limit", n,
            "--json", full, "--results", tmp_path / "full.jsonl")
    assert r.exit_code == 0, r.output

    results = tmp_path / "cut.jsonl"
    pid = detached.running(project, load_board(BOARD))["pid"]

    def kill_after_20_samples():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if results.is_file() and len(results.read_text().splitlines()) > 20:
                os.kill(pid, signal.SIGKILL)  # as a crash would
                return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_after_20_samples)
    killer.start()
    args = ["validate", project, "--board", BOARD, "--port", url, "--data", "digits", "--limit", n,
            "--results", results, "--reconnect-timeout", 1, "--retries", 4, "--timeout", 0.25]
    r = run(*args)
    killer.join()
    assert r.exit_code == 3, r.output
    done = len(results.read_text().splitlines()) - 1
    assert 20 <= done < n
    assert f"validation stopped after {done} of {n} samples" in " ".join(r.output.split())

    url = _detach(project)  # a new emulator, on a new port
    args[args.index("--port") + 1] = url
    r = run(*args, "--resume", "--json", tmp_path / "resumed.json")
    assert r.exit_code == 0, r.output
    assert f"{n} ({done} from an earlier run)" in r.output and f"{n}/{n} vs the numpy reference" in r.output
    indices = [json.loads(line)["i"] for line in results.read_text().splitlines()[1:]]
    assert sorted(indices) == list(range(n))  # each sample exactly once
    a, b = (json.loads(p.read_text()) for p in (full, tmp_path / "resumed.json"))
    assert {k: v for k, v in a.items() if k not in RUN_STATS} == {k: v for k, v in b.items() if k not in RUN_STATS}
