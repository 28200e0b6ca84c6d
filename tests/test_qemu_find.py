"""Choosing the QEMU binary (target/qemu_find.py) without running any firmware: a board that needs
QEMU 10 is refused in one line naming what was found, MCUDEPLOY_QEMU is the only candidate when
set, and a 7.2-era board accepts any version."""

from __future__ import annotations

import stat

import pytest
from mcudeploy.boards import load_board
from mcudeploy.errors import TargetError
from mcudeploy.target import qemu_find


def _fake_qemu(tmp_path, version: str):
    exe = tmp_path / f"qemu-{version}"
    exe.write_text(f"#!/bin/sh\necho 'QEMU emulator version {version} (fake)'\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return str(exe)


def test_the_env_setting_is_the_only_candidate(tmp_path, monkeypatch):
    old, new = _fake_qemu(tmp_path, "7.2.22"), _fake_qemu(tmp_path, "10.0.2")
    monkeypatch.setenv(qemu_find.ENV, new)
    assert qemu_find.find_qemu(load_board("b-l475e-iot01a")) == new
    monkeypatch.setenv(qemu_find.ENV, old)
    assert qemu_find.find_qemu(load_board("nucleo-f446re")) == old  # 7.2 runs the netduinoplus2
    with pytest.raises(TargetError) as exc:
        qemu_find.find_qemu(load_board("b-l475e-iot01a"))
    msg = str(exc.value)
    assert "\n" not in msg and ">= 10.0" in msg and "(7.2.22)" in msg and "bookworm-backports" in msg


def test_a_missing_env_binary_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(qemu_find.ENV, str(tmp_path / "nope"))
    with pytest.raises(TargetError, match="MCUDEPLOY_QEMU=.*nope is not an executable"):
        qemu_find.find_qemu(load_board("microbit"))


def test_the_search_takes_the_first_new_enough(tmp_path, monkeypatch):
    old, new = _fake_qemu(tmp_path, "7.2.22"), _fake_qemu(tmp_path, "10.0.2")
    monkeypatch.delenv(qemu_find.ENV, raising=False)
    monkeypatch.setattr(qemu_find.shutil, "which", lambda name: old if name == qemu_find.COMMAND else None)
    monkeypatch.setattr(qemu_find, "KNOWN_PLACES", (new,))
    assert qemu_find.find_qemu(load_board("nucleo-f446re")) == old
    assert qemu_find.find_qemu(load_board("mps2-an505")) == new
