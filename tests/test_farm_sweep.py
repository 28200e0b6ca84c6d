"""`mcudeploy sweep ... --farm HOST:PORT --boards N`: each point validated on farm places.

A real ``labgrid-coordinator`` and ``labgrid-exporter`` with two emulated places on 127.0.0.1;
the digits-sized residual CNN of the budget-pruning tests, one sparsity point, few samples. What
must hold: a point's samples run bit-exact on the farm's places (named in the point), the farm
is not one of the sweep's settings (a sweep started locally resumes on a farm, each remaining
point given the farm), and an unreachable farm is refused in one line before any training.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
from mcd_cli import run_cli
from mcudeploy.boards import load_board

labgrid = pytest.importorskip("labgrid", reason="labgrid not installed: pip install 'mcudeploy[farm]'")

from mcudeploy.farm import emulated

MODEL = str(Path(__file__).parent / "fixtures" / "digits_resnet.py") + ":digits_resnet"
needs_emulator = pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                                    reason="qemu-system-arm / arm-none-eabi-gcc not installed")


@needs_emulator
@pytest.mark.emulated
@pytest.mark.slow
def test_a_sweep_point_is_validated_on_farm_places(tmp_path):
    """The dense point (no training: compile, build, bench, host top-1, then the farm), for real."""
    from mcudeploy.sweep import Spec, run_point

    folder = tmp_path / "farm"
    addr = emulated.up(2, load_board("nucleo-f446re"), folder, name="hostA")["coordinator"]["address"]
    spec = Spec(MODEL, None, "digits", limit=200, eval_limit=40, emulate_samples=8)
    pdir = tmp_path / "points" / "dense"
    try:
        rec = run_point(asdict(spec), {"key": "dense"}, str(pdir), None,
                        farm={"coordinator": addr, "boards": 2, "wait": 30.0})
    finally:
        emulated.down(folder)
    e = rec["emulated"]
    assert e["samples"] == e["bit_exact"] == 8 and e["counter"] == "emulated_instructions"
    assert set(e["farm_places"]) <= {"hostA-1", "hostA-2"} and sum(e["farm_places"].values()) == 8
    recs = (pdir / "validate.jsonl").read_text().splitlines()[1:]
    assert sorted(json.loads(r)["i"] for r in recs) == list(range(8))  # each sample once
    assert json.loads((pdir / "point.json").read_text())["emulated"] == e


def _fake_point(spec, point, pdir, dense, farm=None):
    """Stands in for a whole point (compress .. validate); records which farm it was given."""
    rec = {"key": point["key"], "method": "sparsity" if "sparsity" in point else "dense",
           "measured": {"ram": 4000 - len(point["key"]), "flash": 9000, "cycles": 100_000},
           "layer_cycles": {}, "int8_top1": 90.0, "emulated": {"samples": 2, "bit_exact": 2, "farm": farm}}
    Path(pdir).mkdir(parents=True, exist_ok=True)
    (Path(pdir) / "point.json").write_text(json.dumps(rec))
    return rec


def test_the_farm_is_not_a_sweep_setting_a_local_sweep_resumes_on_the_farm(tmp_path, monkeypatch):
    from mcudeploy import sweep

    monkeypatch.setattr(sweep, "run_point", _fake_point)
    spec = sweep.Spec("m.py:f", None, "digits")
    out = tmp_path / "sw"
    sweep.run_sweep(spec, sweep.parse_points(sparsity="0.5"), out, jobs=1)  # locally
    (out / "points" / "sparsity-0.5" / "point.json").unlink()  # as if interrupted before its end
    farm = {"coordinator": "127.0.0.1:9", "boards": 2, "wait": 1.0}
    monkeypatch.setattr(sweep, "ProcessPoolExecutor", _InProcess)  # the fake point cannot be pickled by spawn
    rep = sweep.run_sweep(spec, sweep.parse_points(sparsity="0.5"), out, jobs=1, farm=farm)
    assert rep["dense"]["emulated"]["farm"] is None and rep["points"][0]["emulated"]["farm"] == farm


class _InProcess:
    """A ProcessPoolExecutor that runs each call at once in this process."""

    def __init__(self, max_workers=None, mp_context=None):
        self.mp_context = mp_context

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args, **kwargs):
        from concurrent.futures import Future

        f = Future()
        f.set_result(fn(*args, **kwargs))
        return f


def test_sweep_refuses_an_unreachable_farm_before_training(tmp_path, capsys):
    code, _out, err = run_cli(capsys, ["sweep", MODEL, "--data", "digits", "--sparsity", "0.5", "-o", tmp_path / "s",
                                       "--farm", "127.0.0.1:1"])
    assert code == 2 and err.count("\n") == 1 and "cannot reach the labgrid coordinator at 127.0.0.1:1" in err, err
    assert not (tmp_path / "s").exists()
    code, _out, err = run_cli(capsys, ["sweep", MODEL, "--data", "digits", "--sparsity", "0.5", "-o", tmp_path / "s",
                                       "--boards", "2"])
    assert code == 2 and "give --farm" in err
