"""The kernels as compiled for the Cortex-M4 (DSP extension: SMLAD, SXTB16) on randomised shapes,
run instruction by instruction in the emulated core (Unicorn) and compared with the numpy
reference byte for byte. The host tests cover the same C with the portable SIMD helpers."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import compile_module
from mcudeploy.bench import bench_project
from mcudeploy.project import Project
from torch import nn

pytestmark = pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed")


def random_net(rng: np.random.Generator) -> tuple[nn.Module, tuple[int, int, int]]:
    c = int(rng.integers(1, 9))
    hw = int(rng.integers(6, 15))
    k = int(rng.choice([1, 3, 5]))
    s = int(rng.choice([1, 2]))
    p = int(rng.integers(0, k // 2 + 1))
    o = int(rng.integers(1, 12))
    layers = [nn.Conv2d(c, o, k, s, p), nn.ReLU()]
    out = (hw + 2 * p - k) // s + 1
    if out >= 4 and rng.random() < 0.5:
        layers.append(nn.MaxPool2d(2))
        out //= 2
    layers += [nn.Conv2d(o, o, 3, 1, 1, groups=o), nn.ReLU6(), nn.Flatten(),
               nn.Linear(o * out * out, int(rng.integers(1, 20)))]
    return nn.Sequential(*layers).eval(), (c, hw, hw)


@pytest.mark.parametrize("seed", range(6))
def test_random_shapes_bit_exact_on_cortex_m4(seed, tmp_path):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    net, shape = random_net(rng)
    x = rng.standard_normal((64,) + shape).astype(np.float32)
    res = compile_module(net, x, tmp_path / "p")
    r = bench_project(Project(res.outdir), x[:1])  # raises if the M4 output differs from the reference
    assert r["bit_exact"] and r["estimated_cycles"] > 0


def pruned(net: nn.Module, rng: np.random.Generator, keep: float) -> nn.Module:
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(torch.from_numpy((rng.random(m.weight.shape) < keep).astype(np.float32)))
    return net


@pytest.mark.parametrize("seed", range(4))
def test_sparse_formats_bit_exact_on_host_and_cortex_m4(seed, tmp_path):
    """Weights stored sparse (forced for every conv/fc, random sparsity, with padding, pools, long
    index gaps bridged by fillers) give the same bytes as the reference, on the host and the M4."""
    from conftest import need_cc
    from mcudeploy import hostrun
    from mcudeploy import reference as R
    from mcudeploy.frontend import export_module
    from mcudeploy.pipeline import build_project

    need_cc()
    rng = np.random.default_rng(100 + seed)
    torch.manual_seed(seed)
    net, shape = random_net(rng)
    net = pruned(net, rng, keep=float(rng.choice([0.02, 0.1, 0.4])))
    x = rng.standard_normal((64,) + shape).astype(np.float32)
    res = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / "p", weights_format="sparse")
    g = res.graph
    assert any(op.attrs.get("format") == "sparse" for op in g.ops)
    exe = hostrun.build_host(res.outdir / "engine", tmp_path / "hb")
    xq = R.prepare_input(g, x)
    assert (hostrun.run_host(exe, xq, g.tensors[g.output].size) == R.run(g, xq)).all()
    assert bench_project(Project(res.outdir), x[:1])["bit_exact"]


def test_sparse_index_gaps_over_255_use_fillers():
    from mcudeploy.codegen.kernels import encode_sparse

    rows = np.zeros((2, 700), np.int8)
    rows[0, [3, 600, 699]] = [5, -7, 9]
    enc = encode_sparse(rows, np.arange(700))
    assert enc["sp_ptr"].tolist() == [0, 5, 5]  # 3 non-zeros + 2 fillers for the 597 gap
    walk, pos = [], 0
    for dlt, val in zip(enc["sp_delta"][:5], enc["sp_val"][:5]):
        pos += int(dlt)
        if val:
            walk.append((pos, int(val)))
    assert walk == [(3, 5), (600, -7), (699, 9)]


@pytest.mark.parametrize("flags", [["-O3", "-mcpu=cortex-m4"],
                                   ["-O3", "-mcpu=cortex-m4", "-mthumb", "-DMCD_USE_DSP"],
                                   ["-O2", "-mcpu=cortex-m0plus", "-mthumb"],
                                   ["-O3", "-mcpu=cortex-m4", "-DMCD_NO_DSP"],
                                   ["-O0", "-mcpu=cortex-m4", "-mthumb"],  # a debug build
                                   ["-Os", "-mcpu=cortex-m4", "-mthumb"]])
def test_engine_stands_alone_for_arm_cores(lenet_project, tmp_path, flags):
    """engine/ compiles for the core with these flags and nothing else (the old -DMCD_USE_DSP is
    still accepted; -DMCD_NO_DSP forces the portable C)."""
    import subprocess

    srcs = sorted(str(p) for p in (lenet_project.outdir / "engine").glob("*.c"))
    subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-Wall", "-Werror", *flags, "-c", *srcs], cwd=tmp_path, check=True)


# The DSP kernels' dual 16-bit MAC and byte widening (SMLAD/X, SXTB16, SXTAB16); gcc does not
# produce these from portable C (it does produce SMLABB from an int16 multiply-add, so not that).
_DSP_OPS = re.compile(r"\t(smladx?|sxtab?16)\b")
_M4_PLAIN = ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]  # what a user's project passes


def _dsp_ops(engine, flags: list[str], tmp_path) -> int:
    """DSP instructions in engine/'s objects compiled -O3 with ``flags``."""
    import subprocess

    srcs = sorted(str(p) for p in engine.glob("*.c"))
    subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-O3", *flags, "-c", *srcs], cwd=tmp_path, check=True)
    objs = sorted(str(p) for p in tmp_path.glob("*.o"))
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", *objs], capture_output=True, text=True, check=True).stdout
    for o in objs:
        Path(o).unlink()
    return len(_DSP_OPS.findall(dis))


