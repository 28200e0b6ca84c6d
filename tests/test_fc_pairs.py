"""The dense fc kernel's pair layout (mcd_fc_s8.h, codegen/fc_pack.py): the odd row of each pair
is read from the raw weight word and recovered as (A - B) >> 8, which is exact only while
|bias| + 255 * sum|w| < 2^23. These tests put a layer exactly at that bound (the flag is set, and
the worst-case input reaches it) and just past it (the flag is off: the fallback reads the odd row
by SXTB16 ROR 8), and check the engine on the host (portable C) and on the Cortex-M4 build (DSP
asm, Unicorn, by bench_project) against the numpy reference under both rounding rules."""

import shutil

import numpy as np
import pytest
import torch
from mcudeploy.bench import bench_project
from mcudeploy.codegen.fc_pack import PAIRS_RAW, RQ_FAST, pack_fc_pairs, pairs_raw_ok
from mcudeploy.frontend import export_module
from mcudeploy.pipeline import build_project
from mcudeploy.project import Project
from torch import nn


def test_pack_fc_pairs_layout():
    """Word by word: (r0[k] + 128, r1[k], r0[k+1] + 128, r1[k+1]); with raw, the four pairs of a
    block of eight rows alternate per tap pair; the pair after the block is stored whole; an odd
    last row gets a zero partner; K pads to K4 (padding taps: 128 in the even byte, 0 in the odd)."""
    w = (np.arange(11 * 6).reshape(11, 6) % 251 - 125).astype(np.int8)  # 11 rows, K = 6 -> K4 = 8
    p = pack_fc_pairs(w, raw=True).reshape(-1, 4).astype(np.int16)
    assert len(p) == 6 * 4  # 6 pairs (the 12th row a zero partner) x 4 tap pairs
    u = (p + 256) % 256  # bytes as stored
    w = w.astype(np.int64)
    assert u[0].tolist() == [w[0, 0] + 128, w[1, 0] % 256, w[0, 1] + 128, w[1, 1] % 256]
    assert u[1].tolist() == [w[2, 0] + 128, w[3, 0] % 256, w[2, 1] + 128, w[3, 1] % 256]  # pair 1, same taps
    assert u[4].tolist() == [w[0, 2] + 128, w[1, 2] % 256, w[0, 3] + 128, w[1, 3] % 256]  # pair 0, taps 2, 3
    assert u[11].tolist() == [w[6, 4] + 128, w[7, 4] % 256, w[6, 5] + 128, w[7, 5] % 256]
    assert u[12].tolist() == [128, 0, 128, 0]  # pair 0, taps 6, 7: padding
    assert u[16].tolist() == [w[8, 0] + 128, w[9, 0] % 256, w[8, 1] + 128, w[9, 1] % 256]  # pair 4, after the block
    assert u[20].tolist() == [w[10, 0] + 128, 0, w[10, 1] + 128, 0]  # row 10 and its zero partner
    flat = (pack_fc_pairs(w.astype(np.int8), raw=False).reshape(6, 4, 4).astype(np.int16) + 256) % 256
    assert flat[1, 0].tolist() == [w[2, 0] + 128, w[3, 0] % 256, w[2, 1] + 128, w[3, 1] % 256]  # pair after pair


def test_pairs_raw_ok_bound():
    w = np.zeros((4, 256), np.int8)
    w[1] = 127  # odd row: 255 * 127 * 256 = 8,290,560 < 2^23
    assert pairs_raw_ok(w, np.zeros(4, np.int32))
    assert not pairs_raw_ok(w, np.array([0, 98_049, 0, 0], np.int32))  # + bias = 2^23
    w[0] = 127  # even rows never limit
    w[1] = 0
    assert pairs_raw_ok(np.concatenate([w, np.full((1, 256), 127, np.int8)]), np.zeros(5, np.int32))


needs_gcc = pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed")


def _extreme_linear(k: int, out_n: int) -> nn.Module:
    """Odd rows all +1 or -1 (quantized to +-127), even rows random; no bias: with every input at
    the top of its range (x = q - zp = 255) the odd rows' |acc| = 255 * 127 * k."""
    torch.manual_seed(k)
    lin = nn.Linear(k, out_n, bias=False)
    with torch.no_grad():
        lin.weight.uniform_(-1, 1)
        lin.weight[1::2] = torch.tensor([1.0, -1.0]).repeat(out_n)[: len(lin.weight[1::2])].unsqueeze(1)
    return nn.Sequential(lin).eval()


@needs_gcc
@pytest.mark.parametrize("rounding", ["single", "double"])
@pytest.mark.parametrize("k,flags", [(256, PAIRS_RAW | RQ_FAST), (260, RQ_FAST)], ids=["at_bound", "past_bound"])
def test_fc_pairs_exact_at_and_past_the_bound(k, flags, rounding, tmp_path):
    out_n = 11  # one block of eight rows, a pair, a row with a zero partner
    rng = np.random.default_rng(k)
    x = rng.uniform(0, 1, (32, k)).astype(np.float32)
    x[0], x[1] = 1.0, 0.0  # calibration range exactly [0, 1]: zp = -128, so x = 1.0 gives q - zp = 255
    res = build_project(export_module(_extreme_linear(k, out_n), torch.from_numpy(x[:1])), x, tmp_path / rounding,
                        rounding=rounding)  # raises when the host C differs from the reference
    call = next(line for line in (res.outdir / "engine" / "model.c").read_text().splitlines() if "mcd_fc_s8(" in line)
    assert int(call.rstrip().rstrip(");").split(",")[-1]) & (PAIRS_RAW | RQ_FAST) == flags, call  # the variant under test
    fc = next(op for op in res.graph.ops if op.kind == "fc")
    assert res.graph.tensors[fc.inputs[0]].zero_point == -128
    assert int(np.abs(fc.arrays["weight"][1::2].astype(np.int64)).min()) == 127
    for i in (0, 2):  # the worst case (every odd row at +-255 * 127 * k) and a random input
        r = bench_project(Project(res.outdir), x[i:i + 1], workdir=tmp_path / f"b{rounding}{i}")
        assert r["bit_exact"]


