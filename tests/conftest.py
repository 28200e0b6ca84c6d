"""Shared fixtures: trained example models (cached), data, and compiled projects."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import settings

# `make test` runs the suite on two pytest-xdist workers (one per core). Each worker then gets one
# torch thread, and so do the training loops (train_threads) and any mcudeploy it starts as a
# subprocess: two workers x two threads on two cores would make every barrier wait for a time slice.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if XDIST_WORKER:
    os.environ["MCUDEPLOY_TORCH_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1 if XDIST_WORKER else 2)
# tests/fixtures/ holds helper modules (mcd_cli, digits_mlp, fake_device, ...) that tests import
sys.path.insert(0, str(Path(__file__).parent / "fixtures"))

# Property tests check behaviour, not speed: on a loaded 2-core CI machine one example can take
# 0.6 s (hypothesis' 200 ms deadline then fails a correct test as "flaky"). Speed lives in benchmarks/.
settings.register_profile("mcudeploy", deadline=None)
settings.load_profile("mcudeploy")


def pytest_addoption(parser):
    parser.addoption("--board-hw", default=None,
                     help="run hardware tests on this physical board (a boards/ name); skipped otherwise")


# `make test` (what CI runs) sets MCUDEPLOY_REQUIRE_ALL=1 after scripts/setup.sh has installed every
# tool, package and data set; there a skipped test means a broken set-up, not a missing extra, so
# it fails instead of passing unseen. Only the physical-board tier may still skip.
REQUIRE_ALL = os.environ.get("MCUDEPLOY_REQUIRE_ALL") == "1"
MAY_SKIP = ("no physical board given",)


def _forbidden_skip(rep) -> str | None:
    """The skip reason when this report is a skip that REQUIRE_ALL turns into a failure."""
    if not (REQUIRE_ALL and rep.skipped) or hasattr(rep, "wasxfail"):
        return None
    reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
    return None if any(m in reason for m in MAY_SKIP) else reason


def _fail_forbidden_skip(rep) -> None:
    reason = _forbidden_skip(rep)
    if reason is not None:
        rep.outcome = "failed"
        rep.longrepr = f"skipped ({reason}), but MCUDEPLOY_REQUIRE_ALL=1 (make test, CI) allows no skips"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_forbidden_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):  # module-level skips (missing reference files)
    outcome = yield
    _fail_forbidden_skip(outcome.get_result())


def need_cc():
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no host C compiler (apt-get install gcc)")


def need_toolchain():
    """Skip (a failure under MCUDEPLOY_REQUIRE_ALL) when the firmware cannot be built here."""
    from mcudeploy.build import missing_tools

    missing = missing_tools()
    if missing:
        pytest.skip(f"toolchain absent ({', '.join(missing)}): apt-get install gcc-arm-none-eabi "
                    "libnewlib-arm-none-eabi cmake")


@pytest.fixture(scope="session")
def mnist():
    from mcudeploy import datasets

    xtr, ytr = datasets.load("mnist", "train")
    xte, yte = datasets.load("mnist", "test")
    return xtr, ytr, xte, yte


@pytest.fixture(scope="session")
def lenet(mnist):
    """LeNet-5 trained on the MNIST train split (cached across runs), as (module, weights path)."""
    from mcudeploy.train import cached_trained

    return cached_trained("lenet5", "mnist")


@pytest.fixture(scope="session")
def lenet_project(lenet, tmp_path_factory):
    from mcudeploy.paths import ROOT
    from mcudeploy.pipeline import compile_model

    _model, weights = lenet
    out = tmp_path_factory.mktemp("prj") / "lenet"
    return compile_model(f"{ROOT}/examples/lenet5.py:lenet5", str(weights), "mnist", out)


@pytest.fixture(scope="module")
def digits():
    """The sklearn digits data set: ((x, y) train, (x, y) test)."""
    from mcudeploy import datasets

    return datasets.load("digits", "train"), datasets.load("digits", "test")


@pytest.fixture(scope="module")
def digits_project(tmp_path_factory):
    """The sklearn-digits MLP (tests/fixtures/digits_mlp.py) compiled once per test module."""
    sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
    from digits_mlp import compile_digits

    out = tmp_path_factory.mktemp("digits") / "mlp"
    compile_digits(out)
    return out


def compile_module(module: torch.nn.Module, calib_x: np.ndarray, outdir: Path):
    from mcudeploy.frontend import export_module
    from mcudeploy.pipeline import build_project

    ep = export_module(module, torch.from_numpy(calib_x[:1]))
    return build_project(ep, calib_x, outdir)


# Under `make test`'s `-n 2 --dist loadfile`, whole files go to whichever worker is free, in
# collection order. Alphabetical order left the longest files (the MLPerf runner's 4-minute set-up
# at load 15) to the end, with one worker idle while the other finished them. These go first
# (longest first, from `--durations` of a -n 2 run); a stale list costs minutes, never a result.
HEAVY_FIRST = ("test_mlperf_runner.py", "test_dw_pw_kernels.py", "test_dense_gemm_m4.py", "test_lowbit.py",
               "test_mlperf_suite.py", "test_farm_sweep.py", "test_farm_suite.py", "test_kernels_m4.py",
               "test_mlperf_protocol.py", "test_families_emulated.py", "test_setup_errors.py", "test_fuzz.py",
               "test_combine_net.py", "test_validate_emulated.py", "test_virtual_board.py", "test_demo.py")


def pytest_collection_modifyitems(config, items):
    if getattr(config.option, "dist", "no") == "no":
        return  # a serial run keeps pytest's own order
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept otherwise