def test_plain_mcpu_flags_select_the_dsp_kernels(tmp_path):
    """Built as a user would (-mcpu=cortex-m4 and the FPU flags, no mcudeploy define), engine/ runs
    the DSP kernels: its objects hold SMLAD/SXTB16 and the estimated cycles equal the old explicit
    -DMCD_USE_DSP build's. -DMCD_NO_DSP (and a Cortex-M0+) gives the portable C, which is slower."""
    from mcudeploy import reference as R
    from mcudeploy.bench import CORE_FLAGS, build_harness
    from mcudeploy.cycles import estimate

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 1, 1, groups=8), nn.ReLU(),
                        nn.Conv2d(8, 16, 1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 8 * 8, 10)).eval()
    x = np.random.default_rng(0).standard_normal((32, 3, 8, 8)).astype(np.float32)
    res = compile_module(net, x, tmp_path / "p")
    engine, g = res.outdir / "engine", res.graph
    xq = R.prepare_input(g, x[:1])
    want = R.run(g, xq)[0].tolist()

    def cycles(name: str, flags: list[str]) -> int:
        run = estimate(build_harness(engine, xq[0], tmp_path / name, cpu_flags=flags))
        assert np.frombuffer(bytes.fromhex(run.output.strip()), np.int8).tolist() == want, name
        return run.marks[-1][1] - run.marks[0][1]

    plain = cycles("plain", _M4_PLAIN)
    explicit = cycles("explicit", [*CORE_FLAGS["cortex-m4"], "-DMCD_USE_DSP"])
    portable = cycles("portable", [*_M4_PLAIN, "-DMCD_NO_DSP"])
    assert plain == explicit
    assert portable > plain * 1.3, (portable, plain)
    assert _dsp_ops(engine, _M4_PLAIN, tmp_path) > 10
    assert _dsp_ops(engine, [*_M4_PLAIN, "-DMCD_NO_DSP"], tmp_path) == 0
    assert _dsp_ops(engine, ["-mcpu=cortex-m0plus", "-mthumb"], tmp_path) == 0


