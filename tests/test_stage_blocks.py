"""Weights and requantization records staged into SRAM by mcd_conv2d_s8 (codegen/kernels.py:
stage_weights, _stage_more): the records with whole staged weights (fast bit 8), and blocked
staging (fast >> 16 = channels a block) for weights too large for the free arena (IC's last 3x3
conv, 36 KB). Each engine is checked on the host (portable C, by the build) and on the Cortex-M4
build (DSP asm, Unicorn, by bench_project) against the numpy reference."""

import shutil

import numpy as np
import pytest
import torch
from mcudeploy import hostrun
from mcudeploy import reference as R
from mcudeploy.bench import bench_project
from mcudeploy.codegen import fuse
from mcudeploy.codegen.kernels import scratch_for, stage_weights
from mcudeploy.frontend import export_module
from mcudeploy.pipeline import build_project
from mcudeploy.plan import plan
from mcudeploy.project import Project
from torch import nn

pytestmark = pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed")


def _build(net, shape, tmp_path, rounding, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((16,) + shape).astype(np.float32)
    res = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / rounding, rounding=rounding)
    r = bench_project(Project(res.outdir), x[:1], workdir=tmp_path / f"b{rounding}")  # raises unless bit exact
    assert r["bit_exact"]
    return res


def _fast(res) -> list[int]:
    model_c = (res.outdir / "engine" / "model.c").read_text()
    return [int(line.split("_rq, ")[1].split(",")[0]) for line in model_c.splitlines() if "mcd_conv2d_s8(" in line]


def test_blocked_staging_selected_without_raising_the_peak(tmp_path, monkeypatch):
    """Three convs: the first's weights fit the free arena whole (records staged with them, fast
    3 | 8), the second is at the peak (weights and records into its input's dead rows, 5 | 8), the
    third's 6 KB of weights fit nowhere whole, so they go in blocks of the most channels that fit
    (a multiple of 4, here 29 channels in two blocks, the last odd); no staging raises the arena.
    The first conv would go to mcd_conv2d_few_s8 (which stages its own pack): kept on the GEMM here."""
    import mcudeploy.codegen.kernels as K
    monkeypatch.setattr(K, "FEW_MIN_C_OUT", 1 << 30)
    torch.manual_seed(7)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.ReLU(), nn.Conv2d(16, 24, 3, 2, 1), nn.ReLU(),
                        nn.Conv2d(24, 29, 3, 1, 1), nn.ReLU(), nn.Flatten()).eval()
    res = _build(net, (3, 24, 24), tmp_path, "single", 7)
    g = Project(res.outdir).graph
    convs = [op for op in g.ops if op.kind == "conv2d"]
    assert [op.attrs.get("stage_weights") for op in convs] == [True, "input", "block"]
    assert [bool(op.attrs.get("stage_rq")) for op in convs[:2]] == [True, True]
    nb = convs[2].attrs["stage_block"]
    assert nb % 4 == 0 and 8 <= nb < 29
    assert _fast(res) == [1 | 2 | 8, 1 | 4 | 8, 1 | nb << 16]
    assert stage_weights(g) == [op.name for op in convs]  # the same choice again, in graph order
    staged = plan(g, scratch=scratch_for(g)).arena_bytes
    for op in g.ops:
        for key in ("stage_weights", "stage_block", "stage_rq"):
            op.attrs.pop(key, None)
    assert staged == plan(g, scratch=scratch_for(g)).arena_bytes  # no byte of peak RAM


@pytest.mark.parametrize("rounding", ["single", "double"])
@pytest.mark.parametrize("nb", [4, 8, 12])  # 11 channels: three blocks (4, 4, 3), two (8, 3), one (11)
def test_blocked_staging_block_counts_bit_exact(nb, rounding, tmp_path, monkeypatch):
    """Blocks forced onto a conv with 11 output channels (an odd last block: a zero partner row),
    K = 45 (K4 48), a 7x5 map (a lone last pixel, padded borders): the block's weights and records
    are copied over each other, and every output channel still equals the reference."""
    def forced(g):
        marked = stage_weights(g)
        op = [op for op in g.ops if op.kind == "conv2d"][-1]
        op.attrs.pop("stage_rq", None)
        op.attrs.update(stage_weights="block", stage_block=nb)
        return marked

    monkeypatch.setattr(fuse, "stage_weights", forced)  # what layout() calls
    torch.manual_seed(nb)
    net = nn.Sequential(nn.Conv2d(5, 11, 3, 1, 1), nn.ReLU(), nn.Flatten()).eval()
    res = _build(net, (5, 7, 5), tmp_path, rounding, nb)
    assert _fast(res)[-1] >> 16 == nb
    g = res.graph  # and clean under AddressSanitizer and UBSan on the host (the copies stay in the scratch)
    flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]
    exe = hostrun.build_host(res.outdir / "engine", tmp_path / "asan", extra_flags=flags)
    xq = R.prepare_input(g, np.random.default_rng(5).standard_normal((4, 5, 7, 5)).astype(np.float32))
    assert (hostrun.run_host(exe, xq, g.tensors[g.output].size) == R.run(g, xq)).all()


def test_ic_resnet8_selection():
    """On the official IC ResNet-8 (int8 .tflite, litert rounding): every 3x3 conv after the first
    stages its records with its weights; conv2d_2, at the arena's peak, stages into its input's
    dead rows and first reads a copy in its output's tail; conv2d_9's 36 KB go in blocks; the
    arena is what it is with no staging at all (49,792 B)."""
    from mcudeploy.codegen.kernels import pointwise_4px
    from mcudeploy.tflite_import import import_tflite
    from mcudeploy.zoo import mlperf_tiny as mt

    path = mt.MODEL_DIR / mt.INT8_FILES["ic_resnet8"]
    if not path.is_file():
        pytest.skip(f"MLPerf Tiny reference files not found in {mt.MODEL_DIR}")
    g = import_tflite(path, "litert")
    pointwise_4px(g)
    stage_weights(g)
    a = {op.name: op.attrs for op in g.ops if op.kind == "conv2d" and op.arrays["weight"].shape[1] == 3
         and op.name != "conv2d_0"}  # the first conv (3 channels in) has a kernel of its own to come
    assert {n: v.get("stage_weights") for n, v in a.items()} == {
        "conv2d_1": True, "conv2d_2": "input", "conv2d_4": True, "conv2d_5": True,
        "conv2d_8": True, "conv2d_9": "block"}
    assert all(v.get("stage_rq") for n, v in a.items() if n != "conv2d_9") and a["conv2d_2"].get("stage_out_tail")
    assert 8 <= a["conv2d_9"]["stage_block"] < 64
    staged = plan(g, scratch=scratch_for(g)).arena_bytes
    for op in g.ops:
        for key in ("stage_weights", "stage_block", "stage_rq", "stage_out_tail"):
            op.attrs.pop(key, None)
    assert staged == plan(g, scratch=scratch_for(g)).arena_bytes == 49_792
