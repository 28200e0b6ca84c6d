"""The op records (mcudeploy/ops) end to end: small nets using each op compile, the host-built
engine equals the numpy reference (compile's own check), the Cortex-M4 build equals it in the
emulated core, and int8 stays close to float. One net per op family, seconds each."""

import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import compile_module
from mcudeploy import reference as R
from mcudeploy.bench import bench_project
from mcudeploy.project import Project
from torch import nn


class Acts(nn.Module):
    """Every table activation, and arithmetic with numbers."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        y = torch.sigmoid(F.hardswish(self.c(x))) * 0.5 + 1.0
        y = F.elu(F.gelu(F.leaky_relu(torch.tanh(y - 0.75), 0.1)) / 0.5)
        return F.silu(self.fc(F.hardsigmoid(y).mean((2, 3))))


class Broadcast(nn.Module):
    """Squeeze-excite (x * s, s N x C x 1 x 1), spatial gates (N x 1 x H x W), broadcast adds."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 8, 3)
        self.se1, self.se2, self.sp = nn.Conv2d(8, 4, 1), nn.Conv2d(4, 8, 1), nn.Conv2d(8, 1, 1)
        self.fc = nn.Linear(8 * 6 * 6, 4)

    def forward(self, x):
        y = F.relu(self.c(x))
        w = F.hardsigmoid(self.se2(F.relu(self.se1(y.mean((2, 3), keepdim=True)))))
        y = y * w
        y = y + self.sp(y)
        y = torch.sigmoid(self.sp(y)) * y
        return self.fc((y + w).flatten(1))


class GroupedDilated(nn.Module):
    """Grouped (2, 4 groups), dilated and dilated-depthwise convs, ceil-mode pools."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(4, 8, 3, groups=2, padding=1)
        self.d = nn.Conv2d(8, 8, 3, dilation=2, padding=2)
        self.dw = nn.Conv2d(8, 8, 3, groups=8, dilation=2, padding=2)
        self.g4 = nn.Conv2d(8, 12, 3, stride=2, groups=4)
        self.fc = nn.Linear(108, 5)

    def forward(self, x):
        y = self.dw(self.d(F.relu(self.c(x))))
        y = F.avg_pool2d(F.max_pool2d(y, 3, 2, ceil_mode=True), 2, 1, padding=1, ceil_mode=True)
        return self.fc(self.g4(y).flatten(1))


class Temporal(nn.Module):
    """Conv1d (plain and dilated), 1-D max/avg pools, a global 1-D average."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv1d(10, 16, 3)
        self.d = nn.Conv1d(16, 16, 3, dilation=2, padding=2)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        y = F.max_pool1d(F.relu(self.c(x)), 2)
        y = F.avg_pool1d(y + F.relu(self.d(y)), 3, 1, 1)
        return self.fc(F.adaptive_avg_pool1d(y, 1).flatten(1))


class Decoder(nn.Module):
    """ConvTranspose2d (k2 s2; k3 s2 with output padding), PReLU, bilinear and nearest x2,
    channel slice, concat, constant pad (non-zero), H/W slicing, channel mean, split, softmax over
    channels, permute."""

    def __init__(self):
        super().__init__()
        self.e = nn.Conv2d(3, 8, 3, 2, 1)
        self.t = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.t3 = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
        self.o = nn.Conv2d(7, 3, 3, padding=1)
        self.pr = nn.PReLU(8)

    def forward(self, x):
        e = self.pr(self.e(x))
        u = F.interpolate(e, scale_factor=2, mode="bilinear")
        v = F.interpolate(e[:, :3], scale_factor=2, mode="nearest")
        y = torch.cat([F.relu(self.t(e)) + self.t3(e), v], 1)
        y = F.pad(y, (1, 0, 0, 1), value=0.25)[:, :, :8, 1:]
        y = self.o(y) + u.mean(1, keepdim=True)
        p, q = y.split([1, 2], dim=1)
        return torch.softmax(torch.cat([q, p], 1), dim=1).permute(0, 1, 3, 2)


