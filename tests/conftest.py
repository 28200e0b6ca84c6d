"""Shared fixtures: trained example models (cached), data, and compiled projects."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(2)


def pytest_addoption(parser):
    parser.addoption("--board-hw", default=None,
                     help="run hardware tests on this physical board (a boards/ name); skipped otherwise")


def need_cc():
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no host C compiler (apt-get install gcc)")


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


def compile_module(module: torch.nn.Module, calib_x: np.ndarray, outdir: Path):
    from mcudeploy.frontend import export_module
    from mcudeploy.pipeline import build_project

    ep = export_module(module, torch.from_numpy(calib_x[:1]))
    return build_project(ep, calib_x, outdir)
