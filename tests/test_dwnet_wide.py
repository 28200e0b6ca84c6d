"""examples/dwnet_wide.py, the over-parameterised start of the budget-pruning benchmark: the model
registry (``train.example_factory``, which ``cached_trained`` and benchmarks/budget_pruning.py use)
accepts it, it exports and compiles to an int8 graph, and the budget penalty's resource model is exact
on it: the estimated arena at a channel mask is the memory planner's arena of the really shrunk model
(the oracle), and the dense peak is twice the narrow dwnet's channels' worth of bytes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mcudeploy import train
from mcudeploy.compress.gates import ChannelGates
from mcudeploy.compress.measure import int8_graph
from mcudeploy.compress.resources import ResourceModel
from mcudeploy.compress.structured import analyze


@pytest.fixture(scope="module")
def wide():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = train.example_factory("dwnet_wide")().eval()
    x = np.random.default_rng(0).random((16, 1, 28, 28), dtype=np.float32)
    an = analyze(model, torch.from_numpy(x[:1]))
    _ep, g, p = int8_graph(model, x)
    yield model, x, an, ResourceModel.build(an, g, p), p
    torch.set_num_threads(threads)


def test_registry_accepts_dwnet_wide_and_it_exports():
    model = train.example_factory("dwnet_wide")().eval()
    x = torch.rand(2, 1, 28, 28)
    assert model(x).shape == (2, 10)
    widths = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups == 1]
    assert widths == [32, 64, 128, 128]  # 2x dwnet's 16, 32, 64, 64
    torch.export.export(model, (x[:1],))


def test_dwnet_wide_dense_arena_is_twice_the_narrow_one(wide):
    """Every activation doubles with the channels, so the planner's peak doubles too."""
    _model, x, _an, rm, p = wide
    torch.manual_seed(0)
    narrow = train.example_factory("dwnet")().eval()
    _ep, _g, pn = int8_graph(narrow, x)
    assert float(rm.arena(torch.ones(len(rm.roots)))) == p.arena_bytes
    assert p.arena_bytes == 2 * pn.arena_bytes, (p.arena_bytes, pn.arena_bytes)


@pytest.mark.parametrize("seed", [0, 1])
def test_dwnet_wide_estimate_is_the_planners_arena_after_shrinking(wide, seed):
    model, x, an, rm, _p = wide
    gates = ChannelGates(model, an, rm)
    h = (torch.rand(len(gates.theta), generator=torch.Generator().manual_seed(seed)) > 0.6).float()
    h[list(gates.keep_one())] = 1.0
    gates.mask = h
    small = gates.shrunk(model)
    assert sum(m.numel() for m in small.parameters()) < sum(m.numel() for m in model.parameters())
    _ep, _g2, p2 = int8_graph(small, x)
    assert float(rm.arena(h)) == p2.arena_bytes