class Sequence(nn.Module):
    """transpose of a 1-D signal, chunk, mean over time, softmax over a vector."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv1d(4, 6, 3)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        y = self.c(x).transpose(1, 2)
        a, b = y.chunk(2, dim=1)
        y = torch.cat([(a + b).mean(1), self.c(x).mean(-1)], 1)
        y = torch.maximum(y, torch.minimum(y * 0.5, y.mean(1, keepdim=True)))  # minmax: own scales, broadcast
        return torch.softmax(self.fc(y), -1)


class KernelVariants(nn.Module):
    """Every path of the band kernels (gconv2d_s8.c, convt2d_s8.c): odd channels a group in and
    out, stride 2, dilated depthwise 3x3 and 5x5 (odd taps, odd channels), ConvTranspose k2s2
    (odd outputs) and k4s2p1 (odd inputs), a dilated Conv1d with odd channels, odd pixel counts."""

    def __init__(self):
        super().__init__()
        self.g2 = nn.Conv2d(6, 8, 3, groups=2, padding=1)
        self.g4 = nn.Conv2d(8, 12, 3, stride=2, groups=4)
        self.dw = nn.Conv2d(12, 12, 3, groups=12, dilation=2, padding=2)
        self.pw = nn.Conv2d(12, 7, 1)
        self.dw5 = nn.Conv2d(7, 7, 5, groups=7, dilation=2, padding=4)
        self.t2 = nn.ConvTranspose2d(7, 5, 2, stride=2)
        self.t4 = nn.ConvTranspose2d(5, 4, 4, stride=2, padding=1)
        self.c1 = nn.Conv1d(4, 7, 5, dilation=3, padding=6, groups=1)
        self.fc = nn.Linear(7 * 16, 5)

    def forward(self, x):
        y = self.g4(F.relu(self.g2(x)))
        y = self.dw5(self.pw(F.relu(self.dw(y))))
        y = self.t4(F.relu(self.t2(y)))  # 4 x 16 x 16
        return self.fc(self.c1(y.mean(2)).flatten(1))


NETS = {"variants": (KernelVariants, (6, 9, 9)), "decoder": (Decoder, (3, 8, 8)), "sequence": (Sequence, (4, 10)),"acts": (Acts, (3, 8, 8)), "broadcast": (Broadcast, (3, 8, 8)), "grouped": (GroupedDilated, (4, 12, 12)),
        "temporal": (Temporal, (10, 40))}


def check_net(name: str, tmp_path, m4: bool = True):
    cls, shape = NETS[name]
    torch.manual_seed(0)
    net = cls().eval()
    x = np.random.default_rng(0).standard_normal((48,) + shape).astype(np.float32)
    res = compile_module(net, x, tmp_path / name)
    assert res.report["host_check"]["bit_exact"] == res.report["host_check"]["samples"] > 0
    g = res.graph
    y = R.dequantize_output(g, R.run(g, R.prepare_input(g, x))).reshape(len(x), -1)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy().reshape(len(x), -1)
    span = float(want.max() - want.min())
    assert np.abs(y - want).max() <= 0.1 * span, name  # int8 through a few layers: loose, not exact
    if m4 and shutil.which("arm-none-eabi-gcc"):
        assert bench_project(Project(res.outdir), x[:1])["bit_exact"]
    return res


@pytest.mark.parametrize("name", sorted(NETS))
def test_op_family_bit_exact_host_and_m4(name, tmp_path):
    check_net(name, tmp_path)


def test_mean_without_keepdim_compiles(tmp_path):
    """x.mean((2, 3)) into a Linear crashed in the reference (issue 12)."""
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()).eval()

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.fc = net, nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(self.body(x).mean((2, 3)))

    x = np.random.default_rng(1).standard_normal((16, 3, 8, 8)).astype(np.float32)
    res = compile_module(M().eval(), x, tmp_path / "p")
    assert res.report["host_check"]["bit_exact"] == 16


@pytest.mark.parametrize("name", ["broadcast", "decoder", "sequence"])
def test_record_ops_follow_the_graphs_double_rounding(name, tmp_path):
    """With --rounding double the records' kernels requantize with the double rule (mcd_config.h);
    their references must too, or compile's host check (C against numpy) would differ."""
    from mcudeploy.frontend import export_module
    from mcudeploy.pipeline import build_project

    cls, shape = NETS[name]
    torch.manual_seed(0)
    net = cls().eval()
    x = np.random.default_rng(0).standard_normal((48,) + shape).astype(np.float32)
    res = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / name, rounding="double")
    assert "#define MCD_ROUNDING_DOUBLE 1" in (res.outdir / "engine" / "mcd_config.h").read_text()
    assert res.report["host_check"]["bit_exact"] == res.report["host_check"]["samples"] > 0


@pytest.mark.parametrize("rounding", ["single", "double"])
def test_band_kernels_every_variant_both_roundings_on_m4(rounding, tmp_path):
    """The grouped, dilated-depthwise and transposed kernels (odd channel, tap and pixel counts)
    equal their references on the host and on the emulated Cortex-M4, under both rules."""
    from mcudeploy import ops
    from mcudeploy.frontend import export_module
    from mcudeploy.pipeline import build_project

    cls, shape = NETS["variants"]
    torch.manual_seed(0)
    net = cls().eval()
    x = np.random.default_rng(0).standard_normal((48,) + shape).astype(np.float32)
    res = build_project(export_module(net, torch.from_numpy(x[:1])), x, tmp_path / rounding, rounding=rounding)
    g = res.graph
    kinds = [op.kind for op in g.ops if op.kind in ("gconv2d", "convt")]
    assert kinds.count("gconv2d") == 5 and kinds.count("convt") == 2, kinds
    assert all(ops.variant(g, op) == "fast" for op in g.ops if op.kind in ("gconv2d", "convt"))
    assert res.report["host_check"]["bit_exact"] == res.report["host_check"]["samples"] > 0
    if shutil.which("arm-none-eabi-gcc"):
        assert bench_project(Project(res.outdir), x[:1])["bit_exact"]
