"""The timing harness's run is reused only while nothing it depends on changed (bench.harness_run):
the engine's sources, the input, the harness template, the core's flags, the compiler."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch
from conftest import compile_module, need_toolchain
from mcudeploy import bench
from mcudeploy.project import Project
from torch import nn


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    need_toolchain()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4)).eval()
    x = np.random.default_rng(0).standard_normal((32, 1, 4, 4)).astype(np.float32)
    res = compile_module(net, x, tmp_path_factory.mktemp("tiny") / "p")
    return Project(res.outdir), x


def test_second_bench_reuses_the_run_and_gives_the_same_figures(tiny, monkeypatch):
    prj, x = tiny
    first = bench.bench_project(prj, x[:1])
    assert (prj.path / "bench" / "estimate.json").is_file()
    monkeypatch.setattr(bench, "estimate", lambda *a, **k: pytest.fail("ran the timing model again"))
    assert bench.bench_project(prj, x[:1]) == first
    with pytest.raises(pytest.fail.Exception, match="again"):  # another input is another run
        bench.bench_project(prj, x[1:2])


def test_a_stored_run_that_disagrees_with_the_reference_is_not_reported(tiny):
    prj, x = tiny
    bench.bench_project(prj, x[:1])
    saved = prj.path / "bench" / "estimate.json"
    doc = json.loads(saved.read_text())
    doc["run"]["output"] = "00" * (len(doc["run"]["output"]) // 2)
    saved.write_text(json.dumps(doc))
    try:
        with pytest.raises(bench.McdError, match="differs from the reference"):
            bench.bench_project(prj, x[:1])
    finally:
        saved.unlink()


def test_the_key_changes_with_each_thing_the_run_depends_on(tiny, tmp_path, monkeypatch):
    prj, _x = tiny
    xq = np.arange(16, dtype=np.int8)
    base = bench.harness_key(prj.engine_dir, xq, "cortex-m4")
    assert bench.harness_key(prj.engine_dir, xq.copy(), "cortex-m4") == base
    assert bench.harness_key(prj.engine_dir, xq + 1, "cortex-m4") != base
    assert bench.harness_key(prj.engine_dir, xq, "cortex-m7") != base
    engine = tmp_path / "engine"
    shutil.copytree(prj.engine_dir, engine)
    assert bench.harness_key(engine, xq, "cortex-m4") == base  # where the project lies does not matter
    with open(engine / "model.c", "a") as f:
        f.write("\n/* edited */\n")
    assert bench.harness_key(engine, xq, "cortex-m4") != base
    harness = tmp_path / "harness"
    shutil.copytree(bench.BENCH, harness)
    monkeypatch.setattr(bench, "BENCH", harness)
    assert bench.harness_key(prj.engine_dir, xq, "cortex-m4") == base
    with open(harness / "bench_main.c", "a") as f:
        f.write("\n")
    assert bench.harness_key(prj.engine_dir, xq, "cortex-m4") != base
    monkeypatch.setattr(bench, "BENCH", bench.FIRMWARE_TEMPLATE / "bench")
    fake = tmp_path / "bin"
    fake.mkdir()
    real_gcc = shutil.which("arm-none-eabi-gcc")
    (fake / "arm-none-eabi-gcc").write_text(f'#!/bin/sh\necho "other gcc 99.1"; exec {real_gcc} "$@"\n')
    (fake / "arm-none-eabi-gcc").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    assert bench.harness_key(prj.engine_dir, xq, "cortex-m4") != base  # another compiler
