"""Errors are errors: a board that cannot be reached at the start is exit 2, saves nothing and never
suggests --resume; only a link lost mid-run is an interruption (exit 3). Busy boards are refused at
once: a port is locked per URL while a command uses it, and one detached emulator runs per project
and board.

The host-side cases run the console script's ``main`` against a missing probe (pyOCD faked at its
API), a board without an emulator, an occupied port, nothing listening, a QEMU that fails to start,
and ``FakeBoard`` failing mid-run. The ``emulated`` cases use real QEMU: two ``--detach`` at once,
a validate against another project's firmware and against an emulator another validate is using,
a lost or damaged ``emulator.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from mcudeploy import validate as validate_mod
from mcudeploy.boards import load_board
from mcudeploy.build import firmware_dir
from mcudeploy.errors import LinkError, TargetError
from mcudeploy.target import detached, locks
from mcudeploy.target import pyocd as pyocd_mod

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from mcd_cli import FakeBoard, error_lines, run_main, tree

BOARD = "nucleo-f446re"
HAVE_GCC = bool(shutil.which("arm-none-eabi-gcc"))
HAVE_EMU = bool(shutil.which("qemu-system-arm") and HAVE_GCC)
needs_emulator = pytest.mark.skipif(not HAVE_EMU, reason="qemu-system-arm / arm-none-eabi-gcc not installed")


@pytest.fixture
def project(digits_project, tmp_path) -> Path:
    """A private copy of the digits project (its validate/ and firmware/ folders are inspected)."""
    prj = tmp_path / "prj"
    shutil.copytree(digits_project, prj, ignore=shutil.ignore_patterns("validate", "emulator.*"))
    return prj


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _setup_error(code: int, text: str, *words: str) -> str:
    lines = error_lines(text)
    assert code == 2, text
    assert "Traceback" not in text and len(lines) == 1 and lines[0].startswith("error: "), text
    assert "--resume" not in text and "interrupted" not in text, text
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def _validate(monkeypatch, capsys, project, *extra):
    return run_main(capsys, "validate", project, "--data", "digits", "--limit", 10, *extra)


# --- setup errors: exit 2, nothing saved -------------------------------------------------------------------
def test_no_probe_attached(monkeypatch, capsys, project, tmp_path):
    monkeypatch.setattr(pyocd_mod, "_pyocd", lambda: types.SimpleNamespace(list_probes=lambda unique_id=None: []))
    _setup_error(*_validate(monkeypatch, capsys, project), "no debug probe", "--emulate")
    _setup_error(*_validate(monkeypatch, capsys, project, "--results", tmp_path / "r.jsonl"), "no debug probe")
    assert not (project / "validate").exists() and not (tmp_path / "r.jsonl").exists()


def test_board_without_emulator(monkeypatch, capsys, project):
    _setup_error(*_validate(monkeypatch, capsys, project, "--board", "nucleo-g071rb", "--emulate"),
                 "nucleo-g071rb cannot be emulated")
    assert not (project / "validate").exists()


def test_nothing_listening_on_the_port(monkeypatch, capsys, project, tmp_path):
    url = f"socket://127.0.0.1:{_free_port()}"
    _setup_error(*_validate(monkeypatch, capsys, project, "--port", url, "--results", tmp_path / "r.jsonl",
                            "--reconnect-timeout", 0.5), f"cannot open nucleo-f446re's port {url}")
    assert not (tmp_path / "r.jsonl").exists()


def test_busy_port_is_told_at_once(monkeypatch, capsys, project):
    url = f"socket://127.0.0.1:{_free_port()}"
    path = locks.lock_folder() / f"port-{hashlib.sha256(locks.port_key(url).encode()).hexdigest()[:16]}.lock"
    fd = locks.try_lock(path, "mcudeploy validate elsewhere")  # as another process would hold it
    try:
        t0 = time.monotonic()
        _setup_error(*_validate(monkeypatch, capsys, project, "--port", url),
                     f"{url} is in use by another mcudeploy command (pid {os.getpid()}: mcudeploy validate elsewhere)")
        assert time.monotonic() - t0 < 2.0  # before loading data, reference and float model
    finally:
        os.close(fd)
    assert not (project / "validate").exists()


def test_setup_error_leaves_saved_results_untouched(monkeypatch, capsys, project, tmp_path):
    res = tmp_path / "r.jsonl"
    monkeypatch.setattr(validate_mod, "open_device", FakeBoard(fail_after=4, fail_with=LinkError("link lost")))
    assert _validate(monkeypatch, capsys, project, "--emulate", "--results", res)[0] == 3
    before = res.read_bytes()
    monkeypatch.setattr(validate_mod, "open_device", FakeBoard(fail_at_start=TargetError("no emulator today")))
    _setup_error(*_validate(monkeypatch, capsys, project, "--emulate", "--results", res, "--resume"),
                 "no emulator today")
    assert res.read_bytes() == before


@pytest.mark.skipif(not HAVE_GCC, reason="arm-none-eabi-gcc not installed")
def test_qemu_failing_to_start(monkeypatch, capsys, project, tmp_path):
    fake = tmp_path / "bin" / "qemu-system-arm"
    fake.parent.mkdir()
    # a QEMU that reports a good version (target/qemu_find.py asks) and then cannot start the board
    fake.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'QEMU emulator version 10.0.2'; exit 0; fi\n"
                    "echo 'qemu-system-arm: cannot allocate guest RAM' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("MCUDEPLOY_QEMU", str(fake))
    _setup_error(*_validate(monkeypatch, capsys, project, "--emulate"), "QEMU did not start",
                 "cannot allocate guest RAM")
    assert not (project / "validate").exists()


# --- interruptions: exit 3 / 130, the results so far saved ---------------------------------------------------
def test_link_lost_mid_run_is_an_interruption_then_resumes(monkeypatch, capsys, project, tmp_path):
    res = tmp_path / "r.jsonl"
    monkeypatch.setattr(validate_mod, "open_device", FakeBoard(fail_after=3, fail_with=LinkError("link lost")))
    code, text = _validate(monkeypatch, capsys, project, "--emulate", "--results", res)
    assert code == 3 and "Traceback" not in text, text
    assert "validation stopped after 3 of 10 samples: link lost" in text and "--resume" in text
    assert len(res.read_text().splitlines()) == 1 + 3
    monkeypatch.setattr(validate_mod, "open_device", FakeBoard())
    code, text = _validate(monkeypatch, capsys, project, "--emulate", "--results", res, "--resume")
    assert code == 0 and "10 (3 from an earlier run)" in text, text


def test_ctrl_c_mid_run_and_before_the_board_answered(monkeypatch, capsys, project, tmp_path):
    res = tmp_path / "r.jsonl"
    monkeypatch.setattr(validate_mod, "open_device", FakeBoard(fail_after=3, fail_with=KeyboardInterrupt()))
    code, text = _validate(monkeypatch, capsys, project, "--emulate", "--results", res)
    assert code == 130, text
    assert f"interrupted (Ctrl-C): 3 of 10 results saved in {res}; run the same command with --resume" \
        in " ".join(text.split())
    res.unlink()
    monkeypatch.setattr(validate_mod, "open_device", FakeBoard(fail_at_start=KeyboardInterrupt()))
    code, text = _validate(monkeypatch, capsys, project, "--emulate", "--results", res)
    assert code == 130 and "before any sample ran: nothing was saved" in text and "--resume" not in text, text
    assert not res.exists()


# --- the emulated board: one detached emulator per project and board ------------------------------------------
def _qemus_of(project: Path) -> list[int]:
    return detached._marked_qemus(detached.marker(project, load_board(BOARD)))


@pytest.mark.emulated
@needs_emulator
def test_one_detached_emulator_per_project_and_board(monkeypatch, capsys, project, tmp_path):
    b = load_board(BOARD)
    try:
        code, text = run_main(capsys, "flash", project, "--emulate", "--detach")
        assert code == 0, text
        url = re.search(r"its UART: (socket://127\.0\.0\.1:\d+)", text).group(1)
        pid = detached.running(project, b)["pid"]
        assert _qemus_of(project) == [pid]

        t0 = time.monotonic()  # a second one: refused before its build, naming the first
        _setup_error(*run_main(capsys, "flash", project, "--emulate", "--detach"),
                     f"already running at {url}, pid {pid}", "--stop")
        assert time.monotonic() - t0 < 2.0 and _qemus_of(project) == [pid]

        # its record lost (a re-compile replaced firmware/): still one, and --stop still finds it
        detached.state_file(project, b).unlink()
        _setup_error(*run_main(capsys, "flash", project, "--emulate", "--detach"),
                     f"pid {pid}")
        code, text = run_main(capsys, "flash", project, "--emulate", "--stop")
        assert code == 0 and f"stopped the emulated {BOARD} of {project} (pid {pid}" in text, text
        assert _qemus_of(project) == []

        # a damaged record: one line, treated as stale
        detached.state_file(project, b).write_text('{"pid": 12')
        code, text = run_main(capsys, "flash", project, "--emulate", "--stop")
        assert code == 0 and "Traceback" not in text and len(error_lines(text)) == 1, text
        assert "its unreadable emulator.json was removed" in text
        assert not detached.state_file(project, b).exists()
    finally:
        detached.stop_detached(project, b)


@pytest.mark.emulated
@needs_emulator
def test_validate_against_a_busy_or_wrong_emulator(monkeypatch, capsys, project, tmp_path):
    b = load_board(BOARD)
    other = tmp_path / "other"  # the same project with another model hash: another project's firmware
    shutil.copytree(project, other, ignore=shutil.ignore_patterns("firmware"))
    h = other / "engine" / "model.h"
    h.write_text(re.sub(r"(#define\s+MCD_MODEL_HASH\s+\(?\s*)0x[0-9a-fA-F]+", r"\g<1>0x12345678", h.read_text()))
    first = None
    try:
        code, text = run_main(capsys, "flash", project, "--emulate", "--detach")
        assert code == 0, text
        url = re.search(r"its UART: (socket://127\.0\.0\.1:\d+)", text).group(1)

        _setup_error(*run_main(capsys, "validate", other, "--port", url, "--data", "digits",
                               "--limit", 5), "runs another project's firmware", f"mcudeploy flash {other}")
        assert not (other / "validate").exists()

        res = tmp_path / "first.jsonl"  # a real validate in another process, as a second user would run it
        first = subprocess.Popen([sys.executable, "-c", "from mcudeploy.cli import main; main()", "validate",
                                  str(project), "--port", url, "--data", "digits", "--results", str(res)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
        deadline = time.monotonic() + 120
        while not res.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert res.exists(), first.stderr.read().decode() if first.poll() is not None else "no results yet"
        before = tree(project)
        t0 = time.monotonic()
        _setup_error(*_validate(monkeypatch, capsys, project, "--port", url),
                     f"{url} is in use by another mcudeploy command", f"pid {first.pid}")
        assert time.monotonic() - t0 < 2.0
        assert tree(project) == before
    finally:
        if first is not None:
            first.terminate()
            first.wait(30)
        detached.stop_detached(project, b)
    assert json.loads(res.read_text().splitlines()[0])["kind"] == "mcudeploy-validate"
    assert firmware_dir(project, b).is_dir()
