"""The dense conv's 2x4 GEMM (conv2d_s8.c, mcd_gemm2x4_s8.h, the interleaved im2col of
mcd_im2col_s8.h) and the fc kernel's eight-row pair block (mcd_fc_s8.h) on the edge
shapes of their loops: channel counts with a last row pair and an odd zero partner, tap counts
with and without the leading two-pair step, odd kernel rows (tap-by-tap im2col), padding, a fused
pool; fc inputs of 4, 8 and 12 mod 16 (the steps before the loop), rows past the blocks of eight.
Each net is checked on the host (portable C, by the build) and on the Cortex-M4 build (DSP asm,
Unicorn, by bench_project) against the numpy reference, under both rounding rules."""

import shutil

import numpy as np
import pytest
import torch
from mcudeploy.bench import bench_project
from mcudeploy.codegen.kernels import pack_pairs
from mcudeploy.frontend import export_module
from mcudeploy.pipeline import build_project
from mcudeploy.project import Project
from torch import nn

pytestmark = pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed")

# (c_in, hw, k, stride, pad, c_out, pool): K4 = 4 mod 8 (84, 12), odd kernel rows (c_in 5, 7, 9),
# c_out 1, 3, 5, 6, 7 (pair tails, zero partner), a fused 2x2 and a 3x3 pool
CONV = [(9, 7, 3, 1, 1, 8, False), (12, 6, 1, 1, 1, 7, False), (5, 8, 3, 2, 1, 6, False),
        (7, 9, 3, 1, 0, 5, True), (6, 10, 5, 1, 2, 3, False), (16, 6, 3, 1, 1, 12, True), (8, 5, 3, 1, 1, 1, False)]
# (in_n, out_n): in_n 4 (no step), 8 (one step), 12 (step + group), 16 (a pass), 24, 44; rows 1..9
FC = [(4, 5), (8, 9), (12, 3), (16, 4), (24, 7), (44, 6), (40, 2)]


def _conv_net(c_in, k, stride, pad, c_out, pool):
    layers = [nn.Conv2d(c_in, c_out, k, stride, pad), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool2d(2 if pool is True else pool))
    return nn.Sequential(*layers, nn.Flatten()).eval()


def _check(net, shape, tmp_path, rounding, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((32,) + shape).astype(np.float32)
    res = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / rounding, rounding=rounding)
    for i in range(2):  # raises when the M4 output differs from the reference
        r = bench_project(Project(res.outdir), x[i:i + 1], workdir=tmp_path / f"b{rounding}{i}")
        assert r["bit_exact"]
    return res


@pytest.mark.parametrize("rounding", ["single", "double"])
@pytest.mark.parametrize("case", CONV, ids=[f"c{c[0]}k{c[2]}s{c[3]}o{c[5]}" for c in CONV])
def test_dense_conv_gemm_edges_bit_exact(case, rounding, tmp_path):
    c_in, hw, k, stride, pad, c_out, pool = case
    torch.manual_seed(c_in * 31 + c_out)
    res = _check(_conv_net(c_in, k, stride, pad, c_out, pool), (c_in, hw, hw), tmp_path, rounding, c_out)
    assert "mcd_conv2d_s8(" in (res.outdir / "engine" / "model.c").read_text()  # the kernel under test ran


@pytest.mark.parametrize("rounding", ["single", "double"])
@pytest.mark.parametrize("case", FC, ids=[f"in{c[0]}out{c[1]}" for c in FC])
def test_fc_block_edges_bit_exact(case, rounding, tmp_path):
    in_n, out_n = case
    torch.manual_seed(in_n + out_n)
    _check(nn.Sequential(nn.Linear(in_n, out_n)).eval(), (in_n,), tmp_path, rounding, in_n)


class _ClampConv(nn.Module):
    """conv -> clamp(lo, hi) with lo > 0: the output range starts at 0, so the fused clamp's int8
    act_min is above -128 (the 2x4 GEMM's requantization then takes its clamping instance)."""

    def __init__(self, c_in: int, c_out: int, lo: float | None, hi: float | None):
        super().__init__()
        self.conv, self.lo, self.hi = nn.Conv2d(c_in, c_out, 3, 1, 1), lo, hi

    def forward(self, x):
        y = self.conv(x)
        return torch.flatten(torch.clamp(y, min=self.lo, max=self.hi) if self.lo is not None else y, 1)


