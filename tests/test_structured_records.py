"""Structured pruning traces ops by their records' channel behaviour (ops.OpRecord.channels):
a squeeze-excite net with Hardswish, a functional hardsigmoid, torch.maximum, a one-slope PReLU,
an upsample and a ConvTranspose2d (none of them special-cased by a list in compress/structured.py
except Hardswish and the upsample) is pruned, stays exact against zeroed channels, and compiles
bit-exact on the host."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from conftest import compile_module, need_cc
from mcudeploy.compress.structured import (
    analyze,
    channel_groups,
    count_macs_params,
    prune_channels,
    select,
    shrink,
)
from torch import nn


class SENet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.act = nn.Hardswish()
        self.se1 = nn.Conv2d(16, 8, 1)
        self.se2 = nn.Conv2d(8, 16, 1)
        self.c2 = nn.Conv2d(16, 16, 3, padding=1)
        self.prelu = nn.PReLU()
        self.down = nn.Conv2d(16, 24, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(24, 12, 2, stride=2)
        self.head = nn.Conv2d(12, 10, 1)

    def forward(self, x):
        x = self.act(self.bn(self.stem(x)))
        s = F.hardsigmoid(self.se2(F.relu(self.se1(x.mean((2, 3), keepdim=True)))))
        x = x * s                                   # squeeze-excite: channel c scales channel c
        x = torch.maximum(self.prelu(self.c2(x)), x)  # ties c2's channels to the stem's
        x = self.up(F.relu(self.down(x)))
        return self.head(x).mean((2, 3))


def _net():
    torch.manual_seed(0)
    net = SENet().eval()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-0.1, 0.1)
        net.bn.running_var.uniform_(0.5, 1.5)
    return net


EX = torch.rand(4, 1, 8, 8)


def test_record_ops_are_traced_not_frozen():
    groups = {tuple(g["producers"]): (g["channels"], g["prunable"]) for g in channel_groups(_net(), EX)}
    assert groups == {("stem", "se2", "c2"): (16, True), ("se1",): (8, True), ("down",): (24, True),
                      ("up",): (12, True), ("head",): (10, False)}


def test_surgery_equals_zeroing_the_removed_channels():
    net = _net()
    an = analyze(net, EX)
    drop = select(an.groups, 0.5)
    zeroed = copy.deepcopy(net)
    with torch.no_grad():
        for name, u in an.uses.items():
            idx = [k for k, i in enumerate(u["out"]) if an.find(i) in drop]
            mod = zeroed.get_submodule(name)
            if u["kind"] == "convt":
                mod.weight[:, idx] = 0
            elif u["kind"] == "bn":  # a zeroed stem filter and bias: BN's output is its shift alone
                mod.weight[idx] = 0
            else:
                mod.weight[idx] = 0
            if mod.bias is not None:
                mod.bias[idx] = 0
    small = shrink(copy.deepcopy(net), an, drop)
    assert count_macs_params(small, EX)["macs"] < 0.5 * count_macs_params(net, EX)["macs"]
    with torch.no_grad():
        torch.testing.assert_close(small(EX), zeroed(EX), rtol=1e-5, atol=1e-5)


def test_pruned_net_compiles_bit_exact(tmp_path):
    need_cc()
    small, plan = prune_channels(_net(), EX, ratio=0.5)
    assert [g["channels_after"] for g in plan["groups"]] == [8, 4, 12, 6, 10]
    x = np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32)
    res = compile_module(small, x, tmp_path / "se")
    assert res.report["host_check"]["bit_exact"] == res.report["host_check"]["samples"] > 0
    assert {"lut", "mul", "minmax", "prelu", "convt"} <= {op.kind for op in res.graph.ops}
