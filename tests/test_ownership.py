"""Outputs never destroy what the tool did not make: ``compile -o`` and ``validate --results``.

Each case runs the console script's ``main`` as a user would and checks the exit code, that the
message is one line without a traceback, and that every file it had no business touching is left
byte for byte. Validation runs against ``FakeBoard`` (tests/fixtures/mcd_cli.py), which answers
with the numpy reference: the results-file rules are host logic and need no emulator.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcudeploy import manifest
from mcudeploy import validate as validate_mod
from mcudeploy.errors import OutputError

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from mcd_cli import FakeBoard, error_lines, run_main, tree

BOARD = "nucleo-f446re"


@pytest.fixture(scope="module")
def model(digits_project) -> Path:
    """A small model file for `compile` (the digits MLP's float archive)."""
    return digits_project / "model_float.pt2"


def _compile(monkeypatch, capsys, model, out, *extra):
    return run_main(capsys, "compile", model, "--calib", "digits", "--calib-limit", 64,
                    "--no-host-check", "-o", out, *extra)


def _refused(code: int, text: str, *words: str) -> str:
    lines = error_lines(text)
    assert code == 2, text
    assert "Traceback" not in text and len(lines) == 1, text
    assert lines[0].startswith("error: ")
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


# --- compile -o ------------------------------------------------------------------------------------------
def test_folder_that_merely_holds_project_json_is_not_replaced(monkeypatch, capsys, model, tmp_path):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "project.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    (out / "sub" / "x.txt").write_text("deep")
    before = tree(out)
    _refused(*_compile(monkeypatch, capsys, model, out), "older mcudeploy", "another -o")
    assert tree(out) == before


def test_non_empty_folder_without_manifest_is_refused_and_empty_one_is_used(monkeypatch, capsys, model, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("keep")
    _refused(*_compile(monkeypatch, capsys, model, out), "is not an mcudeploy project")
    assert tree(out) == {"a.txt": b"keep"}
    (out / "a.txt").unlink()
    code, text = _compile(monkeypatch, capsys, model, out)
    assert code == 0, text
    assert (out / manifest.MANIFEST).is_file() and (out / "project.json").is_file()


def test_recompile_replaces_own_project_but_refuses_foreign_or_edited_files(monkeypatch, capsys, model, tmp_path):
    out = tmp_path / "out"
    code, text = _compile(monkeypatch, capsys, model, out)
    assert code == 0, text
    doc = json.loads((out / manifest.MANIFEST).read_text())
    written = {p for p, v in tree(out).items() if v is not None and p != manifest.MANIFEST}
    assert set(doc["files"]) == written  # every file compile wrote, nothing else
    # what later commands add lives in the tool's folders: no obstacle to a re-compile
    for rel in ("firmware/nucleo-f446re/build-emu/build.json", "firmware/nucleo-f446re/emulator.json",
                "validate/nucleo-f446re-emulated-digits-5-0123abcd.jsonl", "bench/bench.elf"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text("x")
    code, text = _compile(monkeypatch, capsys, model, out)
    assert code == 0, text
    assert not (out / "firmware").exists() and (out / manifest.MANIFEST).is_file()

    (out / "notes.txt").write_text("mine")
    with open(out / "engine" / "model.c", "a") as f:
        f.write("/* my edit */\n")
    before = tree(out)
    line = _refused(*_compile(monkeypatch, capsys, model, out), "notes.txt",
                    "engine/model.c (changed since mcudeploy wrote it)", "nothing was changed")
    assert "firmware" not in line
    assert tree(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temporary left behind


def test_a_file_dropped_in_during_the_compile_is_never_lost(tmp_path):
    out, new = tmp_path / "out", tmp_path / "new"
    for d in (out, new):
        d.mkdir()
        (d / "project.json").write_text(d.name)
        manifest.write(d)
    (out / "late.txt").write_text("written while compile ran")
    before = tree(out)
    with pytest.raises(OutputError, match="late.txt"):
        manifest.replace_dir(new, out)
    assert tree(out) == before and (new / "project.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "out"]


def _read_only(folder: Path) -> bool:
    """Make ``folder`` unwritable even for root (chattr +i); False if this machine cannot."""
    folder.chmod(0o555)
    if os.geteuid() != 0:
        return True
    return shutil.which("chattr") is not None and subprocess.run(
        ["chattr", "+i", str(folder)], check=False, capture_output=True).returncode == 0


def test_output_under_an_unwritable_folder_is_one_line(monkeypatch, capsys, model, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    if not _read_only(ro):  # root on a file system without chattr: a file in the way is the same OSError path
        ro.chmod(0o755)
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        _refused(*_compile(monkeypatch, capsys, model, blocker / "out"), "cannot write the project into")
        assert blocker.read_text() == "not a folder"
        return
    try:
        _refused(*_compile(monkeypatch, capsys, model, ro / "out"), f"cannot write the project into '{ro}'")
        assert list(ro.iterdir()) == []
    finally:
        subprocess.run(["chattr", "-i", str(ro)], capture_output=True, check=False)
        ro.chmod(0o755)


# --- validate --results ------------------------------------------------------------------------------
@pytest.fixture
def board(monkeypatch):
    fake = FakeBoard()
    monkeypatch.setattr(validate_mod, "open_device", fake)
    return fake


def _validate(monkeypatch, capsys, project, *extra):
    return run_main(capsys, "validate", project, "--emulate", "--data", "digits", "--limit", 10, *extra)


def test_a_file_that_is_not_results_is_never_written(monkeypatch, capsys, digits_project, board, tmp_path):
    foreign = tmp_path / "notes.txt"
    foreign.write_bytes(os.urandom(250_000))
    before = foreign.read_bytes()
    for extra in ((), ("--resume",), ("--fresh",)):
        _refused(*_validate(monkeypatch, capsys, digits_project, "--results", foreign, *extra),
                 f"{foreign} is not an mcudeploy results file", "left untouched")
        assert foreign.read_bytes() == before
    assert board.opened == 0  # refused before any board work


def test_saved_samples_are_kept_unless_asked(monkeypatch, capsys, digits_project, board, tmp_path):
    res = tmp_path / "r.jsonl"
    code, text = _validate(monkeypatch, capsys, digits_project, "--results", res)
    assert code == 0, text
    lines = res.read_text().splitlines()
    assert len(lines) == 11
    res.write_text("\n".join(lines[:5]) + "\n" + lines[5][:9])  # 4 saved, the 5th cut short
    before = res.read_bytes()

    line = _refused(*_validate(monkeypatch, capsys, digits_project, "--results", res),
                    f"4 of 10 samples of this run are saved in {res}", "--resume", "--fresh")
    assert res.read_bytes() == before, line
    code, text = _validate(monkeypatch, capsys, digits_project, "--results", res, "--resume")
    assert code == 0, text
    assert "10 (4 from an earlier run)" in text and "10/10 vs the numpy reference" in text
    assert sorted(json.loads(x)["i"] for x in res.read_text().splitlines()[1:]) == list(range(10))

    _refused(*_validate(monkeypatch, capsys, digits_project, "--results", res), "all 10 samples of this run")
    code, text = _validate(monkeypatch, capsys, digits_project, "--results", res, "--fresh")
    assert code == 0 and "10 (" not in text, text  # nothing resumed: measured again


def test_results_of_another_run_are_replaced_only_with_fresh(monkeypatch, capsys, digits_project, board, tmp_path):
    res = tmp_path / "r.jsonl"
    code, text = _validate(monkeypatch, capsys, digits_project, "--results", res)
    assert code == 0, text
    before = res.read_bytes()
    for extra in ((), ("--resume",)):  # another --limit: another run
        _refused(*run_main(capsys, "validate", digits_project, "--emulate", "--data", "digits",
                           "--limit", 7, "--results", res, *extra), "results of another run", "--fresh")
        assert res.read_bytes() == before
    code, text = run_main(capsys, "validate", digits_project, "--emulate", "--data", "digits",
                          "--limit", 7, "--results", res, "--fresh")
    assert code == 0, text
    assert len(res.read_text().splitlines()) == 8


def test_default_results_files_are_one_per_run(monkeypatch, capsys, digits_project, board, tmp_path):
    prj = tmp_path / "prj"
    shutil.copytree(digits_project, prj, ignore=shutil.ignore_patterns("firmware", "validate"))
    for limit in (10, 7):
        code, text = run_main(capsys, "validate", prj, "--emulate", "--data", "digits",
                              "--limit", limit, "--json", tmp_path / f"{limit}.json")
        assert code == 0, text
    files = sorted(p.name for p in (prj / "validate").iterdir())
    assert len(files) == 2 and all(f.startswith(f"{BOARD}-emulated-digits-") for f in files), files
    for limit in (10, 7):
        rep = json.loads((tmp_path / f"{limit}.json").read_text())
        assert Path(rep["results_file"]).parent == prj / "validate"
        assert f"-digits-{limit}-" in rep["results_file"]
    # a re-compile replaces the project, results included: they are the tool's
    assert manifest.foreign_files(prj, manifest.read(prj)) == []



def test_default_results_file_stays_in_the_project_for_a_board_given_as_a_path(tmp_path):
    from mcudeploy.results import _IDENTITY, results_path

    header = {k: "v" for k in _IDENTITY} | {"samples": 5}
    p = results_path(tmp_path, "../../elsewhere/my-board.toml", True, "x" * 300, header)
    assert p.parent == tmp_path / "validate"
    assert p.name.startswith("my-board-emulated-") and len(p.name) < 120
