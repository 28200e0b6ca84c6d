"""A model too big for its board is refused before the work (fit.py), and calibration data that
cannot calibrate is named (calib_checks.py): warnings, errors with --strict, NaN always an error."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import need_toolchain
from mcd_cli import run_cli
from mcudeploy import build as build_mod
from mcudeploy import datasets
from mcudeploy.boards import load_board
from mcudeploy.calib_checks import CalibrationError, check_inputs, check_outputs, enforce
from mcudeploy.errors import DataError, DoesNotFitError
from mcudeploy.fit import ENGINE_CODE_MIN, RUNTIME_FLASH_MIN, RUNTIME_RAM_MIN, check_fits, check_project_fits
from mcudeploy.frontend import export_module
from mcudeploy.pipeline import build_project
from torch import nn

FIXTURES = Path(__file__).parent / "fixtures"


def leftovers(parent: Path, name: str) -> list[str]:
    """What a failed compile of ``parent/name`` left: the directory or a temporary sibling."""
    return [p.name for p in parent.iterdir() if p.name == name or p.name.startswith(f".{name}.")]


# --- fit --------------------------------------------------------------------------------------------
def test_check_fits_names_both_regions():
    b = load_board("nucleo-g071rb")
    check_fits(b, weight_bytes=100_000, arena_bytes=20_000, input_bytes=784, output_bytes=10)
    floor = ENGINE_CODE_MIN + RUNTIME_FLASH_MIN
    with pytest.raises(DoesNotFitError, match=rf"^the model does not fit nucleo-g071rb: flash needs at least "
                                              rf"{140_000 + floor:,} B \(weights 140,000 B \+ engine code and "
                                              rf"runtime >= {floor:,} B\) but nucleo-g071rb has 131,072 B "
                                              rf"\(over by {140_000 + floor - 131_072:,} B\); RAM at least "
                                              rf"{20_794 + 4096 + RUNTIME_RAM_MIN:,} of 36,864 B .*, fits\. "
                                              r"Make it smaller"):
        check_fits(b, weight_bytes=140_000, arena_bytes=20_000, input_bytes=784, output_bytes=10)
    with pytest.raises(DoesNotFitError, match=r"flash at least .* fits; RAM needs at least 40,128 B \(arena "
                                              r"35,000 B \+ input/output 8 B \+ stack 4,096 B \+ runtime >= "
                                              r"1,024 B\) but nucleo-g071rb has 36,864 B"):
        check_fits(b, weight_bytes=1000, arena_bytes=35_000, input_bytes=4, output_bytes=4)


def test_fit_bound_stays_under_a_real_build(digits_project, tmp_path):
    """The pre-check never refuses what links: its bound is below the linker's bytes (the
    constants in fit.py come from builds like this one)."""
    need_toolchain()
    report = json.loads((digits_project / "report.json").read_text())
    meta = json.loads((digits_project / "project.json").read_text())
    r = build_mod.build(digits_project, "nucleo-g071rb")
    b = load_board("nucleo-g071rb")
    assert r.flash_bytes >= report["weight_bytes"] + ENGINE_CODE_MIN + RUNTIME_FLASH_MIN
    assert r.ram_bytes >= (meta["arena_bytes"] + meta["input_bytes"] + meta["output_bytes"] + b.stack_bytes
                           + RUNTIME_RAM_MIN)


def _wide_digits_project(out: Path) -> Path:
    """A digits MLP with 155 KB of weights: fits nucleo-f446re (512 KB), not nucleo-g071rb (128 KB)."""
    torch.manual_seed(0)
    x, _ = datasets.load_spec("digits", split="train", limit=64)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 2100), nn.ReLU(), nn.Linear(2100, 10)).eval()
    build_project(export_module(net, torch.from_numpy(x[:1])), x, out, host_check=False)
    return out


def test_build_refuses_a_too_big_project_before_cmake(tmp_path, monkeypatch):
    project = _wide_digits_project(tmp_path / "wide")
    ran = []
    monkeypatch.setattr(build_mod.subprocess, "run", lambda *a, **k: ran.append(a) or pytest.fail("a tool ran"))
    t0 = time.monotonic()
    with pytest.raises(DoesNotFitError, match=r"does not fit nucleo-g071rb: flash needs at least 1\d\d,\d{3} B "
                                              r"\(weights 1\d\d,\d{3} B .* but nucleo-g071rb has 131,072 B"):
        build_mod.build(project, "nucleo-g071rb")
    assert time.monotonic() - t0 < 2
    assert ran == [] and not (project / "firmware").exists()
    check_project_fits(project, load_board("nucleo-f446re"))  # the bigger board is left to the linker


def test_compile_board_refuses_16_mb_of_weights_in_seconds(tmp_path, monkeypatch, capsys):
    """Linear(4096, 4096): 16.8 MB of int8 weights, refused before an 80 MB weights.c is written."""
    factory = tmp_path / "big.py"
    factory.write_text("from torch import nn\n\n\ndef big():\n"
                       "    return nn.Sequential(nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 10))\n")
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.random.default_rng(0).standard_normal((40, 4096)).astype(np.float32))
    t0 = time.monotonic()
    code, out, err = run_cli(capsys, ["compile", f"{factory}:big", "--calib", calib, "-o",
                                                    tmp_path / "out", "--board", "nucleo-f446re"])
    seconds = time.monotonic() - t0
    assert code == 2, (out, err)
    assert err.splitlines()[-1].startswith("error: the model does not fit nucleo-f446re: flash needs at least "
                                           "16,8"), err
    assert "but nucleo-f446re has 524,288 B" in err and "RAM at least" in err
    assert seconds < 30, seconds
    assert leftovers(tmp_path, "out") == []
    sys.stderr.write(f"refused in {seconds:.1f} s\n")


# --- calibration ------------------------------------------------------------------------------------
def test_input_checks_name_their_numbers():
    x, _ = datasets.load_spec("digits", split="train", limit=64)
    assert check_inputs(x) == []
    assert check_inputs(x[:1]) == [
        ("1 calibration sample (< 32): ranges seen on so few miss the extremes of real inputs; give at least 32 "
        "(more data or --calib-limit)")]
    assert check_inputs(x[:5])[0].startswith("5 calibration samples (< 32)")
    (zero,) = check_inputs(np.zeros_like(x))
    assert zero.startswith("constant calibration input: all 4,096 values of the 64 samples are 0, which gives "
                           "an input scale of 3.9e-11 per step")
    (same,) = check_inputs(np.repeat(x[:1], 40, axis=0))
    assert same.startswith("all 40 calibration samples are identical")


@pytest.mark.parametrize("bad, counts", [(np.nan, "1 NaN and 0 infinite"), (np.inf, "0 NaN and 1 infinite")])
def test_non_finite_calibration_is_always_an_error(bad, counts):
    x, _ = datasets.load_spec("digits", split="train", limit=64)
    x = x.copy()
    x[7].flat[3] = bad
    with pytest.raises(CalibrationError, match=rf"^calibration data: {counts} values \(the first in sample 7\)"):
        check_inputs(x)
    with pytest.raises(CalibrationError, match="the model's outputs on the calibration data: 0 NaN and 2"):
        check_outputs(np.array([[0.0, np.inf], [-np.inf, 1.0]]), 0.01, 0)


def test_output_clipping_over_one_percent():
    scale, zp = 0.02, 0  # holds -2.56 .. 2.54
    logits = np.linspace(-2.5, 2.5, 1000)
    assert check_outputs(logits, scale, zp) == []
    wide = logits.copy()
    wide[:11] = 3.0  # 1.1 % clip
    (w,) = check_outputs(wide, scale, zp)
    assert w.startswith("11 of 1,000 calibration logits (1.1 %) fall outside the int8 output range [-2.56, 2.54]")
    wide[:10] = 3.0
    wide[10] = 0.0
    assert check_outputs(wide, scale, zp) == []  # exactly 1 % is allowed


def test_enforce_prints_or_raises(capsys):
    enforce(["a", "b"], strict=False)
    assert capsys.readouterr().err == "warning: a\nwarning: b\n"
    with pytest.raises(CalibrationError, match=r"^a \(and 1 more\); refused by --strict"):
        enforce(["a", "b"], strict=True)
    enforce([], strict=True)


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory) -> tuple[str, Path, np.ndarray]:
    """The digits MLP factory, trained weights, and its training inputs."""
    sys.path.insert(0, str(FIXTURES))
    from digits_mlp import trained

    model, x = trained(epochs=60)
    weights = tmp_path_factory.mktemp("w") / "digits.pt"
    torch.save(model.state_dict(), weights)
    return f"{FIXTURES / 'digits_mlp.py'}:digits_mlp", weights, x


@pytest.mark.parametrize("data, warning", [
    ("zero", ("warning: constant calibration input: all 4,096 values of the 64 samples are 0, which gives an "
             "input scale of 3.9e-11 per step")),
    ("one", "warning: 1 calibration sample (< 32)"),
])
def test_compile_warns_records_and_strict_refuses(digits_model, tmp_path, monkeypatch, capsys, data, warning):
    factory, weights, x = digits_model
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.zeros_like(x[:64]) if data == "zero" else x[:1])
    args = ["compile", factory, "--weights", weights, "--calib", calib, "--no-host-check"]
    code, out, err = run_cli(capsys, [*args, "-o", tmp_path / "strict", "--strict"])
    assert code == 2 and out == ""
    assert err.startswith(warning.replace("warning:", "error:")) and err.count("\n") == 1, err
    assert err.rstrip().endswith("refused by --strict (without it this is a warning)")
    assert leftovers(tmp_path, "strict") == []

    from click.testing import CliRunner
    from mcudeploy.cli import cli

    res = CliRunner().invoke(cli, [*map(str, args), "-o", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith(warning), res.stderr
    report = json.loads((tmp_path / "p" / "report.json").read_text())
    assert report["calibration"]["samples"] == (64 if data == "zero" else 1)
    assert report["calibration"]["warnings"] == [lines[0].removeprefix("warning: ")]


def test_nan_calibration_is_refused_by_compile_and_the_api(digits_model, tmp_path, monkeypatch, capsys):
    factory, weights, x = digits_model
    bad = x[:64].copy()
    bad[3].flat[0] = np.nan
    np.savez(tmp_path / "nan.npz", x=bad)
    code, _, err = run_cli(capsys, ["compile", factory, "--weights", weights, "--calib",
                                                  tmp_path / "nan.npz", "-o", tmp_path / "o"])
    assert code == 2 and "NaN" in err and err.count("\n") == 1
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    with pytest.raises(DataError, match=r"calibration data: 1 NaN and 0 infinite values \(the first in sample 3\)"):
        build_project(export_module(net, torch.from_numpy(x[:1])), bad, tmp_path / "api")
    assert leftovers(tmp_path, "o") == [] and leftovers(tmp_path, "api") == []