def _tile_net(rng: np.random.Generator, seed: int) -> tuple[nn.Module, tuple[int, int, int]]:
    """Stride-1 convs for the 2 x 4 tile kernel: odd sizes, padding borders, with and without a
    pool, few and many input channels (strips of one tile and of a whole row)."""
    c, hw, k, pad, pool = [(1, 13, 5, 2, True), (3, 9, 3, 1, False), (6, 11, 5, 0, True), (16, 7, 5, 2, False),
                           (2, 6, 1, 0, False), (5, 10, 3, 0, True)][seed]
    o = int(rng.integers(3, 11))
    layers = [nn.Conv2d(c, o, k, 1, pad), nn.ReLU()]
    out = hw + 2 * pad - k + 1
    if pool:
        layers.append(nn.MaxPool2d(2))
        out //= 2
    layers += [nn.Conv2d(o, 4, 3, 1, 1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * out * out, 7)]
    return nn.Sequential(*layers).eval(), (c, hw, hw)


@pytest.mark.parametrize("seed", range(6))
def test_sparse_tile_conv_edge_cases_bit_exact_on_host_and_cortex_m4(seed, tmp_path):
    """The tile kernel (sparse_tile) and the record fc on the host and the M4, against the
    reference: all-zero filters, single non-zeros, gaps bridged by fillers, odd non-zero counts,
    partial tiles at the right and bottom edges, padding, C_in = 1 .. 16."""
    from conftest import need_cc
    from mcudeploy import hostrun
    from mcudeploy import reference as R
    from mcudeploy.codegen.kernels import variant
    from mcudeploy.frontend import export_module
    from mcudeploy.pipeline import build_project

    need_cc()
    rng = np.random.default_rng(300 + seed)
    torch.manual_seed(seed)
    net, shape = _tile_net(rng, seed)
    net = pruned(net, rng, keep=float([0.3, 0.05, 0.5, 0.1, 0.6, 0.2][seed]))
    with torch.no_grad():
        w = net[0].weight
        w[0].zero_()                        # an empty filter: only the bias
        if w.shape[0] > 2:
            w[1].zero_()
            w[1].view(-1)[-1] = 0.5         # one non-zero, at the far end of the window (fillers)
        if w.shape[0] > 3:
            w[2].zero_()
            w[2].view(-1)[0] = -0.4
            w[2].view(-1)[-1] = 0.3         # first and last: the longest gap
    x = rng.standard_normal((32,) + shape).astype(np.float32)
    res = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / "p", weights_format="sparse")
    g = res.graph
    assert [variant(op) for op in g.ops if op.kind == "conv2d"] == ["sparse_tile", "sparse_tile"]
    exe = hostrun.build_host(res.outdir / "engine", tmp_path / "hb")
    xq = R.prepare_input(g, x)
    assert (hostrun.run_host(exe, xq, g.tensors[g.output].size) == R.run(g, xq)).all()
    assert bench_project(Project(res.outdir), x[:1])["bit_exact"]


def test_tile_records_pack_two_non_zeros_with_fillers_and_pads():
    from mcudeploy.codegen.kernels import encode_tile

    rows = np.zeros((3, 200), np.int8)
    rows[0, [2, 5, 150]] = [7, -3, 100]    # 150 - 5 = 145 words = 580 bytes: two fillers of 252
    rows[2, [0]] = [-128]
    enc = encode_tile(rows, np.arange(200))
    def unpack(rec):
        b = rec.view(np.uint8).reshape(-1, 4)  # little-endian records: d0 w0 d1 w1
        return [(int(r[2 * h]), int(np.int8(r[2 * h + 1]))) for r in b for h in (0, 1)]

    slots = unpack(enc["sp_rec"])
    assert enc["sp_ptr"].tolist() == [0, 3, 3, 4]   # row 0: 5 slots + pad = 3 records; row 1 empty
    assert slots[:6] == [(8, 7), (12, -3), (252, 0), (252, 0), (76, 100), (0, 0)]
    assert slots[6:8] == [(0, -128), (0, 0)]
    fc = encode_tile(rows[:1], np.arange(200), unit=1, max_step=255)
    assert unpack(fc["sp_rec"]) == [(2, 7), (3, -3), (145, 100), (0, 0)]