@pytest.mark.parametrize("rounding", ["single", "double"])
@pytest.mark.parametrize("c_in,hw,c_out,clamp", [(3, 10, 16, False), (3, 9, 20, True), (16, 6, 8, True)],
                         ids=["first3x3x3", "first_clamp_odd_w", "c16_clamp"])
def test_dense_conv_first_layer_and_clamp_bit_exact(c_in, hw, c_out, clamp, rounding, tmp_path, monkeypatch):
    """IC's first conv shape (3 input channels: kernel rows of 9 taps, so the pair im2col starts on
    the odd half of a pair and ends between words; 16 and 20 outputs: whole blocks of four), the
    pair im2col's inside path and the border path (an odd map width: pairs that straddle rows),
    and the requantization's clamping instance (act_min > -128), on the host and the M4. Such
    first convs now go to mcd_conv2d_few_s8 (tests/test_few_conv_m4.py); the GEMM still runs them
    where its window does not apply (few_ok), so here it is made to."""
    import mcudeploy.codegen.kernels as K
    monkeypatch.setattr(K, "FEW_MIN_C_OUT", 1 << 30)
    torch.manual_seed(c_in * 7 + c_out)
    net = _ClampConv(c_in, c_out, 0.1 if clamp else None, 0.6 if clamp else None).eval()
    res = _check(net, (c_in, hw, hw), tmp_path, rounding, c_out)
    model_c = (res.outdir / "engine" / "model.c").read_text()
    assert "mcd_conv2d_s8(" in model_c
    if clamp:  # mcd_conv_params: ..., in_zp, out_zp, act_min, act_max
        params = [line for line in model_c.splitlines() if "static const mcd_conv_params" in line]
        act_min = int(params[0].split("{")[1].split("}")[0].split(",")[-2])
        assert act_min > -128


def test_pack_pairs_layout():
    """Word by word: (r0[k], r1[k], r0[k+1], r1[k+1]) of pair 0, then pair 1, per tap pair in a
    block of four rows; a last pair after the blocks; an odd last row with a zero partner."""
    w = np.arange(1, 7 * 5 + 1, dtype=np.int8).reshape(7, 5)  # 7 rows, K = 5 -> K4 = 8
    p = pack_pairs(w).reshape(-1, 4)
    assert pack_pairs(w).size == 8 * 8
    assert p[0].tolist() == [w[0, 0], w[1, 0], w[0, 1], w[1, 1]]
    assert p[1].tolist() == [w[2, 0], w[3, 0], w[2, 1], w[3, 1]]
    assert p[2].tolist() == [w[0, 2], w[1, 2], w[0, 3], w[1, 3]]
    assert p[5].tolist() == [w[2, 4], w[3, 4], 0, 0]  # tap 5..7 padding
    assert p[8].tolist() == [w[4, 0], w[5, 0], w[4, 1], w[5, 1]]  # pair (4, 5) alone, at byte 4 * K4
    assert p[12].tolist() == [w[6, 0], 0, w[6, 1], 0]  # row 6 and its zero partner, at byte 6 * K4


class _Residual(nn.Module):
    """conv -> (+ input) [-> ReLU]: an add of n = h * w * c elements (n % 4 = 3 here: the word
    loop and its tail). shared: the conv's output is added once more (+ y), so neither add can be
    fused into the conv (codegen/fuse.py) and both run mcd_add_s8_tab."""

    def __init__(self, c: int, relu: bool, shared: bool = False):
        super().__init__()
        self.conv, self.relu, self.shared = nn.Conv2d(c, c, 3, 1, 1), relu, shared

    def forward(self, x):
        y = self.conv(x)
        z = y + x
        z = torch.relu(z) if self.relu else z
        return z + y if self.shared else z