# (in_n, out_n) through the eight-row blocks: K4 = 12 (the 4- and 2-step blocks before the loop, no
# loop), 36 (2 steps + 2 loop passes), 44 (4 + 2 steps + 2 passes, a pair and an odd row after the
# blocks), 30 (K4 = 32: zero-padded taps, two passes); 8, 16, 17, 9 rows
BLOCKS = [(12, 8), (36, 16), (44, 17), (30, 9)]


@needs_gcc
@pytest.mark.parametrize("rounding", ["single", "double"])
@pytest.mark.parametrize("case", BLOCKS, ids=[f"in{c[0]}out{c[1]}" for c in BLOCKS])
def test_fc_blocks_bit_exact(case, rounding, tmp_path):
    in_n, out_n = case
    torch.manual_seed(in_n * 7 + out_n)
    x = np.random.default_rng(in_n).standard_normal((32, in_n)).astype(np.float32)
    res = build_project(export_module(nn.Sequential(nn.Linear(in_n, out_n)).eval(), torch.from_numpy(x[:1])), x,
                        tmp_path / rounding, rounding=rounding)  # raises when the host C differs from the reference
    call = next(line for line in (res.outdir / "engine" / "model.c").read_text().splitlines() if "mcd_fc_s8(" in line)
    assert int(call.rstrip().rstrip(");").split(",")[-1]) & PAIRS_RAW, call  # the blocks ran
    for i in range(2):
        assert bench_project(Project(res.outdir), x[i:i + 1], workdir=tmp_path / f"b{rounding}{i}")["bit_exact"]


@needs_gcc
@pytest.mark.parametrize("rounding", ["single", "double"])
def test_fc_blocks_generic_requantization_bit_exact(rounding, tmp_path):
    """Shifts below the fast rule's range (-2, -1: the outputs cancel on the calibration inputs,
    so their scale is tiny): the blocks run and every output takes the generic rule (no
    MCD_FC_RQ_FAST), on the host and the M4."""
    torch.manual_seed(0)
    lin = nn.Linear(16, 10)
    with torch.no_grad():
        lin.weight.uniform_(-1, 1)
        lin.bias.zero_()
        lin.weight[:, 8:] = -lin.weight[:, :8]  # out = w . (x[:8] - x[8:])
    rng = np.random.default_rng(0)
    half = rng.uniform(-1, 1, (32, 8)).astype(np.float32)
    x = np.concatenate([half, half + rng.uniform(-1e-3, 1e-3, (32, 8)).astype(np.float32)], 1)
    res = build_project(export_module(nn.Sequential(lin).eval(), torch.from_numpy(x[:1])), x, tmp_path / rounding,
                        rounding=rounding)
    fc = next(op for op in res.graph.ops if op.kind == "fc")
    assert int(fc.arrays["shift"].max()) < 1
    call = next(line for line in (res.outdir / "engine" / "model.c").read_text().splitlines() if "mcd_fc_s8(" in line)
    assert int(call.rstrip().rstrip(");").split(",")[-1]) == PAIRS_RAW, call
    for i in range(2):
        assert bench_project(Project(res.outdir), x[i:i + 1], workdir=tmp_path / f"b{i}")["bit_exact"]


@needs_gcc
def test_official_ad_autoencoder_on_the_m4_equals_litert(tmp_path):
    """The official MLPerf Tiny AD autoencoder (int8, per-tensor quantization): every fc layer takes
    the pair blocks, the one-SMMLA and the uniform requantization; the M4 build (asm, Unicorn, by
    bench_project, which raises on any difference from the reference) on inputs the reference
    also shares byte for byte with LiteRT's reference kernels."""
    pytest.importorskip("ai_edge_litert", reason="pip install ai-edge-litert")
    from mcudeploy import reference as R
    from mcudeploy.codegen.fc_pack import RQ_UNIFORM
    from mcudeploy.litert import run_reference_kernels
    from mcudeploy.tflite_pipeline import compile_tflite
    from mcudeploy.zoo import mlperf_tiny as mt

    path = mt.MODEL_DIR / mt.INT8_FILES["ad_autoencoder"]
    res = compile_tflite(path, tmp_path / "ad", host_check=False)
    calls = [line for line in (res.outdir / "engine" / "model.c").read_text().splitlines() if "mcd_fc_s8(" in line]
    assert len(calls) == 10 and all(c.rstrip().endswith(f", {PAIRS_RAW | RQ_FAST | RQ_UNIFORM});") for c in calls)
    x = mt.sample_inputs("ad_autoencoder", 2, seed=21)
    xq = R.prepare_input(res.graph, x)
    assert (R.run(res.graph, xq) == run_reference_kernels(path, xq)).all()
    for i in range(2):
        assert bench_project(Project(res.outdir), x[i:i + 1], workdir=tmp_path / f"b{i}")["bit_exact"]
