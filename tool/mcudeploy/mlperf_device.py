"""A board running the MLPerf Tiny protocol firmware, started for the official runner.

    info = flash_mlperf("out/kws", board, emulate=True, name="kws_dscnn")      # build, start, check, stop
    d = start_detached_mlperf("out/kws", board, name="kws_dscnn")              # left running
    d["pty"]   # point the runner's serial port here (devices yaml / DUT(port)); `flash --stop` ends it

With ``name`` (one of mlperf_suite.MODELS) the firmware takes the runner's data format in `db`
(what the runner sends) and reports ``m-model-[ic01|kws01|vww01|ad01]`` (what the runner picks its
test script by); without it `db` takes the engine's int8 bytes and the model is "unknown".
"""

from __future__ import annotations

from pathlib import Path

from .boards import Board
from .errors import TargetError
from .mlperf_suite import RUNNER_NAMES, RunnerSession, build_mlperf
from .target import open_target


def check_answers(url: str, baud: int, name: str | None) -> dict:
    """Talk to the firmware as the runner does (name%, profile%); what it said, or TargetError."""
    import serial

    try:
        port = serial.serial_for_url(url, baudrate=baud, timeout=0.5)
    except (OSError, ValueError, serial.SerialException) as exc:
        raise TargetError(f"cannot open the board's UART {url}: {exc}") from None
    with RunnerSession(port, timeout=10.0) as s:
        dut = s.sync()[0]
        lines = s.command("profile")
    model = next((ln[len("m-model-["):-1] for ln in lines if ln.startswith("m-model-[")), None)
    want = RUNNER_NAMES.get(name, "unknown")
    if model != want:
        raise TargetError(f"the board answers profile% with model {model!r}, expected {want!r}: it runs another "
                          "firmware; flash this project with --protocol mlperf again")
    return {"name": dut[len("m-name-dut-["):-1], "model": model,
            "profile": next((ln for ln in lines if ln.startswith("m-profile-")), None)}


def _build(project: str | Path, board: Board, emulate: bool, name: str | None):
    return build_mlperf(project, board, emulate=emulate, name=name, runner_input=name is not None)


def flash_mlperf(project: str | Path, board: Board, emulate: bool, name: str | None = None,
                 port: str | None = None, probe: str | None = None) -> dict:
    """Build the MLPerf firmware, flash it (or start the emulator), check it answers, release it."""
    r = _build(project, board, emulate, name)
    with open_target(board, emulate, port=port, probe=probe) as t:
        t.start(r.elf)
        info = check_answers(t.uart_url, board.uart.baud, name)
        return {**info, "url": t.uart_url, "elf": str(r.elf), "emulated": emulate}


def start_detached_mlperf(project: str | Path, board: Board, name: str | None = None) -> dict:
    """Build, start the emulator detached, check it answers, then put the pty bridge in front."""
    import os

    from .target.detached import add_bridge, claim, start_detached, stop_detached
    from .target.pty_bridge import require_socat

    require_socat()
    lock = claim(project, board)  # one emulator per project and board: refused before the build
    try:
        r = _build(project, board, True, name)
        target = start_detached(project, board, r.elf, lock)
    finally:
        os.close(lock)  # QEMU holds it from now on
    try:
        info = check_answers(target.uart_url, board.uart.baud, name)  # before socat takes the socket
        bridge = add_bridge(project, board)
    except BaseException:
        stop_detached(project, board)
        raise
    return {**info, "pid": target.proc.pid, "url": target.uart_url, "pty": str(bridge.pty),
            "bridge_pid": bridge.pid, "elf": str(r.elf)}
