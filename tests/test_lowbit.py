"""Ternary (2-bit) and int4 weights: compress --weight-bits makes them exact, the compiler detects
them and stores them packed, and the packed kernels (conv2d_lowbit_s8.c, fc_lowbit_s8.c) are
bit-exact with the numpy reference on the host (portable C) and on the Cortex-M4 (DSP, Unicorn)."""

import shutil

import numpy as np
import pytest
import torch
from conftest import compile_module, need_cc
from mcudeploy import datasets, hostrun
from mcudeploy import reference as R
from mcudeploy.bench import bench_project
from mcudeploy.codegen.kernels import LOWBIT, choose_format, layer_bytes, pack_lowbit, variant
from mcudeploy.compress import compress_model
from mcudeploy.compress.lowbit import quantize_weight
from mcudeploy.frontend import export_module
from mcudeploy.pipeline import build_project
from mcudeploy.project import Project
from mcudeploy.quantize import levels_per_channel
from torch import nn

FORMAT = {2: "ternary", 4: "int4"}


def unpack_like_the_kernel(words: np.ndarray, bits: int, o: int, kp: int) -> np.ndarray:
    """The C decode of mcd_lowbit_s8.h in numpy: (v << bits*j) & MASK, SXTB16 lanes, / 2^(8-bits)."""
    mask = 0xC0C0C0C0 if bits == 2 else 0xF0F0F0F0
    v = words.view(np.uint32).astype(np.uint64).reshape(o, -1)
    out = []
    for j in range(8 // bits):
        u = ((v << (bits * j)) & mask).astype(np.uint32)
        lanes = [((u >> (8 * b)) & 0xFF).astype(np.uint8).view(np.int8).astype(np.int32) >> (8 - bits)
                 for b in range(4)]
        out.append(np.stack([lanes[0], lanes[2], lanes[1], lanes[3]], axis=-1))  # SXTB16, SXTB16 ROR 8
    return np.stack(out, axis=2).reshape(o, kp)


@pytest.mark.parametrize("bits", [2, 4])
def test_packing_is_what_the_kernel_unpacks(bits):
    rng = np.random.default_rng(bits)
    top = 1 if bits == 2 else 7
    for k in (1, 7, 16, 25, 150):
        rows = rng.integers(-top, top + 1, (5, k)).astype(np.int8)
        words = pack_lowbit(rows, bits)
        kp = -(-k // (32 // bits)) * (32 // bits)
        assert words.dtype == np.int32 and words.size == 5 * kp * bits // 32
        got = unpack_like_the_kernel(words, bits, 5, kp)
        assert (got[:, :k] == rows).all() and not got[:, k:].any()


def lowbit_net(rng: np.random.Generator, pool: bool, pad: int) -> tuple[nn.Module, tuple[int, int, int]]:
    c, hw, o = int(rng.integers(1, 7)), int(rng.integers(7, 12)), int(rng.integers(1, 10))
    layers = [nn.Conv2d(c, o, 3, 1, pad), nn.ReLU()]
    out = hw + 2 * pad - 2
    if pool:
        layers.append(nn.MaxPool2d(2))
        out //= 2
    layers += [nn.Conv2d(o, 5, 3, 2, 1), nn.ReLU(), nn.Flatten()]
    out = (out - 1) // 2 + 1
    layers += [nn.Linear(5 * out * out, int(rng.integers(3, 30)))]
    return nn.Sequential(*layers).eval(), (c, hw, hw)


def quantized(net: nn.Module, bits: int) -> nn.Module:
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(quantize_weight(m.weight, bits))
                m.bias.normal_(0, 0.2)
    return net


@pytest.mark.parametrize("bits", [2, 4])
@pytest.mark.parametrize("seed", range(3))
def test_lowbit_kernels_bit_exact_host_and_m4(bits, seed, tmp_path):
    """Every conv and fc stored packed (forced), with padding, a fused pool or none, stride 2, odd
    K (rows padded to whole words): same bytes as the reference on the host and the M4."""
    need_cc()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    net, shape = lowbit_net(rng, pool=seed != 1, pad=seed % 2)
    net = quantized(net, bits)
    x = rng.standard_normal((32,) + shape).astype(np.float32)
    ep = export_module(net, torch.from_numpy(x[:1]))
    res = build_project(ep, x, tmp_path / "p", weights_format=FORMAT[bits])
    g = res.graph
    packed = [op for op in g.ops if variant(op) == "lowbit"]
    assert {op.kind for op in packed} == {"conv2d", "fc"}
    for op in packed:
        assert np.abs(op.arrays["weight"]).max() <= (1 if bits == 2 else 7)
        w = op.arrays["weight"]
        assert layer_bytes(g, op)["values"] == w.shape[0] * (-(-w[0].size * bits // 32)) * 4
    exe = hostrun.build_host(res.outdir / "engine", tmp_path / "hb")
    xq = R.prepare_input(g, x)
    assert (hostrun.run_host(exe, xq, g.tensors[g.output].size) == R.run(g, xq)).all()
    if shutil.which("arm-none-eabi-gcc"):
        for i in range(2):
            assert bench_project(Project(res.outdir), x[i:i + 1], workdir=tmp_path / f"b{i}")["bit_exact"]


def test_detection_and_format_choice(tmp_path):
    rng = np.random.default_rng(0)
    w = torch.from_numpy(rng.standard_normal((6, 3, 3, 3)).astype(np.float32))
    assert levels_per_channel(quantize_weight(w, 2).numpy()) == 1
    assert levels_per_channel(quantize_weight(w, 4).numpy()) == 7
    assert levels_per_channel(w.numpy()) is None
    # a big ternary fc: auto packs it (fewer bytes at a modest cycle cost); forced int4 on int8 values falls back
    net = quantized(nn.Sequential(nn.Linear(256, 64)).eval(), 2)
    x = rng.standard_normal((16, 256)).astype(np.float32)
    ep = export_module(net, torch.from_numpy(x[:1]))
    res = build_project(ep, x, tmp_path / "p", host_check=False)
    fc = res.graph.ops[0]
    assert fc.attrs["format"] in LOWBIT
    fc.arrays["weight"] = (fc.arrays["weight"] * 100).astype(np.int8)
    assert choose_format(res.graph, fc, "int4") in ("dense", "sparse")


@pytest.mark.parametrize("bits", [2, 4])
def test_compress_weight_bits_gives_exact_lowbit_weights_and_bit_exact_engine(bits, tmp_path):
    """compress_model(weight_bits) on a digits CNN (STE fine-tuning): every conv/linear weight is
    exactly scale * q per channel; compiled with auto formats, the packed layers are bit-exact on
    the host (build_project checks 64 samples) and on the M4."""
    need_cc()
    x, y = datasets.load("digits", "train")
    xt, yt = datasets.load("digits", "test")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 3 * 3, 64), nn.ReLU(), nn.Linear(64, 10))
    res = compress_model(net, torch.from_numpy(xt[:1]), train=(x, y), test=(xt, yt), weight_bits=bits,
                         epochs=3, lr=3e-3)
    for m in res.model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            assert levels_per_channel(m.weight.detach().numpy()) == (1 if bits == 2 else 7)
    assert res.report["settings"]["weight_bits"] == bits
    assert res.report["accuracy"]["after"] > 50  # it learned (from scratch, 3 epochs on 1,437 digits)
    out = compile_module(res.model, xt, tmp_path / "p")
    assert out.report["host_check"]["bit_exact"] == 64
    assert any(variant(op) == "lowbit" for op in out.graph.ops)
    if shutil.which("arm-none-eabi-gcc"):
        assert bench_project(Project(out.outdir), xt[:1], workdir=tmp_path / "b")["bit_exact"]


def sparse_ternary(o: int, k: int, density: float, rng: np.random.Generator) -> np.ndarray:
    """A pruned ternary weight (scale 0.05 x {-1, 0, 1}) with at least one +1 and one -1 per row."""
    q = (rng.random((o, k)) < density) * rng.choice([-1, 1], (o, k))
    q[:, 0], q[:, -1] = 1, -1
    return (0.05 * q).astype(np.float32)


def encode_like_the_kernel_reads(count: np.ndarray, gaps: np.ndarray, o: int, k: int) -> np.ndarray:
    """The walk of fc_ternary_sparse_s8.c in numpy: per row, count[2o] gaps of +1 positions from
    -1 (gap 0: advance 255), then count[2o + 1] gaps of -1 positions."""
    out, at = np.zeros((o, k), np.int8), 0
    for r in range(o):
        for sign, n in ((1, int(count[2 * r])), (-1, int(count[2 * r + 1]))):
            i = -1
            for d in gaps[at:at + n]:
                if d == 0:
                    i += 255
                    continue
                i += int(d)
                out[r, i] += sign
            at += n
    return out


@pytest.mark.parametrize("k", [7, 200, 700])
def test_ternary_sparse_encoding_round_trips(k):
    """One gap byte a non-zero, fillers only for gaps over 255 (k = 700 at 1 % density needs them)."""
    from mcudeploy.codegen.kernels import encode_ternary_sparse

    rng = np.random.default_rng(k)
    rows = (np.sign(sparse_ternary(9, k, 0.01 if k > 255 else 0.3, rng))).astype(np.int8)
    a = encode_ternary_sparse(rows)
    assert a["ts_count"].dtype == np.uint8 and a["ts_gap"].dtype == np.uint8
    assert (encode_like_the_kernel_reads(a["ts_count"], a["ts_gap"], 9, k) == rows).all()
    fillers = int((a["ts_gap"] == 0).sum())
    assert a["ts_gap"].size == np.count_nonzero(rows) + fillers and (fillers > 0) == (k == 700)


def test_ternary_sparse_fc_bit_exact_host_and_m4(tmp_path):
    """Pruned ternary fc layers forced to ternary_sparse, one with gaps over 255 (the filler loop)
    and one without: the same bytes as the numpy reference on the host and on the Cortex-M4, and
    auto picks the format by itself for the sparse layer (fewer bytes and estimated cycles)."""
    need_cc()
    from mcudeploy.codegen.kernels import TERNARY_SPARSE, kernel_arrays, ternary_sparse_fill

    rng = np.random.default_rng(0)
    net = nn.Sequential(nn.Linear(600, 24), nn.ReLU(), nn.Linear(24, 10)).eval()
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(sparse_ternary(24, 600, 0.01, rng)))
        net[2].weight.copy_(torch.from_numpy(sparse_ternary(10, 24, 0.3, rng)))
        net[0].bias.normal_(0, 0.2)
    x = rng.standard_normal((32, 600)).astype(np.float32)
    ep = export_module(net, torch.from_numpy(x[:1]))
    res = build_project(ep, x, tmp_path / "p", weights_format=TERNARY_SPARSE)
    g = res.graph
    fc1, fc2 = (op for op in g.ops if op.kind == "fc")
    assert [variant(fc1), variant(fc2)] == [TERNARY_SPARSE] * 2
    assert (ternary_sparse_fill(fc1), ternary_sparse_fill(fc2)) == (1, 0)
    fillers = int((kernel_arrays(g, fc1)["ts_gap"] == 0).sum())
    assert layer_bytes(g, fc1)["indices"] == 2 * 24 + int(np.count_nonzero(fc1.arrays["weight"])) + fillers
    exe = hostrun.build_host(res.outdir / "engine", tmp_path / "hb")
    xq = R.prepare_input(g, x)
    assert (hostrun.run_host(exe, xq, g.tensors[g.output].size) == R.run(g, xq)).all()
    if shutil.which("arm-none-eabi-gcc"):
        assert bench_project(Project(res.outdir), x[:1], workdir=tmp_path / "b")["bit_exact"]
    # auto: at 10 % density the gap bytes win on bytes and estimated cycles; at 1 % the per-row
    # set-up of two sets makes the (multiplying) sparse format the faster by more than 25 %
    assert choose_format(g, fc1, "auto") == "sparse"
    fc1.arrays["weight"] = np.sign(sparse_ternary(24, 600, 0.1, rng)).astype(np.int8)
    assert choose_format(g, fc1, "auto") == TERNARY_SPARSE