@pytest.mark.parametrize("rounding", ["single", "double"])
@pytest.mark.parametrize("relu", [False, True])
def test_residual_add_bit_exact(relu, rounding, tmp_path):
    """Without ReLU the add is fused into the conv (mcd_conv2d_s8_add, the skip the graph's input);
    with it the conv output is shared, and the adds run alone from their tables in flash."""
    torch.manual_seed(3)
    res = _check(_Residual(11, relu, shared=relu).eval(), (11, 5, 5), tmp_path, rounding, 3)  # 275 >= MCD_ADD_LUT_MIN
    model_c = (res.outdir / "engine" / "model.c").read_text()
    assert ("mcd_add_s8_tab(" if relu else "mcd_conv2d_s8_add(") in model_c
    assert ("mcd_conv2d_s8_add(" in model_c) != relu


def test_weights_staged_in_sram_without_raising_the_peak(tmp_path):
    """stage_weights marks the dense convs whose weights fit the arena's free memory while they
    run (here the last conv, after a strided one shrank the maps; the first two are at the peak),
    never raising the arena; the staged engine (copy into scratch, fast | 2) equals the reference
    on the host and the M4."""
    from mcudeploy.codegen.kernels import scratch_for, stage_weights
    from mcudeploy.plan import plan

    torch.manual_seed(5)
    net = nn.Sequential(nn.Conv2d(8, 32, 3, 1, 1), nn.ReLU(), nn.Conv2d(32, 16, 3, 2, 1), nn.ReLU(),
                        nn.Conv2d(16, 16, 3, 1, 1), nn.ReLU(), nn.Flatten()).eval()
    res = _check(net, (8, 16, 16), tmp_path, "single", 5)
    g = Project(res.outdir).graph
    staged = [op.name for op in g.ops if op.attrs.get("stage_weights")]
    assert staged and staged == stage_weights(g)
    with_staging = plan(g, scratch=scratch_for(g)).arena_bytes
    for op in g.ops:
        op.attrs.pop("stage_weights", None)
    assert with_staging == plan(g, scratch=scratch_for(g)).arena_bytes  # the copy cost no peak RAM
    model_c = (res.outdir / "engine" / "model.c").read_text()
    fast = [int(line.split("_rq, ")[1].split(",")[0]) for line in model_c.splitlines() if "mcd_conv2d_s8(" in line]
    assert sum(bool(f & 2 or f >> 16) for f in fast) == len(staged)  # into scratch, whole or in blocks


@pytest.mark.parametrize("rounding", ["single", "double"])
def test_weights_staged_in_the_inputs_dead_rows_at_the_peak(rounding, tmp_path):
    """A conv at the arena's peak whose input has no other reader stages its weights into the input
    rows no later output row reads (fast bit 2, stage_in_input_ok: IC's second conv): no byte more
    of arena, and the engine still equals the reference on the host and the M4 (the copy lands in
    the middle of the layer, rows 0.. of the input, after the pixels that read them). The records
    go with the weights (bit 8), and until those rows are dead both are read from a first copy in
    the output's last bytes, which no pixel before then writes (bit 32)."""
    from mcudeploy.codegen.kernels import scratch_for
    from mcudeploy.plan import plan

    torch.manual_seed(11)
    net = nn.Sequential(nn.Conv2d(4, 16, 3, 1, 1), nn.ReLU(), nn.Conv2d(16, 16, 3, 1, 1), nn.ReLU(),
                        nn.Flatten()).eval()
    res = _check(net, (4, 24, 24), tmp_path, rounding, 11)
    g = Project(res.outdir).graph
    convs = [op for op in g.ops if op.kind == "conv2d"]
    assert convs[1].attrs.get("stage_weights") == "input"
    staged = plan(g, scratch=scratch_for(g)).arena_bytes
    convs[1].attrs.pop("stage_weights")
    assert staged == plan(g, scratch=scratch_for(g)).arena_bytes
    # the second conv's call (the first, 4 -> 16 channels, is mcd_conv2d_few_s8's)
    call = [line for line in (res.outdir / "engine" / "model.c").read_text().splitlines() if "mcd_conv2d_s8(" in line][-1]
    assert int(call.split("_rq, ")[1].split(",")[0]) & (4 | 8 | 32) == 4 | 8 | 32  # + the records; first from the output's tail
    assert convs[1].attrs.get("stage_rq") and convs[1].attrs.get("stage_out_tail")

